package httpapi_test

import (
	"fmt"
	"os"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"
)

// TestMain installs what telemetry.Setup installs in the gateway: a W3C
// propagator and a recording tracer provider, so otelgin continues incoming
// traces. They are globals, so they are set once here and no test races
// another over them. It also fails the package if a goroutine leaks, or if a test saw a
// status the OpenAPI document does not declare for its operation.
func TestMain(m *testing.M) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	code := m.Run()
	if code == 0 {
		// Only after every test ran: the statuses they saw must all be
		// in the OpenAPI document.
		if err := checkObserved(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
