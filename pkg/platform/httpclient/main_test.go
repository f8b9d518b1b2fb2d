package httpclient_test

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

// spans records every span the package's tests end. The client uses otel's
// globals, as it does in a service after telemetry.Setup; they are set once
// here so no test races another over them.
var spans = tracetest.NewSpanRecorder()

// TestMain installs the global tracer provider and W3C propagator, and fails
// the package if a test leaves a goroutine (a pooled connection's reader or
// writer) behind.
func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
	))
	goleak.VerifyTestMain(m)
}
