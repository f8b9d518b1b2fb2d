-- +goose Up
-- A payment token is a credential to charge the customer; an order forgets
-- it once it was charged or settled without a charge (order.TokenSpent,
-- applied by every Update since). This forgets those stored before.
UPDATE orders SET payment_token = ''
WHERE payment_token <> ''
  AND (status IN ('CONFIRMED', 'REJECTED', 'PAYMENT_DECLINED', 'CANCELLED', 'PAYMENT_FAILED')
       OR EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = orders.id AND e.step = 'charged'));

-- +goose Down
-- Forgotten tokens cannot come back.
SELECT 1;
