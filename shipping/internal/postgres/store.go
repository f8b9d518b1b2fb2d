// Package postgres is shipping's Postgres store: the shipments table, one
// row per order, and its embedded migrations (applied by
// platform/postgres.Open under an advisory lock).
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
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

// Store is a shipping.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ shipping.Store = (*Store)(nil)

// New returns a Store on pool, whose database has Migrations applied.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	return &Store{pool: pool}, nil
}

// item is an Item as stored in the items column.
type item struct {
	ProductID string `json:"product_id"`
	Quantity  int32  `json:"quantity"`
}

// columns are read in this order by scan.
const columns = `order_id, customer_id, status, items, created_at, updated_at`

func scan(row pgx.Row) (shipping.Shipment, error) {
	var (
		sh     shipping.Shipment
		status string
		items  []item
	)
	if err := row.Scan(&sh.OrderID, &sh.CustomerID, &status, &items, &sh.CreatedAt, &sh.UpdatedAt); err != nil {
		return shipping.Shipment{}, err
	}
	var err error
	if sh.Status, err = shipping.ParseStatus(status); err != nil {
		return shipping.Shipment{}, err
	}
	for _, it := range items {
		sh.Items = append(sh.Items, shipping.Item{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	sh.CreatedAt, sh.UpdatedAt = sh.CreatedAt.UTC(), sh.UpdatedAt.UTC()
	return sh, nil
}

// Create implements shipping.Store.
func (s *Store) Create(ctx context.Context, sh shipping.Shipment) (shipping.Shipment, bool, error) {
	items := make([]item, len(sh.Items))
	for i, it := range sh.Items {
		items[i] = item{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	doc, err := json.Marshal(items)
	if err != nil {
		return shipping.Shipment{}, false, err
	}
	stored, err := scan(s.pool.QueryRow(ctx, `
		INSERT INTO shipments (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (order_id) DO NOTHING
		RETURNING `+columns,
		sh.OrderID, sh.CustomerID, sh.Status.String(), doc, sh.CreatedAt, sh.UpdatedAt))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return shipping.Shipment{}, false, fmt.Errorf("insert shipment: %w", err)
	}
	// The order has one already; it is never deleted, so it is there.
	stored, err = s.Get(ctx, sh.OrderID)
	return stored, false, err
}

// Cancel implements shipping.Store.
func (s *Store) Cancel(ctx context.Context, orderID string, at time.Time) (shipping.Shipment, error) {
	sh, err := scan(s.pool.QueryRow(ctx, `
		INSERT INTO shipments (`+columns+`) VALUES ($1, '', 'CANCELLED', '[]', $2, $2)
		ON CONFLICT (order_id) DO UPDATE SET
			status = 'CANCELLED',
			updated_at = CASE WHEN shipments.status = 'CANCELLED' THEN shipments.updated_at ELSE EXCLUDED.updated_at END
		RETURNING `+columns, orderID, at))
	if err != nil {
		return shipping.Shipment{}, fmt.Errorf("cancel shipment: %w", err)
	}
	return sh, nil
}

// Get implements shipping.Store.
func (s *Store) Get(ctx context.Context, orderID string) (shipping.Shipment, error) {
	sh, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM shipments WHERE order_id = $1`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return shipping.Shipment{}, apperr.New(apperr.NotFound, "no shipment for order %s", orderID)
	}
	if err != nil {
		return shipping.Shipment{}, fmt.Errorf("get shipment: %w", err)
	}
	return sh, nil
}
