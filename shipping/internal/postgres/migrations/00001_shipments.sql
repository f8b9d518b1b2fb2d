-- +goose Up
-- One shipment per order. A shipment cancelled before it was created has
-- no items: it is there so that a late CreateShipment cannot ship it.
CREATE TABLE shipments (
    order_id    text        PRIMARY KEY CHECK (order_id <> ''),
    customer_id text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('CREATED', 'CANCELLED')),
    -- [{"product_id": "p-1", "quantity": 2}, ...]: read and written whole.
    items       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE shipments;
