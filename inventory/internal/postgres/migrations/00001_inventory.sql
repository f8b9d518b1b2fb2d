-- The catalog, its stock, and the reservations held for orders.
-- The seed catalog is not here: the service inserts it at start-up with
-- ON CONFLICT DO NOTHING (see Store.Seed), so test databases start empty.

-- +goose Up
-- Ids sort bytewise (COLLATE "C"), as Go compares strings, so paging by
-- "ids after X" gives the same pages as the in-memory store, whatever the
-- server's locale.
CREATE TABLE products (
    id          text COLLATE "C" PRIMARY KEY,
    name        text    NOT NULL,
    price_minor bigint  NOT NULL CHECK (price_minor >= 0),
    currency    char(3) NOT NULL,
    -- The last line of defence against overselling: no transaction can
    -- commit a negative stock, whatever the code above it does.
    available   bigint  NOT NULL CHECK (available >= 0)
);

-- One row per order id, also for an order released before it reserved (a
-- tombstone without lines), so a late Reserve cannot hold stock again.
CREATE TABLE reservations (
    order_id       text PRIMARY KEY,
    state          text NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    total_minor    bigint  NOT NULL DEFAULT 0,
    total_currency char(3),           -- NULL for a tombstone
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz,       -- NULL for a tombstone; read only while reserved
    updated_at     timestamptz NOT NULL
);

-- The sweeper's query: still reserved, oldest expiry first.
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE state = 'reserved';

CREATE TABLE reservation_lines (
    order_id         text    NOT NULL REFERENCES reservations (order_id),
    line_no          integer NOT NULL, -- the position in the request, so a repeat answers in the same order
    product_id       text COLLATE "C" NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL,
    currency         char(3) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- +goose Down
DROP TABLE reservation_lines;
DROP TABLE reservations;
DROP TABLE products;
