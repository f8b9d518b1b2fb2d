package traceview

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// barWidth is the width of the text waterfall's timeline, in characters.
const barWidth = 40

// WriteText draws rows for a terminal: one line a span, its operation
// indented under its parent, and a bar placed on the trace's timeline.
func WriteText(w io.Writer, traceID string, rows []Row) error {
	whole := total(rows)
	if _, err := fmt.Fprintf(w, "trace %s: %d spans from %s, %s\n\n", traceID, len(rows),
		strings.Join(services(rows), ", "), ms(whole)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tOPERATION\tSTART\tDURATION\tSTATUS\t")
	for _, r := range rows {
		status := "ok" // Unset or Ok: nothing went wrong
		if r.Status == "Error" {
			status = "ERROR"
			if r.Message != "" {
				status += ": " + r.Message
			}
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\t|%s|\n", r.Service, strings.Repeat("  ", r.Depth), r.Name,
			ms(r.Offset), ms(r.Duration()), status, bar(r, whole))
	}
	return tw.Flush()
}

// bar is r's place on a timeline of barWidth characters: at least one
// character, so the shortest span is seen.
func bar(r Row, whole time.Duration) string {
	if whole <= 0 {
		return strings.Repeat("█", barWidth)
	}
	from := int(int64(r.Offset) * barWidth / int64(whole))
	n := max(1, int(int64(r.Duration())*barWidth/int64(whole)))
	from = min(from, barWidth-1)
	n = min(n, barWidth-from)
	return strings.Repeat(" ", from) + strings.Repeat("█", n) + strings.Repeat(" ", barWidth-from-n)
}
