// Package postgres is the order.Store over PostgreSQL (pgx/v5). Its schema
// lives in migrations/, embedded and applied at start-up by
// platform/postgres.Open under an advisory lock.
//
// Every change is an UPDATE conditional on the version the caller read, so
// two runs of the saga cannot overwrite each other; creating is idempotent
// by (customer, idempotency key) through the table's unique constraint.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the goose migrations of the order database, with the
// SQL files at the root as platform/postgres.Open expects.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil { // only for an invalid path, and "migrations" is valid
		return migrationFiles
	}
	return sub
}

// Store implements order.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ order.Store = (*Store)(nil)

// New returns a Store over pool, whose database has the migrations applied.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	return &Store{pool: pool}, nil
}

// orderColumns are the columns scanOrder reads, in its order.
const orderColumns = `id, customer_id, idempotency_key, request_hash, payment_token, status, reason,
	total_minor, currency, claimed_until, version, created_at, updated_at, attention, attempts, next_attempt_at,
	shipping_told, trace_id`

// Create implements order.Store in one statement, one round trip: the
// insert does nothing when the key is taken, and then the order that holds
// it is read. Of two concurrent Creates with one key, the second waits for
// the first to commit, finds the conflict and returns the first's order.
// The items, lines and history are written by the same statement, only for
// a row it inserted.
func (s *Store) Create(ctx context.Context, o order.Order) (order.Order, bool, error) {
	o = normalize(o.Clone())
	n := len(o.Items)
	positions, products, quantities := make([]int32, n), make([]string, n), make([]int32, n)
	for i, it := range o.Items {
		positions[i], products[i], quantities[i] = int32(i), it.ProductID, it.Quantity
	}
	args := []any{o.ID, o.CustomerID, o.IdempotencyKey, o.RequestHash, o.PaymentToken, o.Status.String(), o.Reason,
		o.Total.Minor, o.Total.Currency, nullTime(o.ClaimedUntil), o.Version, o.CreatedAt, o.UpdatedAt,
		o.Attention, o.Attempts, nullTime(o.NextAttemptAt), toldName(o.ShippingTold), o.TraceID,
		positions, products, quantities}
	args = append(args, lineArgs(o)...)  // $22 to $26
	args = append(args, eventArgs(o)...) // $27 to $30
	var inserted int
	err := s.pool.QueryRow(ctx, `
		WITH written AS (
			INSERT INTO orders (`+orderColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			ON CONFLICT (customer_id, idempotency_key) DO NOTHING
			RETURNING id
		), items AS (
			INSERT INTO order_items (order_id, position, product_id, quantity)
			SELECT written.id, i.* FROM written, unnest($19::int[], $20::text[], $21::int[]) AS i
		), `+writeChildren(22, 27)+`
		SELECT count(*) FROM written`, args...).Scan(&inserted)
	if err != nil {
		return order.Order{}, false, fmt.Errorf("insert order: %w", err)
	}
	if inserted == 1 {
		return o, true, nil
	}
	existing, err := s.selectOrders(ctx, `WHERE customer_id = $1 AND idempotency_key = $2`, o.CustomerID, o.IdempotencyKey)
	if err != nil {
		return order.Order{}, false, err
	}
	if len(existing) == 0 {
		return order.Order{}, false, fmt.Errorf("order of customer %s with key %q conflicted but is gone", o.CustomerID, o.IdempotencyKey)
	}
	return existing[0], false, nil
}

// Get implements order.Store.
func (s *Store) Get(ctx context.Context, id string) (order.Order, error) {
	orders, err := s.selectOrders(ctx, `WHERE id = $1`, id)
	if err != nil {
		return order.Order{}, err
	}
	if len(orders) == 0 {
		return order.Order{}, apperr.New(apperr.NotFound, "order %s not found", id)
	}
	return orders[0], nil
}

// Update implements order.Store in one statement, one round trip: an
// UPDATE conditional on the version, and, only when it matched, the lines
// replaced and new history events appended. When nothing matched, a second
// query says why.
func (s *Store) Update(ctx context.Context, o *order.Order) error {
	n := normalize(o.Clone())
	// The state machine is the domain's (order.AllowedFrom); the WHERE
	// clause applies it in the same statement that checks the version.
	from := order.AllowedFrom(n.Status)
	names := make([]string, len(from))
	for i, st := range from {
		names[i] = st.String()
	}
	args := []any{n.ID, n.Version, n.Status.String(), n.Reason, n.Total.Minor, n.Total.Currency,
		nullTime(n.ClaimedUntil), n.UpdatedAt, n.Attention, n.Attempts, nullTime(n.NextAttemptAt), names,
		n.TokenSpent()}
	args = append(args, lineArgs(n)...)  // $14 to $18
	args = append(args, eventArgs(n)...) // $19 to $22
	var updated int
	err := s.pool.QueryRow(ctx, `
		WITH written AS (
			UPDATE orders SET status = $3, reason = $4, total_minor = $5, currency = $6,
				claimed_until = $7, updated_at = $8, attention = $9, attempts = $10, next_attempt_at = $11,
				payment_token = CASE WHEN $13 THEN '' ELSE payment_token END,
				version = version + 1
			WHERE id = $1 AND version = $2 AND status = ANY($12)
			RETURNING id
		), dropped_lines AS (
			DELETE FROM order_lines WHERE order_id IN (SELECT id FROM written) AND position >= cardinality($14::int[])
		), `+writeChildren(14, 19)+`
		SELECT count(*) FROM written`, args...).Scan(&updated)
	if err != nil {
		return fmt.Errorf("update order %s: %w", n.ID, err)
	}
	if updated == 0 {
		return s.whyNotUpdated(ctx, n)
	}
	o.Version++
	return nil
}

// whyNotUpdated tells why an Update matched no row: the order does not
// exist, another change came first (ErrStale), or its status does not allow
// the change.
func (s *Store) whyNotUpdated(ctx context.Context, n order.Order) error {
	var (
		status  string
		version int64
	)
	err := s.pool.QueryRow(ctx, `SELECT status, version FROM orders WHERE id = $1`, n.ID).Scan(&status, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return apperr.New(apperr.NotFound, "order %s not found", n.ID)
	case err != nil:
		return fmt.Errorf("look up order %s: %w", n.ID, err)
	case version != n.Version:
		return order.ErrStale
	}
	cur, err := order.ParseStatus(status)
	if err != nil {
		return err
	}
	return order.TransitionError(n.ID, cur, n.Status)
}

// ListByCustomer implements order.Store with keyset pagination: the page
// starts below the (created_at, id) of the order named by after.
func (s *Store) ListByCustomer(ctx context.Context, customerID, after string, limit int) ([]order.Order, error) {
	if after == "" {
		return s.selectOrders(ctx, `WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, customerID, limit)
	}
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT created_at FROM orders WHERE id = $1 AND customer_id = $2`, after, customerID).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.Invalid, "unknown page token")
	}
	if err != nil {
		return nil, fmt.Errorf("look up page token: %w", err)
	}
	return s.selectOrders(ctx, `
		WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, customerID, at, after, limit)
}

