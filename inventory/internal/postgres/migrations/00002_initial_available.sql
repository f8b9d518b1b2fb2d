-- The stock a product was created with, which CreateProduct compares a
-- repeated create with: available itself moves with every reservation, so
-- it cannot tell a retry from a clash.

-- +goose Up
ALTER TABLE products ADD COLUMN initial_available bigint;
-- Rows from before this migration: their stock now is the best guess.
UPDATE products SET initial_available = available;
ALTER TABLE products ALTER COLUMN initial_available SET NOT NULL;

-- +goose Down
ALTER TABLE products DROP COLUMN initial_available;
