package httpapi_test

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"
)

// TestMain installs what telemetry.Setup installs in the gateway: a W3C
// propagator and a recording tracer provider, so otelgin continues incoming
// traces. They are globals, so they are set once here and no test races
// another over them. It also fails the package if a goroutine leaks.
func TestMain(m *testing.M) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	goleak.VerifyTestMain(m)
}
