-- +goose Up
-- One row per order; the saga's state is status plus the recorded history.
CREATE TABLE orders (
    id              text        PRIMARY KEY,
    customer_id     text        NOT NULL,
    idempotency_key text        NOT NULL,
    -- Tells a retry (same body) from a reused key (another body).
    request_hash    text        NOT NULL,
    payment_token   text        NOT NULL,
    status          text        NOT NULL
        CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'PAYMENT_DECLINED', 'CANCELLED')),
    reason          text        NOT NULL DEFAULT '',
    -- The priced total, fixed when the reservation is recorded: the amount
    -- charged, in integer minor units.
    total_minor     bigint      NOT NULL DEFAULT 0 CHECK (total_minor >= 0),
    currency        text        NOT NULL DEFAULT '',
    -- End of the claim of the run driving a PENDING order; NULL when none.
    claimed_until   timestamptz,
    -- Optimistic concurrency: every change is UPDATE ... WHERE version = $old.
    version         bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (customer_id, idempotency_key)
);

-- ListByCustomer: newest first, keyset pagination on (created_at, id).
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, id DESC);
-- ClaimStale looks at PENDING orders only, least recently updated first.
CREATE INDEX orders_pending ON orders (updated_at, id) WHERE status = 'PENDING';

-- What the customer asked for; written once, by Create.
CREATE TABLE order_items (
    order_id   text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position   int  NOT NULL,
    product_id text NOT NULL,
    quantity   int  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, position)
);

-- The lines as inventory priced them at reservation time.
CREATE TABLE order_lines (
    order_id         text   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         int    NOT NULL,
    product_id       text   NOT NULL,
    quantity         int    NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    currency         text   NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Every recorded step of an order, append-only.
CREATE TABLE order_events (
    order_id text        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    seq      int         NOT NULL,
    at       timestamptz NOT NULL,
    step     text        NOT NULL,
    detail   text        NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, seq)
);

-- +goose Down
DROP TABLE order_events;
DROP TABLE order_lines;
DROP TABLE order_items;
DROP TABLE orders;
