// Package postgres is payment's Postgres store: the payments table, one row
// per order, and its embedded migrations (applied by
// platform/postgres.Open under an advisory lock).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema as goose SQL migrations at the root of the
// file system, as pkg/platform/postgres.Open expects them.
func Migrations() fs.FS {
	// fs.Sub fails only for an invalid path, and this one is a constant.
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// Store is a payment.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ payment.Store = (*Store)(nil)

// New returns a Store on pool, whose database has Migrations applied.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	return &Store{pool: pool}, nil
}

// columns are read in this order by scan.
const columns = `order_id, amount_minor, currency, status, charge_key,
	coalesce(provider_charge_id, ''), coalesce(decline_reason, ''), coalesce(failure_reason, ''),
	coalesce(refund_key, ''), coalesce(provider_refund_id, ''), created_at, updated_at`

func scan(row pgx.Row) (payment.Payment, error) {
	var p payment.Payment
	err := row.Scan(&p.OrderID, &p.Amount.Minor, &p.Amount.Currency, &p.Status, &p.ChargeKey,
		&p.ProviderChargeID, &p.DeclineReason, &p.FailureReason,
		&p.RefundKey, &p.ProviderRefundID, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// Create implements payment.Store.
func (s *Store) Create(ctx context.Context, p payment.Payment) (payment.Payment, bool, error) {
	if p.OrderID == "" {
		return payment.Payment{}, false, apperr.New(apperr.Invalid, "payment without an order id")
	}
	// ON CONFLICT DO NOTHING: of concurrent attempts for one order, exactly
	// one inserts; the others read the row it wrote. No conflict target:
	// the racing inserts may collide on charge_key's unique index as well
	// as on the primary key.
	stored, err := scan(s.pool.QueryRow(ctx, `
		INSERT INTO payments (order_id, amount_minor, currency, status, charge_key,
			provider_charge_id, decline_reason, failure_reason, refund_key, provider_refund_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), nullif($8, ''), nullif($9, ''), nullif($10, ''), $11, $12)
		ON CONFLICT DO NOTHING
		RETURNING `+columns,
		p.OrderID, p.Amount.Minor, p.Amount.Currency, p.Status, p.ChargeKey,
		p.ProviderChargeID, p.DeclineReason, p.FailureReason, p.RefundKey, p.ProviderRefundID, p.CreatedAt, p.UpdatedAt))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return payment.Payment{}, false, fmt.Errorf("insert payment of order %s: %w", p.OrderID, err)
	}
	// The row existed; rows are never deleted, so it is there to read.
	stored, err = s.Get(ctx, p.OrderID)
	if apperr.CodeOf(err) == apperr.NotFound {
		// No row for this order: the conflict was another order's row
		// holding the same charge key, which a derived key cannot produce.
		return payment.Payment{}, false, apperr.New(apperr.Conflict, "charge key %q of order %s is already used by another payment", p.ChargeKey, p.OrderID)
	}
	return stored, false, err
}

// Get implements payment.Store.
func (s *Store) Get(ctx context.Context, orderID string) (payment.Payment, error) {
	p, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM payments WHERE order_id = $1`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return payment.Payment{}, apperr.New(apperr.NotFound, "no payment for order %s", orderID)
	}
	if err != nil {
		return payment.Payment{}, fmt.Errorf("select payment of order %s: %w", orderID, err)
	}
	return p, nil
}

// Update implements payment.Store. The status in the WHERE clause makes it
// a compare-and-set: of two replicas settling one attempt, one wins.
func (s *Store) Update(ctx context.Context, p payment.Payment, from payment.Status) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE payments SET status = $3,
			provider_charge_id = nullif($4, ''), decline_reason = nullif($5, ''), failure_reason = nullif($6, ''),
			refund_key = nullif($7, ''), provider_refund_id = nullif($8, ''), updated_at = $9
		WHERE order_id = $1 AND status = $2`,
		p.OrderID, from, p.Status,
		p.ProviderChargeID, p.DeclineReason, p.FailureReason, p.RefundKey, p.ProviderRefundID, p.UpdatedAt)
	if err != nil {
		return fmt.Errorf("update payment of order %s: %w", p.OrderID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	cur, err := s.Get(ctx, p.OrderID)
	if err != nil {
		return err
	}
	return apperr.New(apperr.Aborted, "payment of order %s is %s, not %s", p.OrderID, cur.Status, from)
}
