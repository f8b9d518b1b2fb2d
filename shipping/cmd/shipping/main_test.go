package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle/runtest"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// devEnv is the environment of a run without TLS or etcd.
func devEnv(kv map[string]string) func(string) string {
	env := map[string]string{
		"DEV_PLAINTEXT": "true", "PEER_TARGETS": "none=dns:///none:1",
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "PROPAGATION_DELAY": "0s",
	}
	for k, v := range kv {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func TestRun_MissingDatabaseURL(t *testing.T) {
	t.Parallel()
	err := bootstrap.Run(t.Context(), service, []string{"shipping"}, devEnv(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required (e.g. postgres://shipping:") {
		t.Errorf("got %v, want an error saying DATABASE_URL is required", err)
	}
}

// TestRun starts the service on a fresh database, waits until /readyz says
// ready, checks that the migrations ran, and stops it.
func TestRun(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	ctx := t.Context()
	proc := runtest.Start(t, func(ctx context.Context, stdout io.Writer) error {
		return bootstrap.Run(ctx, service, []string{"shipping"}, devEnv(map[string]string{"DATABASE_URL": dsn}), stdout)
	})
	if err := lifecycle.Probe(ctx, proc.AdminAddr); err != nil {
		t.Errorf("readiness: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM shipments`).Scan(&n); err != nil {
		t.Errorf("shipments table: %v (migrations not applied?)", err)
	}
	proc.Stop(t)
}
