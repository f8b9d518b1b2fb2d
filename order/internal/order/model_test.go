package order_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// TestSaga_Model is a model-based test of the order saga: rapid draws
// random interleavings of placements, cancellations, crashes of a replica
// at any step, recovery passes on two replicas, reservations expiring, and
// every outcome the provider can give (success, decline, refusal, timeout,
// an answer lost after charging, a refused refund); then the faults stop,
// the system settles, and the invariants of DESIGN.md are checked on
// everything that happened:
//
//   - every order is settled, or parked with a reason;
//   - a CONFIRMED order was charged exactly once, and its stock committed;
//   - every other settled order has no net charge and its stock back;
//   - nothing is charged twice;
//   - stock is never negative, and stock plus units held adds up.
//
// It runs 300 cases in `make test` (main_test.go); more with -rapid.checks=N, e.g.
// go test ./order/internal/order -run TestSaga_Model -rapid.checks=5000.
func TestSaga_Model(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := newModel(rt)
		defer m.close()
		rt.Repeat(map[string]func(*rapid.T){
			"place":   m.place,
			"cancel":  m.cancel,
			"crash":   m.crash,
			"fault":   m.fault,
			"recover": m.recover,
			"expire":  m.expire,
			"":        m.check, // after every action: nothing wrong yet
		})
		m.settle()
		m.checkSettled()

	})
}

// Products and their stock at the start of every case.
var modelStock = map[string]int64{"p-1": 3, "p-2": 2}

// modelWorld is inventory and payment (with its provider) as the real ones
// behave, in memory: reservations with expiry, charges with idempotency by
// order id, and switchable faults. Its clock is the one the replicas read.
type modelWorld struct {
	mu  sync.Mutex
	now time.Time

	available    map[string]int64
	reservations map[string]*modelReservation
	payments     map[string]*modelPayment
	// providerCharges counts the charges the provider made per order:
	// the money actually taken, whatever payment recorded.
	providerCharges map[string]int

	inventoryDown bool
	paymentMode   string // "ok", "down", "timeout" (not sent), "drop" (charged, answer lost)
	refundRefused bool
}

type modelReservation struct {
	items   []order.Item
	state   string // reserved, committed, released
	expires time.Time
}

type modelPayment struct {
	status string // pending, succeeded, declined, failed, refunded
	amount order.Money
}

const modelTTL = 15 * time.Minute

// requestBudget is the deadline of the model's placements and
// cancellations: it leaves the service 10ms to wait for the run after
// keeping api.AnswerBudget to answer, so some runs end inside the request
// and the rest go on in the background, as under load.
const requestBudget = api.AnswerBudget + 10*time.Millisecond

var modelPrice = order.Money{Currency: "EUR", Minor: 100}

func (w *modelWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *modelWorld) Reserve(_ context.Context, orderID string, items []order.Item) (order.Reservation, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inventoryDown {
		return order.Reservation{}, apperr.New(apperr.Unavailable, "inventory down")
	}
	priced := func(items []order.Item) order.Reservation {
		res := order.Reservation{Total: order.Money{Currency: modelPrice.Currency}}
		for _, it := range items {
			res.Lines = append(res.Lines, order.Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: modelPrice})
			res.Total.Minor += int64(it.Quantity) * modelPrice.Minor
		}
		return res
	}
	if r := w.reservations[orderID]; r != nil {
		if r.state == "released" {
			return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "released").WithReason(api.ReasonReservationReleased)
		}
		if r.state == "reserved" {
			r.expires = w.now.Add(modelTTL)
		}
		return priced(r.items), nil
	}
	for _, it := range items {
		if w.available[it.ProductID] < int64(it.Quantity) {
			return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "short").WithReason(api.ReasonOutOfStock)
		}
	}
	for _, it := range items {
		w.available[it.ProductID] -= int64(it.Quantity)
	}
	w.reservations[orderID] = &modelReservation{items: items, state: "reserved", expires: w.now.Add(modelTTL)}
	return priced(items), nil
}

func (w *modelWorld) Commit(_ context.Context, orderID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inventoryDown {
		return apperr.New(apperr.Unavailable, "inventory down")
	}
	r := w.reservations[orderID]
	if r == nil || r.state == "released" {
		return apperr.New(apperr.FailedPrecondition, "not reserved").WithReason(api.ReasonNotReserved)
	}
	r.state = "committed"
	return nil
}

func (w *modelWorld) Release(_ context.Context, orderID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inventoryDown {
		return apperr.New(apperr.Unavailable, "inventory down")
	}
	w.releaseLocked(orderID)
	return nil
}

