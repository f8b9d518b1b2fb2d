package telemetry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/shopmesh/shopmesh/pkg/platform/telemetry"
)

// noEnv is a Getenv for a process with an empty environment.
func noEnv(string) string { return "" }

// setup calls telemetry.Setup and undoes its process-wide side effects when
// the test ends, so tests do not see each other's loggers and providers.
// Tests that call it must not be parallel.
func setup(t *testing.T, cfg telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	prevLogger := slog.Default()
	prevTP, prevMP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	prevErrs := otel.GetErrorHandler()
	t.Cleanup(func() {
		otel.SetErrorHandler(prevErrs)
		slog.SetDefault(prevLogger)
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
		otel.SetTextMapPropagator(prevProp)
	})

	tel, err := telemetry.Setup(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

func TestSetup_Validate(t *testing.T) {
	t.Parallel()
	valid := telemetry.Config{Service: "order", Getenv: noEnv, LogWriter: io.Discard}
	tests := []struct {
		name   string
		mutate func(*telemetry.Config)
		want   string
	}{
		{"no service", func(c *telemetry.Config) { c.Service = "" }, "missing Service"},
		{"no getenv", func(c *telemetry.Config) { c.Getenv = nil }, "missing Getenv"},
		{"no log writer", func(c *telemetry.Config) { c.LogWriter = nil }, "missing LogWriter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.mutate(&cfg)
			tel, err := telemetry.Setup(context.Background(), cfg)
			if err == nil {
				_ = tel.Shutdown(context.Background())
				t.Fatal("Setup succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestSetup_WithoutEndpoint(t *testing.T) {
	t.Run("creates sampled spans and installs globals", func(t *testing.T) {
		var buf bytes.Buffer
		tel := setup(t, telemetry.Config{Service: "order", Version: "1.2.3", Getenv: noEnv, LogWriter: &buf})

		if otel.GetTracerProvider() != tel.TracerProvider {
			t.Error("global tracer provider is not the one Setup returned")
		}
		if otel.GetMeterProvider() != tel.MeterProvider {
			t.Error("global meter provider is not the one Setup returned")
		}
		fields := otel.GetTextMapPropagator().Fields()
		for _, want := range []string{"traceparent", "baggage"} {
			if !strings.Contains(strings.Join(fields, ","), want) {
				t.Errorf("global propagator fields %v lack %q", fields, want)
			}
		}

		ctx, span := otel.Tracer("test").Start(context.Background(), "op")
		defer span.End()
		if !span.SpanContext().IsSampled() {
			t.Error("span is not sampled, want parent-based always-on by default")
		}

		slog.InfoContext(ctx, "via default logger")
		tel.Logger.InfoContext(ctx, "via returned logger")
		lines := decodeLines(t, &buf)
		if len(lines) != 2 {
			t.Fatalf("got %d log lines, want 2: %s", len(lines), buf.String())
		}
		for _, line := range lines {
			if got := line[telemetry.TraceIDKey]; got != span.SpanContext().TraceID().String() {
				t.Errorf("line %q: trace_id = %v, want %s", line["msg"], got, span.SpanContext().TraceID())
			}
			if got := line["service"]; got != "order" {
				t.Errorf("line %q: service = %v, want order", line["msg"], got)
			}
		}
	})

	t.Run("log level filters", func(t *testing.T) {
		var buf bytes.Buffer
		tel := setup(t, telemetry.Config{Service: "order", Getenv: noEnv, LogWriter: &buf, LogLevel: slog.LevelWarn})
		tel.Logger.Info("dropped")
		tel.Logger.Warn("kept")
		if lines := decodeLines(t, &buf); len(lines) != 1 || lines[0]["msg"] != "kept" {
			t.Errorf("got lines %v, want only the warning", lines)
		}
	})

	t.Run("OTEL_TRACES_SAMPLER is honoured", func(t *testing.T) {
		// The SDK reads the process environment itself; this pins the
		// behaviour the package documentation promises.
		t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
		setup(t, telemetry.Config{Service: "order", Getenv: noEnv, LogWriter: io.Discard})
		_, span := otel.Tracer("test").Start(context.Background(), "op")
		defer span.End()
		if span.SpanContext().IsSampled() {
			t.Error("span is sampled, want always_off from OTEL_TRACES_SAMPLER")
		}
		if !span.SpanContext().IsValid() {
			t.Error("span context is invalid, want ids even when not sampled")
		}
	})

	t.Run("Shutdown returns nil and is idempotent", func(t *testing.T) {
		tel := setup(t, telemetry.Config{Service: "order", Getenv: noEnv, LogWriter: io.Discard})
		// The cleanup from setup calls Shutdown a third time.
		for i := range 2 {
			if err := tel.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown call %d: %v", i+1, err)
			}
		}
	})
}

func TestSetup_MetricsHandler(t *testing.T) {
	// A metric in the global default registry must not leak into ours.
	stray := prometheus.NewCounter(prometheus.CounterOpts{Name: "shopmesh_stray_default_registry_total"})
	if err := prometheus.DefaultRegisterer.Register(stray); err != nil {
		t.Fatalf("register stray counter: %v", err)
	}
	t.Cleanup(func() { prometheus.DefaultRegisterer.Unregister(stray) })

	tel := setup(t, telemetry.Config{Service: "order", Getenv: noEnv, LogWriter: io.Discard})
	counter, err := tel.MeterProvider.Meter("shopmesh/test").Int64Counter("shopmesh_test_orders_placed")
	if err != nil {
		t.Fatalf("create counter: %v", err)
	}
	counter.Add(context.Background(), 3)

	rec := httptest.NewRecorder()
	tel.MetricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"shopmesh_test_orders_placed_total{",
		"go_goroutines ",
		`service_name="order"`, // target_info carries the resource
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !hasSample(body, "shopmesh_test_orders_placed_total", "3") {
		t.Errorf("counter sample is not 3 in:\n%s", grepLines(body, "shopmesh_test_orders_placed_total"))
	}
	if strings.Contains(body, "shopmesh_stray_default_registry_total") {
		t.Error("metrics include a counter from prometheus.DefaultRegisterer")
	}
}

// hasSample reports whether a non-comment line of name has value.
func hasSample(body, name, value string) bool {
	for _, line := range strings.Split(grepLines(body, name), "\n") {
		if !strings.HasPrefix(line, "#") && strings.HasSuffix(line, " "+value) {
			return true
		}
	}
	return false
}

// grepLines returns the lines of body that mention s.
func grepLines(body, s string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// collector is an in-process OTLP/gRPC trace collector.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer

	mu       sync.Mutex
	requests []*collectortrace.ExportTraceServiceRequest
}

// Export records the request.
func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// spans returns every received span with its resource's attributes.
func (c *collector) spans() []receivedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []receivedSpan
	for _, req := range c.requests {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, receivedSpan{span: s, resource: rs.GetResource().GetAttributes()})
				}
			}
		}
	}
	return out
}

