// Package postgres is inventory's Postgres adapter: an inventory.Store and
// inventory.Expirer over a pgx pool, with its schema embedded as goose
// migrations (applied by pkg/platform/postgres.Open).
//
// Overselling is prevented in three layers. Every transaction that moves
// stock first locks the product rows it touches, in product id order (the
// one lock order that makes deadlocks impossible), and checks the stock it
// then reads, which no one else can change until it commits. The UPDATE
// that takes the stock repeats the check in its WHERE clause. And the
// products table has CHECK (available >= 0), so no transaction can commit
// a negative stock whatever the code above it does.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema as goose SQL migrations at the root of the
// file system, as pkg/platform/postgres.Open expects them.
func Migrations() fs.FS {
	// fs.Sub fails only for an invalid path, and this one is a constant.
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Reservation states as stored.
const (
	stateReserved  = "reserved"
	stateCommitted = "committed"
	stateReleased  = "released"
)

// Store is the Postgres inventory.Store and inventory.Expirer.
type Store struct {
	pool *pgxpool.Pool
	ttl  time.Duration
	now  func() time.Time
}

var (
	_ inventory.Store   = (*Store)(nil)
	_ inventory.Expirer = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long a reservation stays Reserved before it expires
// (default inventory.DefaultReservationTTL).
func WithTTL(d time.Duration) Option {
	return func(s *Store) { s.ttl = d }
}

// WithClock sets the clock that stamps reservations (default time.Now).
// Expiry is decided by this clock and the one the sweeper passes to
// ReleaseExpired, both the service's; replicas' clocks may differ by the
// seconds NTP allows, which is nothing next to a TTL of minutes.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store over pool, whose schema must be migrated already.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("inventory postgres: nil pool")
	}
	s := &Store{pool: pool, ttl: inventory.DefaultReservationTTL, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.ttl <= 0 {
		return nil, fmt.Errorf("inventory postgres: reservation TTL %v: must be positive", s.ttl)
	}
	if s.now == nil {
		return nil, errors.New("inventory postgres: nil clock")
	}
	return s, nil
}

// Seed inserts the products that do not exist yet and leaves existing ones
// (and their stock) alone, so every replica can seed at every start.
func (s *Store) Seed(ctx context.Context, products []inventory.Product) error {
	ids := make([]string, len(products))
	names := make([]string, len(products))
	prices := make([]int64, len(products))
	currencies := make([]string, len(products))
	available := make([]int64, len(products))
	for i, p := range products {
		ids[i], names[i], prices[i], currencies[i], available[i] = p.ID, p.Name, p.Price.Minor, p.Price.Currency, p.Available
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO products (id, name, price_minor, currency, available, initial_available)
		SELECT id, name, price, currency, available, available
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS p(id, name, price, currency, available)
		ON CONFLICT (id) DO NOTHING`,
		ids, names, prices, currencies, available)
	if err != nil {
		return fmt.Errorf("seed products: %w", err)
	}
	return nil
}

const productColumns = `id, name, price_minor, currency::text, available`

func scanProduct(row pgx.CollectableRow) (inventory.Product, error) {
	var p inventory.Product
	err := row.Scan(&p.ID, &p.Name, &p.Price.Minor, &p.Price.Currency, &p.Available)
	return p, err
}

// ListProducts implements inventory.Store.
func (s *Store) ListProducts(ctx context.Context, after string, limit int) ([]inventory.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id > $1 ORDER BY id LIMIT $2`, after, max(limit, 0))
	if err != nil {
		return nil, dbErr(err, "list products")
	}
	products, err := pgx.CollectRows(rows, scanProduct)
	if err != nil {
		return nil, dbErr(err, "list products")
	}
	return products, nil
}

// GetProduct implements inventory.Store.
func (s *Store) GetProduct(ctx context.Context, id string) (inventory.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id)
	if err != nil {
		return inventory.Product{}, dbErr(err, "get product %s", id)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProduct)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.Product{}, apperr.New(apperr.NotFound, "product %s not found", id)
	}
	if err != nil {
		return inventory.Product{}, dbErr(err, "get product %s", id)
	}
	return p, nil
}

