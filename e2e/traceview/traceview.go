// Package traceview reads the spans shopmesh's collector writes to its file
// export (one OTLP/JSON ExportTraceServiceRequest a line, decoded with the
// collector's own pdata) and draws one trace as a waterfall: service,
// operation, start offset, duration and status of every span, indented
// under its parent, as text for a terminal and as a self-contained HTML
// page with an SVG. No trace viewer's UI can be built here; this is
// enough to see where a request's time went.
package traceview

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Span is one span of the export.
type Span struct {
	TraceID  string // 32 lowercase hex digits
	SpanID   string
	ParentID string // "" for a root
	Service  string // the resource's service.name
	Name     string
	Kind     string // Server, Client, Internal, ...
	Start    time.Time
	End      time.Time
	// Status is "Unset", "Ok" or "Error"; Message says why for an error.
	Status  string
	Message string
}

// Duration is how long the span took.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Read returns the spans of every complete line of r, or with a non-empty
// traceID only that trace's. A last line without its newline is one the
// collector is still writing and is left for a later read.
func Read(r io.Reader, traceID string) ([]Span, error) {
	traceID = strings.ToLower(traceID)
	var (
		spans []Span
		u     ptrace.JSONUnmarshaler
	)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return spans, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the collector's export: %w", err)
		}
		// The ids are hex in the file: a line that does not name the trace
		// holds none of its spans and is not decoded.
		if len(bytes.TrimSpace(line)) == 0 || traceID != "" && !bytes.Contains(line, []byte(traceID)) {
			continue
		}
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			return nil, fmt.Errorf("decode the collector's export: %w", err)
		}
		spans = appendSpans(spans, td, traceID)
	}
}

func appendSpans(out []Span, td ptrace.Traces, traceID string) []Span {
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				id := sp.TraceID().String()
				if traceID != "" && id != traceID {
					continue
				}
				parent := ""
				if !sp.ParentSpanID().IsEmpty() {
					parent = sp.ParentSpanID().String()
				}
				out = append(out, Span{
					TraceID: id, SpanID: sp.SpanID().String(), ParentID: parent,
					Service: service, Name: sp.Name(), Kind: sp.Kind().String(),
					Start: sp.StartTimestamp().AsTime(), End: sp.EndTimestamp().AsTime(),
					Status: sp.Status().Code().String(), Message: sp.Status().Message(),
				})
			}
		}
	}
	return out
}

// Row is a span in its place in the waterfall.
type Row struct {
	Span
	Depth  int           // how many ancestors it has in the trace
	Offset time.Duration // from the trace's first start
}

// Waterfall orders spans as a tree, each span after its parent and its
// siblings by start time; a span whose parent is not among them (not
// exported yet, or from a caller outside) starts a tree of its own.
func Waterfall(spans []Span) []Row {
	if len(spans) == 0 {
		return nil
	}
	byID := map[string]bool{}
	start := spans[0].Start
	for _, s := range spans {
		byID[s.SpanID] = true
		if s.Start.Before(start) {
			start = s.Start
		}
	}
	children := map[string][]Span{}
	var roots []Span
	for _, s := range spans {
		if s.ParentID != "" && byID[s.ParentID] && s.ParentID != s.SpanID {
			children[s.ParentID] = append(children[s.ParentID], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b Span) int { return a.Start.Compare(b.Start) }
	rows := make([]Row, 0, len(spans))
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		rows = append(rows, Row{Span: s, Depth: depth, Offset: s.Start.Sub(start)})
		kids := children[s.SpanID]
		slices.SortStableFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortStableFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	return rows
}

// total is the time from the first start to the last end of rows.
func total(rows []Row) time.Duration {
	var end time.Duration
	for _, r := range rows {
		end = max(end, r.Offset+r.Duration())
	}
	return end
}

// services lists the services of rows in their first appearance's order.
func services(rows []Row) []string {
	var out []string
	for _, r := range rows {
		if !slices.Contains(out, r.Service) {
			out = append(out, r.Service)
		}
	}
	return out
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