// receivedSpan is a span as the collector got it.
type receivedSpan struct {
	span     *tracepb.Span
	resource []*commonpb.KeyValue
}

// attr returns the string value of a resource attribute.
func (s receivedSpan) attr(key string) string {
	for _, kv := range s.resource {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// startCollector serves a collector on a loopback port and returns it with
// its address; it is stopped when the test ends.
func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil {
			t.Errorf("collector serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c, lis.Addr().String()
}

func TestSetup_OTLPExport(t *testing.T) {
	c, addr := startCollector(t)
	// The exporter reads the process environment itself, so the variables
	// are set for real and Getenv is os.Getenv, as in a service.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+addr)
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,service.name=not-order")

	tel := setup(t, telemetry.Config{Service: "order", Version: "1.2.3", Getenv: os.Getenv, LogWriter: io.Discard})

	ctx, parent := otel.Tracer("test").Start(context.Background(), "PlaceOrder")
	_, child := otel.Tracer("test").Start(ctx, "Reserve")
	child.End()
	parent.End()

	if got := len(c.spans()); got != 0 {
		// Not an error: the batcher may export early. Worth knowing though.
		t.Logf("%d spans exported before Shutdown", got)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := c.spans()
	if len(spans) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(spans))
	}
	names := map[string]bool{}
	for _, s := range spans {
		names[s.span.GetName()] = true
		if got := s.attr("service.name"); got != "order" {
			t.Errorf("span %q: service.name = %q, want order (Config wins over OTEL_RESOURCE_ATTRIBUTES)", s.span.GetName(), got)
		}
		if got := s.attr("service.version"); got != "1.2.3" {
			t.Errorf("span %q: service.version = %q, want 1.2.3", s.span.GetName(), got)
		}
		if got := s.attr("deployment.environment.name"); got != "test" {
			t.Errorf("span %q: deployment.environment.name = %q, want test from OTEL_RESOURCE_ATTRIBUTES", s.span.GetName(), got)
		}
	}
	if !names["PlaceOrder"] || !names["Reserve"] {
		t.Errorf("collector got spans %v, want PlaceOrder and Reserve", names)
	}
}

func TestSetup_Propagation(t *testing.T) {
	tel := setup(t, telemetry.Config{Service: "gateway", Getenv: noEnv, LogWriter: io.Discard})
	ctx, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "op")
	defer span.End()

	carrier := propagation.HeaderCarrier(http.Header{})
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	tp := carrier.Get("traceparent")
	if !strings.Contains(tp, span.SpanContext().TraceID().String()) {
		t.Errorf("traceparent = %q, want it to carry trace id %s", tp, span.SpanContext().TraceID())
	}
}
