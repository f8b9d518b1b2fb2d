package order_test

import (
	"testing"
)

func TestService_Place_ReportsReplays(t *testing.T) {
	t.Parallel()
	svc := newService(t, newPeers(t))
	first, replayed, err := svc.Place(t.Context(), request("k-1"))
	if err != nil || replayed {
		t.Fatalf("first Place: replayed=%v, err %v; want a new order", replayed, err)
	}
	again, replayed, err := svc.Place(t.Context(), request("k-1"))
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("repeat: order %q replayed=%v err %v; want order %q replayed", again.ID, replayed, err, first.ID)
	}
	if _, replayed, _ := svc.Place(t.Context(), request("k-2")); replayed {
		t.Error("a new key reported as a replay")
	}
}
