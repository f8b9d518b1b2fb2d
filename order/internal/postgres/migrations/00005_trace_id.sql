-- +goose Up
-- The trace of the request that placed the order, so an operator can go
-- from a parked order to its spans; '' for orders placed before it was kept.
ALTER TABLE orders ADD COLUMN trace_id text NOT NULL DEFAULT ''
    CHECK (trace_id = '' OR trace_id ~ '^[0-9a-f]{32}$');

-- +goose Down
ALTER TABLE orders DROP COLUMN trace_id;