// releaseLocked returns an order's stock once; an order that never
// reserved cannot reserve later (as inventory's stores do).
func (w *modelWorld) releaseLocked(orderID string) {
	r := w.reservations[orderID]
	if r == nil {
		w.reservations[orderID] = &modelReservation{state: "released"}
		return
	}
	if r.state != "released" {
		for _, it := range r.items {
			w.available[it.ProductID] += int64(it.Quantity)
		}
		r.state = "released"
	}
}

// sweep releases the reservations whose time ran out, as the sweeper does.
func (w *modelWorld) sweep() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, r := range w.reservations {
		if r.state == "reserved" && !r.expires.After(w.now) {
			w.releaseLocked(id)
		}
	}
}

func (w *modelWorld) Charge(_ context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paymentMode == "down" {
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "payment down")
	}
	p := w.payments[orderID]
	if p == nil {
		p = &modelPayment{status: "pending", amount: amount}
		w.payments[orderID] = p
	}
	if p.amount != amount {
		return order.ChargeResult{}, apperr.New(apperr.Conflict, "charged another amount")
	}
	switch p.status {
	case "succeeded":
		return order.ChargeResult{}, nil
	case "declined":
		return order.ChargeResult{Declined: true}, nil
	case "failed":
		return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "refused").WithReason(api.ReasonPaymentFailed)
	case "refunded":
		return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "refunded").WithReason(api.ReasonPaymentRefunded)
	}
	// Pending: the provider is asked, with the key of the order.
	if w.paymentMode == "timeout" {
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "provider did not answer")
	}
	switch token {
	case "tok_decline":
		p.status = "declined"
	case "tok_invalid":
		p.status = "failed"
	default:
		if w.providerCharges[orderID] == 0 || p.status == "pending" {
			w.providerCharges[orderID]++
		}
		p.status = "succeeded"
	}
	if w.paymentMode == "drop" {
		// Charged, and the answer lost: payment keeps the attempt pending
		// until a repeat asks the provider by key.
		if p.status == "succeeded" {
			p.status = "pending-charged"
		}
		return order.ChargeResult{}, apperr.New(apperr.Unavailable, "answer lost")
	}
	return w.chargeResultLocked(orderID)
}

func (w *modelWorld) chargeResultLocked(orderID string) (order.ChargeResult, error) {
	switch w.payments[orderID].status {
	case "declined":
		return order.ChargeResult{Declined: true}, nil
	case "failed":
		return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "refused").WithReason(api.ReasonPaymentFailed)
	}
	return order.ChargeResult{}, nil
}

func (w *modelWorld) Refund(_ context.Context, orderID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paymentMode == "down" {
		return apperr.New(apperr.Unavailable, "payment down")
	}
	p := w.payments[orderID]
	if p == nil {
		return apperr.New(apperr.NotFound, "no payment")
	}
	switch p.status {
	case "pending":
		p.status = "failed" // voided: never charged
		return apperr.New(apperr.FailedPrecondition, "voided").WithReason(api.ReasonNothingToRefund)
	case "declined", "failed":
		return apperr.New(apperr.FailedPrecondition, "nothing taken").WithReason(api.ReasonNothingToRefund)
	case "refunded":
		return nil
	}
	// succeeded, or charged with the answer lost: the money is taken.
	if w.refundRefused {
		p.status = "succeeded"
		return apperr.New(apperr.FailedPrecondition, "refused").WithReason(api.ReasonRefundFailed)
	}
	p.status = "refunded"
	return nil
}

// netCharged reports whether money is taken for an order and not given back.
func (w *modelWorld) netCharged(orderID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.payments[orderID]
	return p != nil && (p.status == "succeeded" || p.status == "pending-charged")
}

// model is one case: the world, the shared store, two replicas.
type model struct {
	t        *rapid.T
	world    *modelWorld
	store    order.Store
	replicas [2]*replica
	orders   []string // ids of every order placed
	keys     int
}

// replica is one order process: a Service whose store and peers die with
// it when it crashes.
type replica struct {
	svc   *order.Service
	store *dyingStore
	// dieAt names a peer method at which this process dies ("" never);
	// before says whether it dies before the call reaches the peer.
	dieAt  atomic.Value // string
	before atomic.Bool
}

func newModel(t *rapid.T) *model {
	w := &modelWorld{
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), available: map[string]int64{},
		reservations: map[string]*modelReservation{}, payments: map[string]*modelPayment{},
		providerCharges: map[string]int{}, paymentMode: "ok",
	}
	for p, n := range modelStock {
		w.available[p] = n
	}
	m := &model{t: t, world: w, store: memstore.New()}
	for i := range m.replicas {
		m.replicas[i] = m.startReplica()
	}
	return m
}

