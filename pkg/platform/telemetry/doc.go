// Package telemetry is the one place a shopmesh process sets up tracing,
// metrics and structured logging.
//
// The rule it enforces (DESIGN.md, seed rule 4): every log line written while
// serving a request carries the trace id, and one trace spans gateway → order →
// inventory/payment → PSP. To make that true without every call site
// remembering it, [Setup] installs process-wide defaults:
//
//   - the global TracerProvider, MeterProvider and the W3C TraceContext+Baggage
//     propagator, because grpcx's tracing interceptors, otelhttp and otelgin
//     read the globals when they are not given providers explicitly, and every platform package
//     relies on that rather than threading providers through constructors;
//   - slog's default logger, a JSON handler wrapped by [NewLogHandler], so even
//     a stray slog.InfoContext in a library is stamped with trace_id and
//     span_id.
//
// # Configuration
//
// Configuration is environment variables only, with the OpenTelemetry names,
// so compose, Kubernetes and tests use the same words:
//
//   - OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turns
//     OTLP/gRPC trace export on. Without either, spans are still created and
//     sampled, so trace ids still appear in logs and propagate to peers, but
//     nothing is exported. The exporter itself reads the rest of the OTLP
//     variables (OTEL_EXPORTER_OTLP_INSECURE, _CERTIFICATE, _CLIENT_CERTIFICATE,
//     _HEADERS, _TIMEOUT, ...).
//   - OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG choose the sampler; the
//     OpenTelemetry SDK reads them itself. Unset, the SDK default applies:
//     parentbased_always_on, which suits a reference system that wants every
//     request traced. A busy deployment sets, for example,
//     OTEL_TRACES_SAMPLER=parentbased_traceidratio and
//     OTEL_TRACES_SAMPLER_ARG=0.1.
//   - OTEL_RESOURCE_ATTRIBUTES adds resource attributes (deployment
//     environment, pod name, ...). service.name and service.version always come
//     from [Config], because the service name is also the identity in the
//     service's certificate and its discovery key; a trace claiming another
//     name would lie.
//
// Only the on/off decision goes through [Config.Getenv]: the OTLP exporter,
// the sampler and the resource detector read the process environment
// themselves (their readers are internal to the OpenTelemetry modules), so a
// service must pass os.Getenv, and tests set variables with t.Setenv.
//
// # Metrics
//
// Metrics are pulled, not pushed: the MeterProvider feeds a Prometheus
// exporter registered in a registry of its own, and [Telemetry.MetricsHandler]
// serves that registry (plus the Go runtime and process collectors) on the
// admin server's /metrics. A dedicated registry keeps whatever a dependency
// registers in prometheus.DefaultRegisterer out of shopmesh's metrics, and lets
// tests run Setup more than once in one process.
//
// # Stopping
//
// [Telemetry.Shutdown] is the last step of the shutdown order in DESIGN.md: it
// flushes buffered spans and stops the batch exporter's goroutine. Call it
// with a context that is not already cancelled (context.WithoutCancel plus a
// timeout), or the final spans are dropped.
package telemetry
