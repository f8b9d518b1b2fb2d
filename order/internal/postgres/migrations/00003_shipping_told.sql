-- +goose Up
-- The status the shipping service was last told of ('' for none); the
-- shipping relay tells it of every CONFIRMED or CANCELLED order whose
-- status differs (order/internal/order/shipping.go). Orders that ended
-- before shipping existed are not its business: they count as told.
ALTER TABLE orders ADD COLUMN shipping_told text NOT NULL DEFAULT ''
    CHECK (shipping_told IN ('', 'CONFIRMED', 'CANCELLED'));
UPDATE orders SET shipping_told = status WHERE status IN ('CONFIRMED', 'CANCELLED');
-- ListUntold: the relay's queue, least recently updated first.
CREATE INDEX orders_untold ON orders (updated_at, id)
    WHERE status IN ('CONFIRMED', 'CANCELLED') AND shipping_told <> status;

-- +goose Down
DROP INDEX orders_untold;
ALTER TABLE orders DROP COLUMN shipping_told;
