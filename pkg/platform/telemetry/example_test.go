package telemetry_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
)

// A service's run function sets telemetry up first and shuts it down last.
// Export turns on when OTEL_EXPORTER_OTLP_ENDPOINT is set in the environment.
func ExampleSetup() {
	ctx := context.Background() // in a service: run's ctx, cancelled on SIGTERM

	tel, err := telemetry.Setup(ctx, telemetry.Config{
		Service:   "order",
		Version:   "1.4.0",
		Getenv:    os.Getenv,
		LogWriter: os.Stdout,
	})
	if err != nil {
		slog.Error("set up telemetry", "err", err)
		return
	}
	defer func() {
		// ctx may already be cancelled by the signal that stops us; the
		// final flush gets its own short budget.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			tel.Logger.Error("shut down telemetry", "err", err)
		}
	}()

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", tel.MetricsHandler)

	// Handlers log with the request's context; the record gets trace_id and
	// span_id from the span grpcx or otelhttp started.
	slog.InfoContext(ctx, "order service started")
}

// NewLogHandler wraps any slog handler. The ids stay top-level even on a
// logger with a group, where log backends look for them.
func ExampleNewLogHandler() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time so the output is stable.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	log := slog.New(telemetry.NewLogHandler(h)).WithGroup("req")

	// Normally the span comes from instrumentation; a fixed one keeps the
	// ids stable here.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	log.InfoContext(ctx, "reserved", "order", "o-42")
	log.InfoContext(context.Background(), "no span, no ids")
	// Output:
	// {"level":"INFO","msg":"reserved","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","req":{"order":"o-42"}}
	// {"level":"INFO","msg":"no span, no ids"}
}
