package stack

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// postgresPassword is the stack's database superuser's password.
const postgresPassword = "postgres-e2e"

// Shipments returns the shipping service's shipments of orderIDs, read from
// its database: status (CREATED, CANCELLED) by order id, absent when an
// order has none.
func (s *Stack) Shipments(ctx context.Context, orderIDs []string) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@%s/shipping?sslmode=disable", postgresPassword, s.PostgresAddr))
	if err != nil {
		return nil, fmt.Errorf("connect to the shipping database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT order_id, status FROM shipments WHERE order_id = ANY($1)`, orderIDs)
	if err != nil {
		return nil, fmt.Errorf("read shipments: %w", err)
	}
	out := map[string]string{}
	var id, status string
	_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error { out[id] = status; return nil })
	if err != nil {
		return nil, fmt.Errorf("read shipments: %w", err)
	}
	return out, nil
}
