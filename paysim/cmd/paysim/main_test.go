package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shopmesh/shopmesh/paysim"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestReadConfig_Invalid(t *testing.T) {
	t.Parallel()
	for _, kv := range []map[string]string{
		{"TLS_CERT_FILE": "cert.pem"},
		{"PAYSIM_ERROR_RATE": "1.5"},
		{"PAYSIM_LATENCY": "later"},
		{"PAYSIM_SEED": "-1"},
	} {
		if _, err := settings.Read(env(kv), readConfig); err == nil {
			t.Errorf("%v: got no error", kv)
		}
	}
}

// TestRun starts paysim with faults from the environment, checks that they
// are in force, and stops it.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, logs := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{
			"LISTEN_ADDR": "127.0.0.1:0", "PAYSIM_API_KEY": "key", "PAYSIM_ERROR_RATE": "1", "PAYSIM_SEED": "42",
		}), logs)
		_ = logs.Close()
	}()
	lines := bufio.NewScanner(out)
	var addr string
	for addr == "" && lines.Scan() {
		var entry struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "paysim listening" {
			addr = entry.Addr
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // keep the logger unblocked
	if addr == "" {
		t.Fatalf("no \"paysim listening\" log line; run: %v", <-done)
	}

	hc, err := httpclient.New(httpclient.Options{Name: "paysim"})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.CloseIdleConnections()
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer key")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer httpclient.DrainAndClose(resp.Body)
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("/v1/charges/ch_1"); status != http.StatusInternalServerError {
		t.Errorf("GET /v1/charges/ch_1: got %d %s, want the injected 500", status, body)
	}
	var f paysim.Faults
	if _, body := get("/admin/faults"); json.Unmarshal([]byte(body), &f) != nil || f.ErrorRate != 1 {
		t.Errorf("GET /admin/faults: got %s, want error_rate 1", strings.TrimSpace(body))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
