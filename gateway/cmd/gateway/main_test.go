package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// withKey is env with a valid JWT signing key added.
func withKey(env map[string]string) func(string) string {
	return func(k string) string {
		if k == "JWT_SIGNING_KEY" {
			return strings.Repeat("k", 32)
		}
		return env[k]
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string // what the error must say
	}{
		{name: "defaults", want: config{RequestTimeout: 10 * time.Second, RateLimitRPS: 20, RateLimitBurst: 40}},
		{name: "set", env: map[string]string{"REQUEST_TIMEOUT": "30s", "RATE_LIMIT_RPS": "2.5", "RATE_LIMIT_BURST": "5"},
			want: config{RequestTimeout: 30 * time.Second, RateLimitRPS: 2.5, RateLimitBurst: 5}},
		{name: "zero rps", env: map[string]string{"RATE_LIMIT_RPS": "0"}, wantErr: "RATE_LIMIT_RPS"},
		{name: "NaN rps", env: map[string]string{"RATE_LIMIT_RPS": "NaN"}, wantErr: "RATE_LIMIT_RPS"},
		{name: "bad burst", env: map[string]string{"RATE_LIMIT_BURST": "many"}, wantErr: "RATE_LIMIT_BURST"},
		{name: "request timeout not a duration", env: map[string]string{"REQUEST_TIMEOUT": "soon"}, wantErr: "REQUEST_TIMEOUT"},
		{name: "request timeout negative", env: map[string]string{"REQUEST_TIMEOUT": "-1s"}, wantErr: "REQUEST_TIMEOUT"},
		// Shorter than the saga's budget: refused at start, with the budgets named.
		{name: "request timeout does not hold PlaceOrder", env: map[string]string{"REQUEST_TIMEOUT": "5s"}, wantErr: "order.PlaceOrder's budget of 9s"},
		{name: "dev sign-in with the dev issuer", env: map[string]string{"DEV_SIGNIN": "true"},
			want: config{RequestTimeout: 10 * time.Second, RateLimitRPS: 20, RateLimitBurst: 40, DevSignIn: true}},
		// Beside a real identity provider the dev sign-in would hand out
		// tokens to anyone: refused at start.
		{name: "dev sign-in with another issuer", env: map[string]string{"DEV_SIGNIN": "true", "JWT_ISSUER": "https://id.example.com/"}, wantErr: "DEV_SIGNIN"},
		{name: "dev sign-in not a bool", env: map[string]string{"DEV_SIGNIN": "yes please"}, wantErr: "DEV_SIGNIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := settings.Read(withKey(tt.env), readConfig)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.RequestTimeout != tt.want.RequestTimeout || got.RateLimitRPS != tt.want.RateLimitRPS || got.RateLimitBurst != tt.want.RateLimitBurst || got.DevSignIn != tt.want.DevSignIn {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRun_RequiresJWTKey(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DEV_PLAINTEXT": "true", "PEER_TARGETS": "inventory=dns:///inventory:8080,order=dns:///order:8080"}
	err := bootstrap.Run(context.Background(), service, []string{"gateway"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SIGNING_KEY") {
		t.Errorf("got error %v, want one naming JWT_SIGNING_KEY", err)
	}
}

// The gateway does not let gRPC repeat a placement or a cancellation (its
// client does, with the same key), and still repeats the reads.
func TestRetries(t *testing.T) {
	t.Parallel()
	got := retries()["order"]
	for _, m := range got {
		if "/"+m == api.OrderPlaceOrder || "/"+m == api.OrderCancelOrder {
			t.Errorf("the gateway retries %s", m)
		}
	}
	if !slices.Contains(got, strings.TrimPrefix(api.OrderGetOrder, "/")) || len(retries()["inventory"]) != len(api.Idempotent["inventory"]) {
		t.Errorf("retries() = %v, want order's reads and every idempotent inventory method", retries())
	}
}
