-- +goose Up
-- One payment per order. A row is written before the provider is called
-- (PENDING, with the charge's idempotency key), so after a crash or an
-- unknown outcome the service knows a charge may exist and asks the
-- provider by key instead of charging again.
CREATE TABLE payments (
    order_id           text        PRIMARY KEY CHECK (order_id <> ''),
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    currency           text        NOT NULL CHECK (char_length(currency) = 3),
    status             text        NOT NULL CHECK (status IN
                           ('PENDING', 'SUCCEEDED', 'DECLINED', 'FAILED', 'REFUND_PENDING', 'REFUNDED')),
    charge_key         text        NOT NULL UNIQUE,
    provider_charge_id text        UNIQUE,
    decline_reason     text,
    failure_reason     text,
    refund_key         text        UNIQUE,
    provider_refund_id text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- +goose Down
DROP TABLE payments;
