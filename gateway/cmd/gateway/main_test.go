package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		rps        float64
		burst      int
		wantErrFor string
	}{
		{"defaults", nil, 20, 40, ""},
		{"set", map[string]string{"RATE_LIMIT_RPS": "2.5", "RATE_LIMIT_BURST": "5"}, 2.5, 5, ""},
		{"zero rps", map[string]string{"RATE_LIMIT_RPS": "0"}, 0, 0, "RATE_LIMIT_RPS"},
		{"NaN rps", map[string]string{"RATE_LIMIT_RPS": "NaN"}, 0, 0, "RATE_LIMIT_RPS"},
		{"bad burst", map[string]string{"RATE_LIMIT_BURST": "many"}, 0, 0, "RATE_LIMIT_BURST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rps, burst, err := rateLimit(func(k string) string { return tt.env[k] })
			if tt.wantErrFor != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrFor) {
					t.Errorf("got error %v, want one naming %s", err, tt.wantErrFor)
				}
				return
			}
			if err != nil || rps != tt.rps || burst != tt.burst {
				t.Errorf("got %v, %d, %v; want %v, %d", rps, burst, err, tt.rps, tt.burst)
			}
		})
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr string
	}{
		{"default", "", 10 * time.Second, ""},
		{"longer", "30s", 30 * time.Second, ""},
		{"not a duration", "soon", 0, "REQUEST_TIMEOUT"},
		{"negative", "-1s", 0, "REQUEST_TIMEOUT"},
		// Shorter than the saga's budget: refused at start, with the budgets named.
		{"does not hold PlaceOrder", "5s", 0, "order.PlaceOrder's budget of 9s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := requestTimeout(func(string) string { return tt.value })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestRun_RequiresJWTKey(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DEV_PLAINTEXT": "true", "PEER_TARGETS": "inventory=dns:///inventory:8080,order=dns:///order:8080"}
	err := run(context.Background(), []string{"gateway"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SIGNING_KEY") {
		t.Errorf("got error %v, want one naming JWT_SIGNING_KEY", err)
	}
}
