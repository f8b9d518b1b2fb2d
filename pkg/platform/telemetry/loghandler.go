package telemetry

import (
	"context"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the attributes NewLogHandler adds. They match the names the
// OpenTelemetry log data model and most log backends use for correlation.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// NewLogHandler wraps h so that every record logged with a context holding a
// valid span context gets trace_id and span_id attributes (DESIGN.md seed rule
// 4: every log line made while serving a request carries the trace id).
// Records without a span pass through unchanged.
//
// The ids are always top-level keys, even on a logger derived with WithGroup:
// a backend correlating logs with traces looks for trace_id at the top, not
// under "request.trace_id". To do that, attributes and groups added after the
// first WithGroup are kept by the wrapper and handed to h as nested group
// values with each record, instead of being pre-formatted by h.
func NewLogHandler(h slog.Handler) slog.Handler {
	return &logHandler{next: h}
}

// logHandler is the slog.Handler returned by NewLogHandler.
type logHandler struct {
	// next has every attribute added before the first WithGroup applied.
	next slog.Handler
	// groups are the open groups, outermost first, each with the attributes
	// added while it was the innermost one.
	groups []openGroup
}

// openGroup is a group opened by WithGroup and the attributes added inside it.
type openGroup struct {
	name  string
	attrs []slog.Attr
}

// Enabled defers to the wrapped handler: stamping ids never changes what is
// logged.
func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the trace and span ids from ctx, re-nests the record's
// attributes inside any open groups, and passes the record on.
func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() && len(h.groups) == 0 {
		return h.next.Handle(ctx, r)
	}

	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if sc.IsValid() {
		out.AddAttrs(
			slog.String(TraceIDKey, sc.TraceID().String()),
			slog.String(SpanIDKey, sc.SpanID().String()),
		)
	}

	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	// Wrap from the innermost group outwards. Empty groups are dropped by
	// every conforming handler, as they would have been without the wrapper.
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		inner := make([]slog.Attr, 0, len(g.attrs)+len(attrs))
		inner = append(append(inner, g.attrs...), attrs...)
		attrs = []slog.Attr{{Key: g.name, Value: slog.GroupValue(inner...)}}
	}
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

// WithAttrs returns a handler that keeps stamping ids. Before any group is
// open the attributes go to the wrapped handler, which can pre-format them.
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.groups) == 0 {
		return &logHandler{next: h.next.WithAttrs(attrs)}
	}
	groups := slices.Clone(h.groups)
	last := &groups[len(groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return &logHandler{next: h.next, groups: groups}
}

// WithGroup returns a handler that keeps stamping ids at the top level and
// nests everything added later under name.
func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	groups := append(slices.Clip(h.groups), openGroup{name: name})
	return &logHandler{next: h.next, groups: groups}
}
