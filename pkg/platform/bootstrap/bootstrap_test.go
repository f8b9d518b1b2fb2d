package bootstrap_test

import (
	"context"
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
			// lifecycle reads 0 as its default of 1s; "no wait" must reach
			// it as a negative delay.
			{"0s", func(d time.Duration) bool { return d < 0 }, "negative (no wait)"},
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
