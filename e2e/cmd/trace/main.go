// Command trace draws one trace from the collector's file export as a
// waterfall, in the terminal and, with -html, as a self-contained HTML page:
//
//	make trace ID=<trace id>
//
// copies the export out of the running stack's collector and runs
//
//	go run ./e2e/cmd/trace -id <trace id> -in deploy/.build/traces.jsonl -html deploy/.build/trace-<id>.html
//
// An order's trace id is its trace_id in the REST API, and every answer's
// traceparent header and problem body carry the request's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/shopmesh/shopmesh/e2e/traceview"
)

func main() {
	if err := run(context.Background(), os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trace:", err)
		os.Exit(1)
	}
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func run(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	id := fs.String("id", "", "the trace id: 32 hex digits")
	in := fs.String("in", "", "the collector's file export (traces.jsonl)")
	html := fs.String("html", "", "also write the waterfall as an HTML page to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	*id = strings.ToLower(strings.TrimSpace(*id))
	if !traceIDPattern.MatchString(*id) {
		return fmt.Errorf("-id %q: want a trace id, 32 hex digits (an order's trace_id, or the second field of a traceparent)", *id)
	}
	if *in == "" {
		return errors.New("-in: name the collector's export file")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	spans, err := traceview.Read(f, *id)
	if err != nil {
		return err
	}
	if len(spans) == 0 {
		return fmt.Errorf("no span of trace %s in %s: spans reach the collector about a second after the request, and only sampled traces are exported (OTEL_TRACES_SAMPLER)", *id, *in)
	}
	rows := traceview.Waterfall(spans)
	if err := traceview.WriteText(stdout, *id, rows); err != nil {
		return err
	}
	if *html == "" {
		return nil
	}
	out, err := os.Create(*html)
	if err != nil {
		return err
	}
	if err := traceview.WriteHTML(out, *id, rows); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "\nwaterfall page: %s\n", *html)
	return err
}
