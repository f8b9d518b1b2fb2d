package order_test

import (
	"testing"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

func TestStatus_String(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    order.Status
		want string
	}{
		{order.Pending, "PENDING"},
		{order.Confirmed, "CONFIRMED"},
		{order.Rejected, "REJECTED"},
		{order.PaymentDeclined, "PAYMENT_DECLINED"},
		{order.Cancelled, "CANCELLED"},
		{order.Status(0), "UNSPECIFIED"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q, want %q", int(tt.s), got, tt.want)
		}
	}
}

func TestRequestHash(t *testing.T) {
	t.Parallel()
	items := []order.Item{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}}
	base := order.RequestHash("c-1", "tok", items)
	if again := order.RequestHash("c-1", "tok", []order.Item{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}}); again != base {
		t.Errorf("same request hashed to %q and %q, want one hash", base, again)
	}
	others := []struct {
		name     string
		customer string
		token    string
		items    []order.Item
	}{
		{"other customer", "c-2", "tok", items},
		{"other token", "c-1", "tok2", items},
		{"other quantity", "c-1", "tok", []order.Item{{ProductID: "p-1", Quantity: 3}, {ProductID: "p-2", Quantity: 1}}},
		{"fewer items", "c-1", "tok", items[:1]},
		// Field boundaries are delimited: moving characters between fields
		// must change the hash.
		{"shifted boundary", "c-1t", "ok", items},
		{"product and quantity run together", "c-1", "tok", []order.Item{{ProductID: "p-12", Quantity: 1}, {ProductID: "p-2", Quantity: 1}}},
	}
	for _, tt := range others {
		if got := order.RequestHash(tt.customer, tt.token, tt.items); got == base {
			t.Errorf("%s: got the same hash as the base request, want another", tt.name)
		}
	}
}

func TestOrder_Clone(t *testing.T) {
	t.Parallel()
	o := order.Order{
		Items:   []order.Item{{ProductID: "p-1", Quantity: 1}},
		Lines:   []order.Line{{ProductID: "p-1", Quantity: 1}},
		History: []order.Event{{Step: "created"}},
	}
	c := o.Clone()
	c.Items[0].Quantity, c.Lines[0].Quantity, c.History[0].Step = 9, 9, "changed"
	if o.Items[0].Quantity != 1 || o.Lines[0].Quantity != 1 || o.History[0].Step != "created" {
		t.Errorf("changing the clone changed the original: %+v", o)
	}
}
