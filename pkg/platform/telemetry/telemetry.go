package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The variables that turn OTLP trace export on. Either one is enough; the
// exporter decides which of them wins when both are set.
const (
	envOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// Config describes the process being instrumented. Everything about where
// telemetry goes comes from the standard OTEL_* environment variables (see the
// package documentation), not from fields here.
type Config struct {
	// Service is the service name (service.name, and the "service" attribute
	// on every log line). Required.
	Service string
	// Version is the build's version (service.version). Optional.
	Version string
	// Getenv looks up environment variables; services pass os.Getenv so that
	// only run() touches the process environment. Required. Setup uses it only
	// to decide whether OTLP export is on; the exporter reads the rest of its
	// settings from the process environment itself.
	Getenv func(string) string
	// LogWriter receives the JSON log lines (stdout in services). Required,
	// so that a forgotten writer is an error instead of silently lost logs.
	LogWriter io.Writer
	// LogLevel is the minimum level logged; the zero value is slog.LevelInfo.
	LogLevel slog.Level
}

// validate reports the first missing required field.
func (c Config) validate() error {
	switch {
	case c.Service == "":
		return errors.New("missing Service")
	case c.Getenv == nil:
		return errors.New("missing Getenv")
	case c.LogWriter == nil:
		return errors.New("missing LogWriter")
	}
	return nil
}

// Telemetry holds the providers Setup installed. The providers are also the
// process-wide globals; the fields exist so that code which prefers explicit
// dependencies (and tests) can use them directly.
type Telemetry struct {
	// Logger writes JSON to Config.LogWriter, carries a "service" attribute
	// and stamps trace_id/span_id from the context. It is also slog's default.
	Logger *slog.Logger
	// TracerProvider is the SDK tracer provider, also set as otel's global.
	TracerProvider trace.TracerProvider
	// MeterProvider is the SDK meter provider, also set as otel's global.
	MeterProvider metric.MeterProvider
	// MetricsHandler serves the Prometheus text exposition of this process's
	// metrics, for the admin server's /metrics.
	MetricsHandler http.Handler

	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the tracer provider, meter provider and logger for cfg and
// installs them as the process-wide defaults: otel's global TracerProvider,
// MeterProvider and TextMapPropagator (W3C TraceContext + Baggage), slog's
// default logger and otel's error handler (which then logs through it).
//
// It does not connect to the collector: the OTLP exporter dials lazily, so a
// collector that is down at start-up costs exported spans, not the service.
// The caller owns the result and must call Shutdown.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("telemetry: invalid config: %w", err)
	}

	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}

	// The sampler is deliberately not set here: the SDK reads
	// OTEL_TRACES_SAMPLER itself and defaults to parentbased_always_on, and an
	// explicit WithSampler would silently override the environment.
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exportEnabled(cfg.Getenv) {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: create otlp trace exporter: %w", err)
		}
		// The batcher's goroutine is owned by tp and stopped by tp.Shutdown.
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	mp, metricsHandler, err := newMetrics(res)
	if err != nil {
		// Nothing has been exported yet; shutting down only releases the
		// exporter's connection.
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: set up metrics: %w", err)
	}

	logger := slog.New(NewLogHandler(slog.NewJSONHandler(cfg.LogWriter, &slog.HandlerOptions{
		Level: cfg.LogLevel,
	}))).With(slog.String("service", cfg.Service))

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{},
		propagation.Baggage{},
	))
	// Export failures (collector down, rejected batch) would otherwise go to
	// the standard logger as unstructured text; route them to the JSON log.
	otel.SetErrorHandler(errorLog{logger})
	slog.SetDefault(logger)

	return &Telemetry{
		Logger:         logger,
		TracerProvider: tp,
		MeterProvider:  mp,
		MetricsHandler: metricsHandler,
		tp:             tp,
		mp:             mp,
	}, nil
}

// Shutdown flushes buffered spans to the collector and stops the providers;
// afterwards tracers and meters from them are no-ops. Only the first call
// does the work; later calls return its result, so the lifecycle's ordered
// shutdown and a deferred safety-net call can both invoke it.
//
// ctx bounds the flush: pass one that is not already cancelled.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if err := t.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shut down tracer provider: %w", err))
		}
		if err := t.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// exportEnabled reports whether an OTLP endpoint is configured. Without one
// the exporter would default to localhost:4317 and log a failure every
// batch, which on a laptop without a collector is noise, not telemetry.
func exportEnabled(getenv func(string) string) bool {
	return getenv(envOTLPEndpoint) != "" || getenv(envOTLPTracesEndpoint) != ""
}

// newResource describes this process. The attributes from Config are applied
// last so that they win over OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME:
// the service name is also its certificate identity and discovery key.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []resource.Option{
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(cfg.Service)),
	}
	if cfg.Version != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(cfg.Version)))
	}
	return resource.New(ctx, attrs...)
}

// newMetrics builds a meter provider whose only reader is a Prometheus
// exporter registered in a fresh registry, and the handler that serves it.
func newMetrics(res *resource.Resource) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("register runtime collector: %w", err)
		}
	}

	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("create prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exp),
	)

	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// One failing collector should not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		// Counts scrape errors in the same registry, so they are visible.
		Registry: reg,
	})
	return mp, handler, nil
}

// errorLog is OpenTelemetry's error handler: it writes export failures to
// the JSON log. It serves no request, and outlives the context of Setup.
type errorLog struct{ logger *slog.Logger }

func (l errorLog) Handle(err error) { l.logger.Warn("opentelemetry error", slog.Any("err", err)) }
