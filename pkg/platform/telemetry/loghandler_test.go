package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
)

// newTracer returns a tracer backed by an in-memory SDK provider, so spans
// have real, random ids without any exporter.
func newTracer(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("shut down tracer provider: %v", err)
		}
	})
	return rec, tp
}

// decodeLines parses JSON log output, one object per line.
func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("decode log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestNewLogHandler_Stamp(t *testing.T) {
	t.Parallel()

	t.Run("adds the active span's ids", func(t *testing.T) {
		t.Parallel()
		rec, tp := newTracer(t)
		var buf bytes.Buffer
		log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil)))

		ctx, span := tp.Tracer("test").Start(context.Background(), "op")
		log.InfoContext(ctx, "reserved", "items", 2)
		span.End()

		ended := rec.Ended()
		if len(ended) != 1 {
			t.Fatalf("got %d ended spans, want 1", len(ended))
		}
		want := ended[0].SpanContext()
		lines := decodeLines(t, &buf)
		if len(lines) != 1 {
			t.Fatalf("got %d log lines, want 1", len(lines))
		}
		if got := lines[0][telemetry.TraceIDKey]; got != want.TraceID().String() {
			t.Errorf("trace_id = %v, want %s", got, want.TraceID())
		}
		if got := lines[0][telemetry.SpanIDKey]; got != want.SpanID().String() {
			t.Errorf("span_id = %v, want %s", got, want.SpanID())
		}
		if got := lines[0]["items"]; got != float64(2) {
			t.Errorf("items = %v, want 2", got)
		}
	})

	t.Run("adds nothing without a span", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil)))

		log.InfoContext(context.Background(), "started")
		log.Info("no context at all")

		for _, line := range decodeLines(t, &buf) {
			for _, k := range []string{telemetry.TraceIDKey, telemetry.SpanIDKey} {
				if v, ok := line[k]; ok {
					t.Errorf("line %q has %s=%v, want none", line["msg"], k, v)
				}
			}
		}
	})

	t.Run("WithAttrs and WithGroup keep stamping at the top level", func(t *testing.T) {
		t.Parallel()
		_, tp := newTracer(t)
		var buf bytes.Buffer
		log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil)))

		ctx, span := tp.Tracer("test").Start(context.Background(), "op")
		defer span.End()
		traceID := span.SpanContext().TraceID().String()

		log.With("order", "o-1").InfoContext(ctx, "attrs")
		log.WithGroup("req").With("method", "GET").WithGroup("peer").With("svc", "inventory").
			InfoContext(ctx, "groups", "status", 200)

		lines := decodeLines(t, &buf)
		if len(lines) != 2 {
			t.Fatalf("got %d log lines, want 2", len(lines))
		}
		for _, line := range lines {
			if got := line[telemetry.TraceIDKey]; got != traceID {
				t.Errorf("line %q: trace_id = %v, want %s", line["msg"], got, traceID)
			}
		}
		if got := lines[0]["order"]; got != "o-1" {
			t.Errorf("order = %v, want o-1", got)
		}
		req, _ := lines[1]["req"].(map[string]any)
		peer, _ := req["peer"].(map[string]any)
		if req["method"] != "GET" || peer["svc"] != "inventory" || peer["status"] != float64(200) {
			t.Errorf("groups = %v, want req.method=GET, req.peer.svc=inventory, req.peer.status=200", lines[1]["req"])
		}
	})
}

// TestNewLogHandler_Conformance runs the standard library's handler test
// suite: re-nesting groups inside the wrapper must not change what the
// wrapped handler would have written.
func TestNewLogHandler_Conformance(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf.Reset()
		return telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		lines := decodeLines(t, &buf)
		if len(lines) != 1 {
			t.Fatalf("got %d log lines, want 1", len(lines))
		}
		return lines[0]
	})
}
