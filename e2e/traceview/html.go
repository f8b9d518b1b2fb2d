package traceview

import (
	"html/template"
	"io"
	"time"
)

// palette colours the services, in the order they appear (WCAG AA against
// white for the labels drawn in them).
var palette = []string{"#0b5cad", "#1a6b34", "#8a3ffc", "#a3520a", "#007d79", "#b0166a", "#5a6872"}

// Geometry of the SVG, in pixels.
const (
	labelWidth = 420
	plotWidth  = 640
	rowHeight  = 24
	topMargin  = 28
)

type htmlRow struct {
	Row
	Y, X, W, TextY int
	LabelX, EndX   int
	Label          string
	Colour         string
	Start, Length  string
	Failed         bool
}

type htmlPage struct {
	TraceID, Total string
	Services       []legend
	Rows           []htmlRow
	Width, Height  int
	BarHeight      int
	Ticks          []tick
}

type legend struct{ Name, Colour string }

type tick struct {
	X     int
	Label string
}

var page = template.Must(template.New("trace").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>trace {{.TraceID}}</title>
<style>
body { font-family: system-ui, sans-serif; color: #1b1f24; margin: 1.5rem; }
h1 { font-size: 1.2rem; } code { font-family: ui-monospace, monospace; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; }
svg { font: 12px ui-monospace, monospace; max-width: 100%; height: auto; }
.failed { stroke: #a4161a; stroke-width: 2; }
</style></head>
<body>
<h1>Trace <code>{{.TraceID}}</code>: {{len .Rows}} spans, {{.Total}}</h1>
<p class="legend">{{range .Services}}<span><i style="background:{{.Colour}}"></i>{{.Name}}</span>{{end}}</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="waterfall of trace {{.TraceID}}">
{{range .Ticks}}<line x1="{{.X}}" y1="18" x2="{{.X}}" y2="{{$.Height}}" stroke="#d0d7de"/><text x="{{.X}}" y="12" text-anchor="middle" fill="#4a5360">{{.Label}}</text>
{{end}}{{range .Rows}}<g><title>{{.Service}} {{.Name}} ({{.Kind}}): starts at {{.Start}}, takes {{.Length}}, status {{.Status}}{{if .Message}}: {{.Message}}{{end}}</title>
<text x="{{.LabelX}}" y="{{.TextY}}" fill="{{.Colour}}">{{.Label}}</text>
<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{$.BarHeight}}" rx="2" fill="{{.Colour}}"{{if .Failed}} class="failed"{{end}}/>
<text x="{{.EndX}}" y="{{.TextY}}" fill="#1b1f24">{{.Length}}{{if .Failed}} ERROR{{end}}</text></g>
{{end}}</svg>
<p>Drawn by <code>make trace ID={{.TraceID}}</code> from the collector's file export.</p>
</body></html>
`))

// WriteHTML draws rows as a self-contained HTML page: an SVG waterfall on
// the trace's timeline, one row a span, coloured by service, a failed
// span outlined, each row's details in its tooltip.
func WriteHTML(w io.Writer, traceID string, rows []Row) error {
	whole := total(rows)
	colours := map[string]string{}
	var legends []legend
	for i, s := range services(rows) {
		colours[s] = palette[i%len(palette)]
		legends = append(legends, legend{Name: s, Colour: colours[s]})
	}
	scale := func(d int64) int {
		if whole <= 0 {
			return 0
		}
		return int(d * plotWidth / int64(whole))
	}
	p := htmlPage{TraceID: traceID, Total: ms(whole), Services: legends,
		Width: labelWidth + plotWidth + 90, Height: topMargin + len(rows)*rowHeight + 8, BarHeight: rowHeight - 8}
	for i := 0; i <= 4; i++ {
		p.Ticks = append(p.Ticks, tick{X: labelWidth + i*plotWidth/4, Label: ms(whole * time.Duration(i) / 4)})
	}
	for i, r := range rows {
		y := topMargin + i*rowHeight
		x, w := labelWidth+scale(int64(r.Offset)), max(2, scale(int64(r.Duration())))
		p.Rows = append(p.Rows, htmlRow{
			Row: r, Y: y + 4, TextY: y + 16, X: x, W: w, EndX: x + w + 4,
			LabelX: 4 + 12*r.Depth, Label: truncate(r.Service+" "+r.Name, 56-2*r.Depth),
			Colour: colours[r.Service], Start: ms(r.Offset), Length: ms(r.Duration()), Failed: r.Status == "Error",
		})
	}
	return page.Execute(w, p)
}

// truncate shortens s to n characters, marking the cut.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
