package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A line of the collector's export: one gateway span of trace 4bf9…4736.
const exportLine = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gateway"}}]},"scopeSpans":[{"scope":{},"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"POST /v1/orders","kind":2,"startTimeUnixNano":"1765108800000000000","endTimeUnixNano":"1765108800045000000","status":{}}]}]}]}` + "\n"

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "traces.jsonl")
	if err := os.WriteFile(in, []byte(exportLine), 0o600); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "trace.html")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"trace", "-id", "4BF92F3577B34DA6A3CE929D0E0E4736", "-in", in, "-html", html}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "POST /v1/orders") || !strings.Contains(out.String(), "45.0 ms") {
		t.Errorf("output %q, want the gateway's span of 45 ms", out.String())
	}
	if page, err := os.ReadFile(html); err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("HTML page: %v, want an SVG waterfall", err)
	}

	for name, args := range map[string][]string{
		"not a trace id": {"trace", "-id", "xyz", "-in", in},
		"no file":        {"trace", "-id", "4bf92f3577b34da6a3ce929d0e0e4736"},
		"unknown trace":  {"trace", "-id", "0af7651916cd43dd8448eb211c80319c", "-in", in},
	} {
		if err := run(t.Context(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
