package order

import (
	"os"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// judges are the saga's verdicts on each peer method it calls.
var judges = map[string]func(error) verdict{
	inventoryv1.InventoryService_Reserve_FullMethodName: reserveVerdict,
	inventoryv1.InventoryService_Commit_FullMethodName:  commitVerdict,
	inventoryv1.InventoryService_Release_FullMethodName: releaseVerdict,
	paymentv1.PaymentService_Charge_FullMethodName:      func(err error) verdict { return chargeVerdict(ChargeResult{}, err) },
	paymentv1.PaymentService_Refund_FullMethodName:      refundVerdict,
}

// TestVerdicts_EveryDeclaredRefusal fails when a peer declares a refusal
// (api.Refusals) that the saga has no explicit answer for, or a method the
// saga has no verdict on: the contract between the services is checked
// here, not left to chance in production.
func TestVerdicts_EveryDeclaredRefusal(t *testing.T) {
	t.Parallel()
	for method, refusals := range api.Refusals {
		judge, ok := judges[method]
		if !ok {
			t.Errorf("%s declares refusals but the saga has no verdict on it", method)
			continue
		}
		for _, r := range refusals {
			err := apperr.New(r.Code, "declared refusal")
			if r.Reason != "" {
				err = err.WithReason(r.Reason)
			}
			if v := judge(err); v.kind == unexpected || v.kind == retry {
				t.Errorf("%s: refusal %s %q is final for the request, but the saga would retry it", method, r.Code, r.Reason)
			}
		}
		// Availability is retried, for every method.
		for _, code := range []apperr.Code{apperr.Unavailable, apperr.Timeout, apperr.Aborted, apperr.Internal} {
			if v := judge(apperr.New(code, "outage")); v.kind != retry {
				t.Errorf("%s: %s got verdict %d, want retry", method, code, v.kind)
			}
		}
		// Anything else is unexpected, not silently taken as success.
		if v := judge(apperr.New(apperr.PermissionDenied, "undeclared")); v.kind != unexpected {
			t.Errorf("%s: an undeclared refusal got verdict %d, want unexpected", method, v.kind)
		}
	}
	for method := range judges {
		if _, ok := api.Refusals[method]; !ok {
			t.Errorf("the saga judges %s, whose refusals api.Refusals does not declare", method)
		}
	}
}

// TestDiagram_InDocs keeps docs/order-states.md's drawing of the state
// machine the same as Transitions.
func TestDiagram_InDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/order-states.md")
	if err != nil {
		t.Fatalf("read the docs: %v", err)
	}
	want := "```mermaid\n" + Diagram() + "```\n"
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/order-states.md does not hold the current diagram; put this in it:\n%s", want)
	}
}

func TestCanTransition(t *testing.T) {
	t.Parallel()
	for _, from := range Statuses {
		if !CanTransition(from, from) {
			t.Errorf("%s to itself refused: recording a step must always be possible", from)
		}
	}
	for _, tt := range []struct {
		from, to Status
		want     bool
	}{
		{Pending, Confirmed, true},
		{Confirmed, Cancelling, true},
		{Confirmed, Cancelled, false}, // a cancellation is recorded before it is made
		{Pending, Cancelled, false},
		{Cancelled, Confirmed, false},
		{Rejected, Pending, false},
		{NeedsAttention, Pending, true},
		{NeedsAttention, Confirmed, false},
	} {
		if got := CanTransition(tt.from, tt.to); got != tt.want {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
	for _, st := range Statuses {
		parsed, err := ParseStatus(st.String())
		if err != nil || parsed != st {
			t.Errorf("ParseStatus(%q) = %v, %v", st.String(), parsed, err)
		}
	}
}
