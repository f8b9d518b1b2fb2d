-- +goose Up
-- The order's state machine (order/internal/order/status.go): cancellations
-- under way, refusals of the charge, and orders parked for an operator.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'PENDING', 'CONFIRMED', 'REJECTED', 'PAYMENT_DECLINED', 'CANCELLED',
    'PAYMENT_FAILED', 'CANCELLING', 'NEEDS_ATTENTION'));
-- Why a NEEDS_ATTENTION order was parked.
ALTER TABLE orders ADD COLUMN attention text NOT NULL DEFAULT '';
-- Runs of the saga that stopped short, and when recovery may try again.
ALTER TABLE orders ADD COLUMN attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE orders ADD COLUMN next_attempt_at timestamptz;

-- ClaimStale looks at the work under way, least recently updated first.
DROP INDEX orders_pending;
CREATE INDEX orders_in_flight ON orders (updated_at, id) WHERE status IN ('PENDING', 'CANCELLING');
-- ListByStatus of the parked orders, for the operators' list.
CREATE INDEX orders_parked ON orders (updated_at, id) WHERE status = 'NEEDS_ATTENTION';

-- +goose Down
DROP INDEX orders_parked;
DROP INDEX orders_in_flight;
CREATE INDEX orders_pending ON orders (updated_at, id) WHERE status = 'PENDING';
ALTER TABLE orders DROP COLUMN next_attempt_at;
ALTER TABLE orders DROP COLUMN attempts;
ALTER TABLE orders DROP COLUMN attention;
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'PAYMENT_DECLINED', 'CANCELLED'));
