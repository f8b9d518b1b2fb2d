package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
)

func TestRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{"JWT_SIGNING_KEY": strings.Repeat("d", 32)}
	getenv := func(k string) string { return env[k] }

	t.Run("prints a token the gateway accepts", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"devtoken", "-sub", "bob", "-roles", "admin, ops", "-ttl", "5m"}, getenv, &out); err != nil {
			t.Fatal(err)
		}
		cfg, _ := settings.Read(getenv, auth.ReadConfig)
		v, err := auth.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		id, err := v.Verify(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("verify the printed token: %v", err)
		}
		if id.Subject != "bob" || !id.HasRole("admin") || !id.HasRole("ops") {
			t.Errorf("got %+v, want bob with roles admin and ops", id)
		}
	})

	for name, args := range map[string][]string{
		"no key":       {"devtoken"},
		"bad subject":  {"devtoken", "-sub", "b o b"},
		"negative ttl": {"devtoken", "-ttl", "-1m"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ge := getenv
			if name == "no key" {
				ge = func(string) string { return "" }
			}
			if err := run(context.Background(), args, ge, &bytes.Buffer{}); err == nil {
				t.Error("got no error")
			}
		})
	}
}