// CreateProduct implements inventory.Store. ON CONFLICT DO NOTHING makes
// a concurrent create of the same id wait for the first to commit and then
// find its row, so exactly one create inserts and the others compare.
func (s *Store) CreateProduct(ctx context.Context, p inventory.Product) (inventory.Product, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO products (id, name, price_minor, currency, available, initial_available)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (id) DO NOTHING`,
		p.ID, p.Name, p.Price.Minor, p.Price.Currency, p.Available)
	if err != nil {
		return inventory.Product{}, dbErr(err, "create product %s", p.ID)
	}
	if tag.RowsAffected() == 1 {
		return p, nil
	}
	// The id is taken, and products are never deleted: the row is there.
	var old inventory.Product
	var initial int64
	err = s.pool.QueryRow(ctx, `SELECT `+productColumns+`, initial_available FROM products WHERE id = $1`, p.ID).
		Scan(&old.ID, &old.Name, &old.Price.Minor, &old.Price.Currency, &old.Available, &initial)
	if err != nil {
		return inventory.Product{}, dbErr(err, "create product %s: read existing", p.ID)
	}
	if old.Name != p.Name || old.Price != p.Price || initial != p.Available {
		return inventory.Product{}, apperr.New(apperr.Conflict, "product %s exists with other fields", p.ID)
	}
	return old, nil
}

// SetStock implements inventory.Store. The UPDATE takes the product's row
// lock, the one Reserve and Release take before they move stock, so it
// waits for a reservation in flight and the next one reads the new count;
// it sets available, the count not held by reservations, not the total.
func (s *Store) SetStock(ctx context.Context, id string, available int64) (inventory.Product, error) {
	rows, err := s.pool.Query(ctx, `UPDATE products SET available = $2 WHERE id = $1 RETURNING `+productColumns, id, available)
	if err != nil {
		return inventory.Product{}, dbErr(err, "set stock of product %s", id)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProduct)
	if errors.Is(err, pgx.ErrNoRows) {
		return inventory.Product{}, apperr.New(apperr.NotFound, "product %s not found", id)
	}
	if err != nil {
		return inventory.Product{}, dbErr(err, "set stock of product %s", id)
	}
	return p, nil
}

// Reserve implements inventory.Store in one transaction of four round
// trips: begin; the claim and the products' locks; the stock, lines and
// total; commit.
func (s *Store) Reserve(ctx context.Context, orderID string, items []inventory.Item) (inventory.Reservation, error) {
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ProductID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var r inventory.Reservation
	err := platformpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			claimed bool
			locked  []inventory.Product
		)
		now := s.now()
		b := &pgx.Batch{}
		// Claim the order id first. A concurrent Reserve or Release of the
		// same order waits here until this transaction ends, and then sees
		// its outcome: one reservation per order, whatever the timing.
		b.Queue(`
			INSERT INTO reservations (order_id, state, created_at, expires_at, updated_at)
			VALUES ($1, 'reserved', $2, $3, $2)
			ON CONFLICT (order_id) DO NOTHING`,
			orderID, now, now.Add(s.ttl)).Exec(func(tag pgconn.CommandTag) error {
			claimed = tag.RowsAffected() == 1
			return nil
		})
		// Lock in id order (ORDER BY sits below the row locking in the
		// plan, so rows are locked as sorted). NO KEY UPDATE is the lock an
		// UPDATE of non-key columns takes; unlike FOR UPDATE it does not
		// block the foreign-key checks of reservation lines that merely
		// point at a row. Pipelined with the claim: a repeat locks them too,
		// for the moment its transaction lasts.
		b.Queue(`SELECT `+productColumns+` FROM products WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids).
			Query(func(rows pgx.Rows) error {
				var err error
				locked, err = pgx.CollectRows(rows, scanProduct)
				return err
			})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return dbErr(err, "reserve order %s: claim it and lock its products", orderID)
		}
		if !claimed {
			// A repeat (or an order released before it reserved): answer
			// what is stored, take no stock, and hold a reservation that
			// is still held for another TTL.
			if _, err := tx.Exec(ctx, `UPDATE reservations SET expires_at = $2, updated_at = $3
				WHERE order_id = $1 AND state = 'reserved'`, orderID, now.Add(s.ttl), now); err != nil {
				return dbErr(err, "renew the reservation of order %s", orderID)
			}
			var err error
			r, err = loadReservation(ctx, tx, orderID)
			return err
		}
		var err error
		r, err = takeStock(ctx, tx, orderID, items, ids, locked)
		return err
	})
	if err != nil {
		return inventory.Reservation{}, err
	}
	return r, nil
}

