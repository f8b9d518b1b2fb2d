package meshtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/discovery"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// poison puts, under the service's prefix and next to it, entries no
// Registrar writes. Those that name an address name trap's: a real
// inventory server with a valid inventory certificate, so only the resolver
// (not TLS) can keep traffic away from it.
func poison(t *testing.T, m *meshtest.Mesh, round string, trap *meshtest.Backend) {
	t.Helper()
	valid := fmt.Sprintf(`{"addr":%q,"version":"poison","started_at":"2026-01-01T00:00:00Z"}`, trap.Addr())
	entries := map[string]string{
		// Not JSON at all, and a key that is not an address.
		discovery.Key(meshtest.Service, "garbage-"+round): "{not json",
		// JSON of the wrong shape.
		discovery.Key(meshtest.Service, "127.0.0.1:1"+round): `{"addr":42}`,
		// A well-formed value whose addr is not its key's: foreign or stale.
		discovery.Key(meshtest.Service, "127.0.0.1:2"+round): valid,
		// The trap's own key, but a value that fails validation.
		discovery.Key(meshtest.Service, trap.Addr()): fmt.Sprintf(`{"addr":%q,"weight":-1}`, trap.Addr()),
		// A valid registration of another service whose name merely starts
		// with this one's: the prefix must end at the slash.
		discovery.Key(meshtest.Service+"-legacy", trap.Addr()): valid,
	}
	for key, value := range entries {
		if _, err := m.KV.Put(t.Context(), key, value); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

// The registry is not trusted: entries that do not decode, do not match
// their key, or name a server that cannot prove it is inventory get no
// traffic, whether the resolver meets them in its first list or in its
// watch, and calls succeed on the genuine instances.
func TestMesh_PoisonedEntriesGetNoTraffic(t *testing.T) {
	m := meshtest.New(t)
	a := m.StartBackend(t, "a")
	b := m.StartBackend(t, "b")
	// Correctly registered under inventory, but presenting payment's
	// certificate: an impostor a registry alone cannot tell apart.
	impostor1 := m.StartBackend(t, "impostor-1", meshtest.WithIdentity("payment"))
	trap1 := m.StartBackend(t, "trap-1", meshtest.Unregistered())
	poison(t, m, "1", trap1)

	client := m.Client(t, "order", grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]})
	calls := runCalls(client, 4, 50, time.Second)

	// The same again while the resolver watches.
	impostor2 := m.StartBackend(t, "impostor-2", meshtest.WithIdentity("payment"))
	trap2 := m.StartBackend(t, "trap-2", meshtest.Unregistered())
	poison(t, m, "2", trap2)
	// Let the watch deliver them and the client try the impostor.
	time.Sleep(300 * time.Millisecond)
	calls = append(calls, runCalls(client, 4, 50, time.Second)...)

	if failed := failures(calls); len(failed) > 0 {
		t.Errorf("%d calls, %s; want all to succeed on a and b", len(calls), describe(failed))
	}
	served := servedBy(calls)
	if served[a.Name()]+served[b.Name()] != len(calls) || served[a.Name()] == 0 || served[b.Name()] == 0 {
		t.Errorf("served %v of %d calls, want all by a and b, both", served, len(calls))
	}
	for _, bad := range []*meshtest.Backend{impostor1, impostor2, trap1, trap2} {
		if n := bad.Calls(); n != 0 {
			t.Errorf("%s (%s) handled %d calls, want 0", bad.Name(), bad.Addr(), n)
		}
		if at := client.Attempts.To(bad.Addr()); len(at) != 0 {
			t.Errorf("the client sent %d attempts to %s (%s), want 0", len(at), bad.Name(), bad.Addr())
		}
	}
	if !t.Failed() {
		t.Logf("%d calls, 0 failed, served %v; impostors and traps handled 0 calls and got 0 attempts", len(calls), served)
	}
}
