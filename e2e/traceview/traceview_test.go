package traceview_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/shopmesh/shopmesh/e2e/traceview"
)

var (
	t0    = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	trace = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	other = pcommon.TraceID{1}
)

type fixture struct {
	service, name string
	trace         pcommon.TraceID
	id, parent    byte
	from, to      time.Duration
	failed        bool
}

// exportLine is one line of the collector's file export holding spans.
func exportLine(t *testing.T, spans ...fixture) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	for _, f := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", f.service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(f.trace)
		sp.SetSpanID(pcommon.SpanID{f.id})
		if f.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{f.parent})
		}
		sp.SetName(f.name)
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(f.from)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(f.to)))
		if f.failed {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("declined")
		}
	}
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestReadAndDraw(t *testing.T) {
	t.Parallel()
	var file bytes.Buffer
	// Spans of one trace arrive in batches, children before parents, next
	// to another trace's; the last line is still being written.
	file.Write(exportLine(t,
		fixture{service: "payment", name: "payment.v1.PaymentService/Charge", trace: trace, id: 4, parent: 3, from: 12 * time.Millisecond, to: 30 * time.Millisecond, failed: true},
		fixture{service: "inventory", name: "inventory.v1.InventoryService/Reserve", trace: trace, id: 5, parent: 2, from: 2 * time.Millisecond, to: 9 * time.Millisecond},
		fixture{service: "gateway", name: "GET /v1/products", trace: other, id: 9, from: 0, to: time.Millisecond}))
	file.Write(exportLine(t,
		fixture{service: "gateway", name: "POST /v1/orders", trace: trace, id: 1, from: 0, to: 40 * time.Millisecond},
		fixture{service: "order", name: "order.v1.OrderService/PlaceOrder", trace: trace, id: 2, parent: 1, from: time.Millisecond, to: 38 * time.Millisecond},
		fixture{service: "order", name: "payment.v1.PaymentService/Charge", trace: trace, id: 3, parent: 2, from: 10 * time.Millisecond, to: 32 * time.Millisecond},
		// Its parent was never exported: drawn as a root of its own.
		fixture{service: "shipping", name: "shipping.v1.ShippingService/Ship", trace: trace, id: 7, parent: 6, from: 50 * time.Millisecond, to: 55 * time.Millisecond}))
	partial := exportLine(t, fixture{service: "order", name: "late", trace: trace, id: 8, parent: 1, from: 0, to: time.Millisecond})
	file.Write(partial[:len(partial)/2])

	spans, err := traceview.Read(bytes.NewReader(file.Bytes()), strings.ToUpper(trace.String()))
	if err != nil {
		t.Fatal(err)
	}
	rows := traceview.Waterfall(spans)
	type want struct {
		service, name string
		depth         int
		offset        time.Duration
	}
	wants := []want{
		{"gateway", "POST /v1/orders", 0, 0},
		{"order", "order.v1.OrderService/PlaceOrder", 1, time.Millisecond},
		{"inventory", "inventory.v1.InventoryService/Reserve", 2, 2 * time.Millisecond},
		{"order", "payment.v1.PaymentService/Charge", 2, 10 * time.Millisecond},
		{"payment", "payment.v1.PaymentService/Charge", 3, 12 * time.Millisecond},
		{"shipping", "shipping.v1.ShippingService/Ship", 0, 50 * time.Millisecond},
	}
	if len(rows) != len(wants) {
		t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(wants))
	}
	for i, w := range wants {
		r := rows[i]
		if r.Service != w.service || r.Name != w.name || r.Depth != w.depth || r.Offset != w.offset {
			t.Errorf("row %d: %s %s depth %d at %v, want %s %s depth %d at %v", i, r.Service, r.Name, r.Depth, r.Offset, w.service, w.name, w.depth, w.offset)
		}
	}
	if rows[4].Status != "Error" || rows[4].Message != "declined" || rows[4].Duration() != 18*time.Millisecond {
		t.Errorf("payment's span: status %q %q, %v; want Error declined, 18ms", rows[4].Status, rows[4].Message, rows[4].Duration())
	}

	var text bytes.Buffer
	if err := traceview.WriteText(&text, trace.String(), rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if !strings.Contains(lines[0], "6 spans") || !strings.Contains(lines[0], "55.0 ms") {
		t.Errorf("header %q, want 6 spans over 55.0 ms", lines[0])
	}
	if got := lines[len(lines)-2]; !strings.Contains(got, "      payment.v1.PaymentService/Charge") || !strings.Contains(got, "ERROR: declined") {
		t.Errorf("payment's line %q, want it indented three levels and its error", got)
	}
	if got := lines[3]; !strings.Contains(got, "|"+strings.Repeat("█", 29)) {
		t.Errorf("the root's bar in %q, want it from the start over 40 of 55 ms", got)
	}

	var html bytes.Buffer
	if err := traceview.WriteHTML(&html, trace.String(), rows); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	if n := strings.Count(page, "<rect "); n != len(rows) {
		t.Errorf("the page draws %d bars, want %d", n, len(rows))
	}
	if n := strings.Count(page, `class="failed"`); n != 1 {
		t.Errorf("%d failed bars, want 1", n)
	}
	for _, external := range []string{"<script", "src=", "href=", "<link"} {
		if strings.Contains(page, external) {
			t.Errorf("the page has %q: want it self-contained", external)
		}
	}
}

func TestRead_AllTraces(t *testing.T) {
	t.Parallel()
	line := exportLine(t,
		fixture{service: "gateway", name: "a", trace: trace, id: 1, to: time.Millisecond},
		fixture{service: "gateway", name: "b", trace: other, id: 2, to: time.Millisecond})
	spans, err := traceview.Read(bytes.NewReader(line), "")
	if err != nil || len(spans) != 2 {
		t.Errorf("got %d spans, %v; want both traces' 2", len(spans), err)
	}
	if _, err := traceview.Read(strings.NewReader("{not json "+trace.String()+"\n"), trace.String()); err == nil {
		t.Error("a line that is not OTLP/JSON was accepted")
	}
}