// ClaimStale implements order.Store in one short transaction (a single
// statement): the candidate rows are locked FOR UPDATE SKIP LOCKED, so a
// concurrent claimer passes over them instead of waiting, and a row that a
// concurrent claim changed meanwhile is checked again against the
// conditions, so it is not claimed twice. The version bump makes any
// earlier holder's next Update fail with ErrStale.
func (s *Store) ClaimStale(ctx context.Context, now, olderThan, until time.Time, limit int) ([]order.Order, error) {
	rows, err := s.pool.Query(ctx, `
		WITH stale AS (
			SELECT id FROM orders
			WHERE status IN ('PENDING', 'CANCELLING') AND updated_at < $2
				AND (claimed_until IS NULL OR claimed_until <= $1)
				AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
			ORDER BY updated_at, id
			LIMIT $4
			FOR UPDATE SKIP LOCKED
		)
		UPDATE orders SET claimed_until = $3, version = orders.version + 1
		FROM stale WHERE orders.id = stale.id
		RETURNING `+qualified("orders", orderColumns),
		now, olderThan, until, limit)
	if err != nil {
		return nil, fmt.Errorf("claim stale orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return nil, fmt.Errorf("claim stale orders: %w", err)
	}
	// RETURNING keeps no order.
	slices.SortFunc(orders, func(a, b order.Order) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	// The children can be read outside the claim: only the holder of the
	// new version can change them now.
	if err := s.loadChildren(ctx, orders); err != nil {
		return nil, err
	}
	return orders, nil
}

// ListByStatus implements order.Store.
func (s *Store) ListByStatus(ctx context.Context, status order.Status, after string, limit int) ([]order.Order, error) {
	if after == "" {
		return s.selectOrders(ctx, `WHERE status = $1 ORDER BY updated_at, id LIMIT $2`, status.String(), limit)
	}
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT updated_at FROM orders WHERE id = $1 AND status = $2`, after, status.String()).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.Invalid, "unknown page token")
	}
	if err != nil {
		return nil, fmt.Errorf("look up page token: %w", err)
	}
	return s.selectOrders(ctx, `
		WHERE status = $1 AND (updated_at, id) > ($2, $3)
		ORDER BY updated_at, id LIMIT $4`, status.String(), at, after, limit)
}

// ListUntold implements order.Store.
func (s *Store) ListUntold(ctx context.Context, limit int) ([]order.Order, error) {
	return s.selectOrders(ctx, `
		WHERE status IN ('CONFIRMED', 'CANCELLED') AND shipping_told <> status
		ORDER BY updated_at, id LIMIT $1`, limit)
}

// MarkTold implements order.Store in one statement. The relays of two
// replicas may mark the same orders at once: the ids go in sorted, so both
// statements visit the rows in one order and neither waits on the other in
// a cycle (a deadlock, if a plan ever visited them otherwise, would cost a
// pass, not a shipment: the orders would be told again).
func (s *Store) MarkTold(ctx context.Context, told []order.Told) error {
	if len(told) == 0 {
		return nil
	}
	told = slices.SortedFunc(slices.Values(told), func(a, b order.Told) int { return strings.Compare(a.ID, b.ID) })
	ids, statuses := make([]string, len(told)), make([]string, len(told))
	for i, t := range told {
		ids[i], statuses[i] = t.ID, t.Status.String()
	}
	var missing *string
	err := s.pool.QueryRow(ctx, `
		WITH marked AS (
			UPDATE orders AS o SET shipping_told = o.status
			FROM unnest($1::text[], $2::text[]) AS t(id, status)
			WHERE o.id = t.id AND o.status = t.status
		)
		SELECT min(t.id) FROM unnest($1::text[]) AS t(id) WHERE NOT EXISTS (SELECT 1 FROM orders WHERE id = t.id)`,
		ids, statuses).Scan(&missing)
	if err != nil {
		return fmt.Errorf("mark %d orders told: %w", len(told), err)
	}
	if missing != nil {
		return apperr.New(apperr.NotFound, "order %s not found", *missing)
	}
	return nil
}

// toldName is how ShippingTold is stored: an empty string for none.
func toldName(st order.Status) string {
	if st == 0 {
		return ""
	}
	return st.String()
}

// selectOrders returns the orders matched by the SQL that follows
// "SELECT ... FROM orders", with their items, lines and history.
func (s *Store) selectOrders(ctx context.Context, tail string, args ...any) ([]order.Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("select orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, scanOrder)
	if err != nil {
		return nil, fmt.Errorf("select orders: %w", err)
	}
	if err := s.loadChildren(ctx, orders); err != nil {
		return nil, err
	}
	return orders, nil
}

// loadChildren fills in the items, lines and history of orders, with one
// round trip for the three queries.
func (s *Store) loadChildren(ctx context.Context, orders []order.Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]string, len(orders))
	byID := make(map[string]*order.Order, len(orders))
	for i := range orders {
		ids[i] = orders[i].ID
		byID[orders[i].ID] = &orders[i]
	}
	var (
		orderID string
		item    order.Item
		line    order.Line
		event   order.Event
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT order_id, product_id, quantity FROM order_items
		WHERE order_id = ANY($1) ORDER BY order_id, position`, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&orderID, &item.ProductID, &item.Quantity}, func() error {
			o := byID[orderID]
			o.Items = append(o.Items, item)
			return nil
		})
		return err
	})
	b.Queue(`SELECT order_id, product_id, quantity, unit_price_minor, currency FROM order_lines
		WHERE order_id = ANY($1) ORDER BY order_id, position`, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&orderID, &line.ProductID, &line.Quantity, &line.UnitPrice.Minor, &line.UnitPrice.Currency}, func() error {
			o := byID[orderID]
			o.Lines = append(o.Lines, line)
			return nil
		})
		return err
	})
	b.Queue(`SELECT order_id, at, step, detail FROM order_events
		WHERE order_id = ANY($1) ORDER BY order_id, seq`, ids).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&orderID, &event.At, &event.Step, &event.Detail}, func() error {
			o := byID[orderID]
			event.At = event.At.UTC()
			o.History = append(o.History, event)
			return nil
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("select items, lines and history: %w", err)
	}
	return nil
}