// takeStock holds every item for the reservation just inserted, from the
// products ids (sorted, each once) that the caller has locked, or fails
// with a domain error, which rolls the whole transaction back.
func takeStock(ctx context.Context, tx pgx.Tx, orderID string, items []inventory.Item, ids []string, locked []inventory.Product) (inventory.Reservation, error) {
	products := make(map[string]inventory.Product, len(locked))
	for _, p := range locked {
		products[p.ID] = p
	}

	a, err := inventory.Allocate(items, products)
	if err != nil {
		return inventory.Reservation{}, err
	}

	// The rows are locked and checked; the WHERE says it again, so a bug
	// above shows up as a failed reservation and never as an oversale.
	qtys := make([]int64, len(ids))
	for i, id := range ids {
		qtys[i] = a.Take[id]
	}
	lineNos := make([]int32, len(a.Lines))
	lineIDs := make([]string, len(a.Lines))
	lineQtys := make([]int32, len(a.Lines))
	prices := make([]int64, len(a.Lines))
	currencies := make([]string, len(a.Lines))
	for i, l := range a.Lines {
		lineNos[i], lineIDs[i], lineQtys[i], prices[i], currencies[i] = int32(i), l.ProductID, l.Quantity, l.UnitPrice.Minor, l.UnitPrice.Currency
	}
	// The stock, the lines and the total go in one round trip.
	b := &pgx.Batch{}
	b.Queue(`
		UPDATE products AS p SET available = p.available - r.qty
		FROM unnest($1::text[], $2::bigint[]) AS r(id, qty)
		WHERE p.id = r.id AND p.available >= r.qty`,
		ids, qtys).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != int64(len(ids)) {
			return fmt.Errorf("stock of %d products changed under lock, %d taken", len(ids), tag.RowsAffected())
		}
		return nil
	})
	b.Queue(`
		INSERT INTO reservation_lines (order_id, line_no, product_id, quantity, unit_price_minor, currency)
		SELECT $1, l.no, l.product_id, l.quantity, l.price, l.currency
		FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[], $6::text[]) AS l(no, product_id, quantity, price, currency)`,
		orderID, lineNos, lineIDs, lineQtys, prices, currencies)
	b.Queue(`UPDATE reservations SET total_minor = $2, total_currency = NULLIF($3, '') WHERE order_id = $1`,
		orderID, a.Total.Minor, a.Total.Currency)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return inventory.Reservation{}, dbErr(err, "reserve order %s: take stock, record lines and total", orderID)
	}
	return inventory.Reservation{OrderID: orderID, Lines: a.Lines, Total: a.Total, State: inventory.Reserved}, nil
}

// Commit implements inventory.Store. A reservation past its expiry that the
// sweeper has not released yet still commits: its stock is still held.
//
// The common case, a held reservation, is one round trip: the conditional
// UPDATE and the read of its lines, pipelined in one implicit transaction.
// The UPDATE waits for a concurrent Release or sweep that locked the row and
// then sees what it did, so whichever comes second sees the first's outcome.
func (s *Store) Commit(ctx context.Context, orderID string) (inventory.Reservation, error) {
	r := inventory.Reservation{OrderID: orderID, State: inventory.Committed}
	held := false
	b := &pgx.Batch{}
	b.Queue(`UPDATE reservations SET state = 'committed', updated_at = $2 WHERE order_id = $1 AND state = 'reserved'
		RETURNING total_minor, coalesce(total_currency::text, '')`, orderID, s.now()).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&r.Total.Minor, &r.Total.Currency}, func() error {
			held = true
			return nil
		})
		return err
	})
	queueLines(b, orderID, &r.Lines)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return inventory.Reservation{}, dbErr(err, "commit order %s", orderID)
	}
	if held {
		return r, nil
	}
	// Not held: committed before (a repeat), released, or never reserved.
	// A reservation that has left "reserved" never returns to it.
	r, err := loadReservation(ctx, s.pool, orderID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.State == inventory.Released) {
		return inventory.Reservation{}, apperr.New(apperr.FailedPrecondition, "order %s holds no reservation to commit", orderID).
			WithReason(inventory.ReasonNotReserved, "order_id", orderID)
	}
	if err != nil {
		return inventory.Reservation{}, err
	}
	return r, nil
}