// startReplica starts an order process over the shared store and world.
func (m *model) startReplica() *replica {
	r := &replica{store: &dyingStore{Store: m.store}}
	r.dieAt.Store("")
	peers := &dyingPeers{r: r, w: m.world}
	svc, err := order.NewService(r.store, peers, peers, slog.New(slog.DiscardHandler),
		order.WithClock(m.world.clock),
		// Runs give up after 50ms of real time; the model's clock, not the
		// real one, decides when recovery may take an order over.
		order.WithRecoveryAfter(50*time.Millisecond),
		order.WithRetryBackoff(time.Millisecond, 2*time.Millisecond),
		order.WithMaxAttempts(4))
	if err != nil {
		m.t.Fatalf("NewService: %v", err)
	}
	r.svc = svc
	return r
}

// kill makes r die now: its store writes nothing more, its runs stop.
func (r *replica) kill() {
	r.store.dead.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.svc.Close(ctx)
}

func (m *model) close() {
	for _, r := range m.replicas {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.svc.Close(ctx)
		cancel()
	}
}

func (m *model) replica(t *rapid.T) *replica {
	return m.replicas[rapid.IntRange(0, 1).Draw(t, "replica")]
}

func (m *model) place(t *rapid.T) {
	m.keys++
	req := order.PlaceRequest{
		CustomerID: "c-1", IdempotencyKey: fmt.Sprintf("k-%d", m.keys),
		PaymentToken: rapid.SampledFrom([]string{"tok_visa", "tok_visa", "tok_decline", "tok_invalid"}).Draw(t, "token"),
		Items:        []order.Item{{ProductID: rapid.SampledFrom([]string{"p-1", "p-2"}).Draw(t, "product"), Quantity: int32(rapid.IntRange(1, 2).Draw(t, "quantity"))}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestBudget)
	defer cancel()
	o, _, _ := m.replica(t).svc.Place(ctx, req)
	if o.ID != "" {
		m.orders = append(m.orders, o.ID)
	}
}

func (m *model) cancel(t *rapid.T) {
	if len(m.orders) == 0 {
		t.Skip("no order yet")
	}
	id := rapid.SampledFrom(m.orders).Draw(t, "order")
	ctx, cancel := context.WithTimeout(context.Background(), requestBudget)
	defer cancel()
	_, _ = m.replica(t).svc.CancelOrder(ctx, id)
}

// crash arms a replica to die at its next call of one peer method, before
// or after the peer acts; a replica that died is replaced by a new process.
func (m *model) crash(t *rapid.T) {
	i := rapid.IntRange(0, 1).Draw(t, "replica")
	r := m.replicas[i]
	if r.store.dead.Load() {
		m.replicas[i] = m.startReplica()
		return
	}
	r.dieAt.Store(rapid.SampledFrom([]string{"reserve", "charge", "commit", "release", "refund"}).Draw(t, "step"))
	r.before.Store(rapid.Bool().Draw(t, "before"))
}

func (m *model) fault(t *rapid.T) {
	w := m.world
	w.mu.Lock()
	defer w.mu.Unlock()
	switch rapid.IntRange(0, 2).Draw(t, "what") {
	case 0:
		w.inventoryDown = rapid.Bool().Draw(t, "inventory down")
	case 1:
		w.paymentMode = rapid.SampledFrom([]string{"ok", "ok", "down", "timeout", "drop"}).Draw(t, "payment")
	case 2:
		w.refundRefused = rapid.Bool().Draw(t, "refund refused")
	}
}

// recover moves the clock on and runs a recovery pass on a replica.
func (m *model) recover(t *rapid.T) {
	m.world.mu.Lock()
	m.world.now = m.world.now.Add(time.Duration(rapid.IntRange(1, 3600).Draw(t, "seconds")) * time.Second)
	m.world.mu.Unlock()
	_, _ = m.replica(t).svc.RecoverStale(context.Background(), 100)
}

// expire moves the clock past the reservations' TTL and sweeps.
func (m *model) expire(*rapid.T) {
	m.world.mu.Lock()
	m.world.now = m.world.now.Add(modelTTL + time.Second)
	m.world.mu.Unlock()
	m.world.sweep()
}

// check holds at every moment: stock is never negative and adds up.
func (m *model) check(t *rapid.T) {
	w := m.world
	w.mu.Lock()
	defer w.mu.Unlock()
	held := map[string]int64{}
	for _, r := range w.reservations {
		if r.state != "released" {
			for _, it := range r.items {
				held[it.ProductID] += int64(it.Quantity)
			}
		}
	}
	for p, n := range modelStock {
		if w.available[p] < 0 {
			t.Fatalf("stock of %s is %d", p, w.available[p])
		}
		if w.available[p]+held[p] != n {
			t.Fatalf("stock of %s: %d available and %d held, want %d in all", p, w.available[p], held[p], n)
		}
	}
	for id, n := range w.providerCharges {
		if n > 1 {
			t.Fatalf("order %s charged %d times by the provider", id, n)
		}
	}
}

// settle stops every fault and crash, lets the runs in flight end, and
// runs recovery passes until no order is under way.
func (m *model) settle() {
	w := m.world
	w.mu.Lock()
	w.inventoryDown, w.paymentMode, w.refundRefused = false, "ok", false
	w.mu.Unlock()
	for i, r := range m.replicas {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.svc.Close(ctx)
		cancel()
		m.replicas[i] = m.startReplica()
	}
	for range 40 {
		w.mu.Lock()
		w.now = w.now.Add(time.Hour) // every claim and wait between attempts over
		w.mu.Unlock()
		for _, r := range m.replicas {
			if _, err := r.svc.RecoverStale(context.Background(), 1000); err != nil {
				m.t.Fatalf("RecoverStale: %v", err)
			}
		}
		if m.underWay() == 0 {
			return
		}
	}
	m.t.Fatalf("%d orders still under way after 40 recovery rounds", m.underWay())
}

func (m *model) underWay() int {
	n := 0
	for _, id := range m.orders {
		if o, err := m.store.Get(context.Background(), id); err == nil && o.Status.InFlight() {
			n++
		}
	}
	return n
}

// checkSettled checks the invariants on every order once all is quiet.
func (m *model) checkSettled() {
	m.check(m.t)
	w := m.world
	for _, id := range m.orders {
		o, err := m.store.Get(context.Background(), id)
		if err != nil {
			m.t.Fatalf("order %s: %v", id, err)
		}
		charged := w.netCharged(id)
		w.mu.Lock()
		r := w.reservations[id]
		w.mu.Unlock()
		held := r != nil && r.state != "released"
		switch {
		case o.Status == order.NeedsAttention:
			if o.Attention == "" {
				m.t.Fatalf("order %s parked without a reason", id)
			}
		case o.Status == order.Confirmed:
			w.mu.Lock()
			charges := w.providerCharges[id]
			w.mu.Unlock()
			if !charged || charges != 1 || r == nil || r.state != "committed" {
				m.t.Fatalf("CONFIRMED order %s: charged=%v (%d provider charges), reservation %+v; want charged once and committed; history %v", id, charged, charges, r, steps(o))
			}
		case o.Status.Settled():
			if charged || held {
				m.t.Fatalf("%s order %s: charged=%v, stock held=%v; want neither; history %v", o.Status, id, charged, held, steps(o))
			}
		default:
			m.t.Fatalf("order %s is %s after settling", id, o.Status)
		}
	}
}

// dyingStore is the store as one replica sees it: after the replica
// dies, every call fails, so it writes nothing more.
type dyingStore struct {
	order.Store
	dead atomic.Bool
}

var errDead = errors.New("process died")

func (d *dyingStore) Create(ctx context.Context, o order.Order) (order.Order, bool, error) {
	if d.dead.Load() {
		return order.Order{}, false, errDead
	}
	return d.Store.Create(ctx, o)
}

func (d *dyingStore) Update(ctx context.Context, o *order.Order) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.Update(ctx, o)
}