// scanOrder reads one row of orderColumns.
func scanOrder(row pgx.CollectableRow) (order.Order, error) {
	var (
		o             order.Order
		status, told  string
		claimed, next *time.Time
	)
	if err := row.Scan(&o.ID, &o.CustomerID, &o.IdempotencyKey, &o.RequestHash, &o.PaymentToken, &status, &o.Reason,
		&o.Total.Minor, &o.Total.Currency, &claimed, &o.Version, &o.CreatedAt, &o.UpdatedAt,
		&o.Attention, &o.Attempts, &next, &told, &o.TraceID); err != nil {
		return order.Order{}, err
	}
	st, err := order.ParseStatus(status)
	if err != nil {
		return order.Order{}, err
	}
	o.Status = st
	if told != "" {
		if o.ShippingTold, err = order.ParseStatus(told); err != nil {
			return order.Order{}, err
		}
	}
	if claimed != nil {
		o.ClaimedUntil = claimed.UTC()
	}
	if next != nil {
		o.NextAttemptAt = next.UTC()
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

// writeChildren returns the common table expressions that write the lines
// and append the history of the order the CTE "written" returned, if it
// returned one; lineArgs are its parameters from $lines, eventArgs from
// $events. Lines are upserted by position (a line that did not change is
// not rewritten); events already stored (same sequence number) are kept as
// they are.
func writeChildren(lines, events int) string {
	return fmt.Sprintf(`lines AS (
			INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price_minor, currency)
			SELECT written.id, l.* FROM written,
				unnest($%[1]d::int[], $%[2]d::text[], $%[3]d::int[], $%[4]d::bigint[], $%[5]d::text[]) AS l
			ON CONFLICT (order_id, position) DO UPDATE SET product_id = excluded.product_id,
				quantity = excluded.quantity, unit_price_minor = excluded.unit_price_minor, currency = excluded.currency
			WHERE (order_lines.product_id, order_lines.quantity, order_lines.unit_price_minor, order_lines.currency)
				IS DISTINCT FROM (excluded.product_id, excluded.quantity, excluded.unit_price_minor, excluded.currency)
		), events AS (
			INSERT INTO order_events (order_id, seq, at, step, detail)
			SELECT written.id, e.* FROM written,
				unnest($%[6]d::int[], $%[7]d::timestamptz[], $%[8]d::text[], $%[9]d::text[]) AS e
			ON CONFLICT (order_id, seq) DO NOTHING
		)`, lines, lines+1, lines+2, lines+3, lines+4, events, events+1, events+2, events+3)
}

// lineArgs are o's lines as the five arrays writeChildren reads.
func lineArgs(o order.Order) []any {
	n := len(o.Lines)
	positions, products, quantities := make([]int32, n), make([]string, n), make([]int32, n)
	prices, currencies := make([]int64, n), make([]string, n)
	for i, l := range o.Lines {
		positions[i], products[i], quantities[i] = int32(i), l.ProductID, l.Quantity
		prices[i], currencies[i] = l.UnitPrice.Minor, l.UnitPrice.Currency
	}
	return []any{positions, products, quantities, prices, currencies}
}

// eventArgs are o's history as the four arrays writeChildren reads.
func eventArgs(o order.Order) []any {
	n := len(o.History)
	seqs, ats, steps, details := make([]int32, n), make([]time.Time, n), make([]string, n), make([]string, n)
	for i, e := range o.History {
		seqs[i], ats[i], steps[i], details[i] = int32(i), e.At, e.Step, e.Detail
	}
	return []any{seqs, ats, steps, details}
}

// normalize gives o's times the precision and zone Postgres returns them
// in, so what Create returns equals what Get reads later.
func normalize(o order.Order) order.Order {
	o.CreatedAt = o.CreatedAt.UTC().Truncate(time.Microsecond)
	o.UpdatedAt = o.UpdatedAt.UTC().Truncate(time.Microsecond)
	if !o.ClaimedUntil.IsZero() {
		o.ClaimedUntil = o.ClaimedUntil.UTC().Truncate(time.Microsecond)
	}
	if !o.NextAttemptAt.IsZero() {
		o.NextAttemptAt = o.NextAttemptAt.UTC().Truncate(time.Microsecond)
	}
	for i := range o.History {
		o.History[i].At = o.History[i].At.UTC().Truncate(time.Microsecond)
	}
	return o
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// qualified prefixes every column of a comma-separated list with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