// Release implements inventory.Store.
func (s *Store) Release(ctx context.Context, orderID string) (inventory.Reservation, error) {
	var r inventory.Reservation
	err := platformpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// An order that never reserved gets a released row without lines,
		// so a late Reserve for it (a retry that lost the race with
		// compensation) finds it and holds no stock that nobody releases.
		now := s.now()
		tag, err := tx.Exec(ctx, `
			INSERT INTO reservations (order_id, state, created_at, updated_at)
			VALUES ($1, 'released', $2, $2)
			ON CONFLICT (order_id) DO NOTHING`,
			orderID, now)
		if err != nil {
			return dbErr(err, "release order %s", orderID)
		}
		if tag.RowsAffected() == 1 {
			r = inventory.Reservation{OrderID: orderID, State: inventory.Released}
			return nil
		}
		// The row lock makes the state check and the restock one step:
		// two Releases (or a Release and a sweep) return the stock once.
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM reservations WHERE order_id = $1 FOR NO KEY UPDATE`, orderID).Scan(&state); err != nil {
			return dbErr(err, "release order %s", orderID)
		}
		if state != stateReleased {
			if err := restock(ctx, tx, []string{orderID}, now); err != nil {
				return fmt.Errorf("release order %s: %w", orderID, err)
			}
		}
		r, err = loadReservation(ctx, tx, orderID)
		return err
	})
	if err != nil {
		return inventory.Reservation{}, err
	}
	return r, nil
}

// ReleaseExpired implements inventory.Expirer. SKIP LOCKED lets sweepers
// of several replicas work side by side: each takes a batch nobody else
// holds, and a reservation a concurrent Commit or Release has locked is
// left to that transaction (and to the next sweep, if still reserved).
func (s *Store) ReleaseExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var released int
	err := platformpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT order_id FROM reservations
			WHERE state = 'reserved' AND expires_at <= $1
			ORDER BY expires_at, order_id
			LIMIT $2
			FOR NO KEY UPDATE SKIP LOCKED`,
			now, limit)
		if err != nil {
			return dbErr(err, "find expired reservations")
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr(err, "find expired reservations")
		}
		if len(ids) == 0 {
			return nil
		}
		if err := restock(ctx, tx, ids, s.now()); err != nil {
			return fmt.Errorf("release %d expired reservations: %w", len(ids), err)
		}
		released = len(ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return released, nil
}

// restock returns the stock of the reservations orderIDs, which the caller
// has locked and found not released, and marks them released.
func restock(ctx context.Context, tx pgx.Tx, orderIDs []string, now time.Time) error {
	// Products in id order, as Reserve locks them: no lock cycles.
	if _, err := tx.Exec(ctx, `
		SELECT id FROM products
		WHERE id IN (SELECT product_id FROM reservation_lines WHERE order_id = ANY($1))
		ORDER BY id FOR NO KEY UPDATE`, orderIDs); err != nil {
		return dbErr(err, "lock products")
	}
	if _, err := tx.Exec(ctx, `
		UPDATE products AS p SET available = p.available + l.qty
		FROM (SELECT product_id, sum(quantity) AS qty FROM reservation_lines
		      WHERE order_id = ANY($1) GROUP BY product_id) AS l
		WHERE p.id = l.product_id`, orderIDs); err != nil {
		return dbErr(err, "return stock")
	}
	if _, err := tx.Exec(ctx, `UPDATE reservations SET state = 'released', updated_at = $2 WHERE order_id = ANY($1)`, orderIDs, now); err != nil {
		return dbErr(err, "mark released")
	}
	return nil
}

// querier is what loadReservation reads through: a transaction or the pool.
type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// loadReservation reads a stored reservation with its lines in request
// order, in one round trip.
func loadReservation(ctx context.Context, q querier, orderID string) (inventory.Reservation, error) {
	r := inventory.Reservation{OrderID: orderID}
	var state string
	b := &pgx.Batch{}
	b.Queue(`SELECT state, total_minor, coalesce(total_currency::text, '') FROM reservations WHERE order_id = $1`, orderID).
		QueryRow(func(row pgx.Row) error { return row.Scan(&state, &r.Total.Minor, &r.Total.Currency) })
	queueLines(b, orderID, &r.Lines)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return inventory.Reservation{}, dbErr(err, "load reservation of order %s", orderID)
	}
	switch state {
	case stateReserved:
		r.State = inventory.Reserved
	case stateCommitted:
		r.State = inventory.Committed
	case stateReleased:
		r.State = inventory.Released
	default:
		return inventory.Reservation{}, fmt.Errorf("load reservation of order %s: unknown state %q", orderID, state)
	}
	return r, nil
}

// queueLines adds the read of orderID's reservation lines, in request
// order, into lines to b.
func queueLines(b *pgx.Batch, orderID string, lines *[]inventory.Line) {
	b.Queue(`
		SELECT product_id, quantity, unit_price_minor, currency::text FROM reservation_lines
		WHERE order_id = $1 ORDER BY line_no`, orderID).Query(func(rows pgx.Rows) error {
		var err error
		*lines, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (inventory.Line, error) {
			var l inventory.Line
			err := row.Scan(&l.ProductID, &l.Quantity, &l.UnitPrice.Minor, &l.UnitPrice.Currency)
			return l, err
		})
		return err
	})
}

// dbErr wraps a database error with what was being done. A deadlock or a
// serialization failure, which the lock order above should make
// impossible, becomes Aborted: the caller may repeat the request.
func dbErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
		return apperr.New(apperr.Aborted, "%s: conflict with a concurrent request, try again", what).WithCause(err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
