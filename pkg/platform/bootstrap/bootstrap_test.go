package bootstrap_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
)

func TestProcess_App(t *testing.T) {
	t.Parallel()
	process := func(t *testing.T, delay string) *bootstrap.Process {
		t.Helper()
		cfg, err := bootstrap.LoadConfig("inventory", env(map[string]string{"PROPAGATION_DELAY": delay}))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		return &bootstrap.Process{Config: cfg, Telemetry: &telemetry.Telemetry{}}
	}

	t.Run("propagation delay", func(t *testing.T) {
		tests := []struct {
			env  string
			want func(time.Duration) bool
			desc string
		}{
			{"", func(d time.Duration) bool { return d == time.Second }, "1s"},
			{"250ms", func(d time.Duration) bool { return d == 250*time.Millisecond }, "250ms"},
			{"0s", func(d time.Duration) bool { return d == 0 }, "0 (no wait)"},
		}
		for _, tt := range tests {
			app := process(t, tt.env).App(nil, nil, nil)
			if !tt.want(app.PropagationDelay) {
				t.Errorf("PROPAGATION_DELAY=%q: App.PropagationDelay = %v, want %s", tt.env, app.PropagationDelay, tt.desc)
			}
		}
	})

	t.Run("closers", func(t *testing.T) {
		noop := func(context.Context) error { return nil }
		backing := make([]lifecycle.Closer, 1, 4)
		backing[0] = lifecycle.Closer{Name: "db", Close: noop}
		spare := backing[:2]
		spare[1] = lifecycle.Closer{Name: "caller's own"}

		app := process(t, "").App(nil, nil, nil, backing...)
		var names []string
		for _, c := range app.Closers {
			names = append(names, c.Name)
		}
		want := []string{"db", "peer connections and etcd", "telemetry"}
		if len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
			t.Errorf("closers = %q, want %q: the service's first, telemetry last", names, want)
		}
		if spare[1].Name != "caller's own" {
			t.Errorf("App wrote %q into the caller's slice beyond its length", spare[1].Name)
		}
	})
}

// Without ETCD_ENDPOINTS, PEER_TARGETS names the peers, nothing registers,
// and the service says so in its log.
func TestStart_PeerTargetsFallback(t *testing.T) {
	t.Parallel()
	cfg, err := bootstrap.LoadConfig("order", env(map[string]string{
		"ETCD_ENDPOINTS": "",
		"PEER_TARGETS":   "inventory=dns:///inventory.internal:8080",
		"DEV_PLAINTEXT":  "true",
		"LISTEN_ADDR":    "127.0.0.1:0",
		"ADMIN_ADDR":     "127.0.0.1:0",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	logs := &syncWriter{w: &strings.Builder{}}
	getenv := func(string) string { return "" }
	p, err := bootstrap.Start(t.Context(), cfg, bootstrap.API{}, logs, getenv)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer p.Abort(context.Background())

	if p.Etcd != nil {
		t.Error("an etcd client was made without ETCD_ENDPOINTS")
	}
	if reg, err := p.Registrar(); err != nil || reg != nil {
		t.Errorf("Registrar() = %v, %v; want nil, nil without etcd", reg, err)
	}
	if err := p.PeersReady(t.Context(), "inventory"); err != nil {
		t.Errorf("PeersReady without etcd: %v", err)
	}
	cc, err := p.Conns.Get("inventory")
	if err != nil {
		t.Fatalf("Conns.Get(inventory): %v", err)
	}
	if got := cc.CanonicalTarget(); got != "dns:///inventory.internal:8080" {
		t.Errorf("inventory target %q, want the PEER_TARGETS entry", got)
	}
	if _, err := p.Conns.Get("payment"); err == nil {
		t.Error("Conns.Get(payment) with no PEER_TARGETS entry: got nil error")
	}
	if !strings.Contains(logs.String(), "ETCD_ENDPOINTS is not set") {
		t.Errorf("no warning about the DNS fallback in the log:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*strings.Builder).String()
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