func (d *dyingStore) ClaimStale(ctx context.Context, now, olderThan, until time.Time, limit int) ([]order.Order, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	return d.Store.ClaimStale(ctx, now, olderThan, until, limit)
}

// dyingPeers are the world as one replica calls it, dying at the step its
// replica was armed for.
type dyingPeers struct {
	r *replica
	w *modelWorld
}

// at runs call as step, dying before or after it when armed to.
func (p *dyingPeers) at(step string, call func() error) error {
	if p.r.store.dead.Load() {
		return errDead
	}
	if p.r.dieAt.Load() != step {
		return call()
	}
	p.r.dieAt.Store("")
	if !p.r.before.Load() {
		_ = call()
	}
	p.r.kill()
	return errDead
}

func (p *dyingPeers) Reserve(ctx context.Context, id string, items []order.Item) (res order.Reservation, err error) {
	err = p.at("reserve", func() error { res, err = p.w.Reserve(ctx, id, items); return err })
	return res, err
}

func (p *dyingPeers) Commit(ctx context.Context, id string) error {
	return p.at("commit", func() error { return p.w.Commit(ctx, id) })
}

func (p *dyingPeers) Release(ctx context.Context, id string) error {
	return p.at("release", func() error { return p.w.Release(ctx, id) })
}

func (p *dyingPeers) Charge(ctx context.Context, id string, amount order.Money, token string) (res order.ChargeResult, err error) {
	err = p.at("charge", func() error { res, err = p.w.Charge(ctx, id, amount, token); return err })
	return res, err
}

func (p *dyingPeers) Refund(ctx context.Context, id string) error {
	return p.at("refund", func() error { return p.w.Refund(ctx, id) })
}
