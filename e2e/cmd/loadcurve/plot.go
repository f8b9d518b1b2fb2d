package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/shopmesh/shopmesh/e2e/plots"
)

// drawPlot draws goodput and p99 against the offered rate (as a multiple
// of the saturation rate) for every overload-*.json in dir, into png.
func drawPlot(dir, png string) error {
	files, err := filepath.Glob(filepath.Join(dir, "overload-*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no overload-*.json in %s", dir)
	}
	sort.Strings(files)
	goodput, latency := plot.New(), plot.New()
	goodput.Title.Text = "Goodput: orders confirmed inside their request"
	goodput.X.Label.Text = "offered rate (× the saturation rate)"
	goodput.Y.Label.Text = "orders/s"
	latency.Title.Text = "p99 latency of admitted requests"
	latency.X.Label.Text = "offered rate (× the saturation rate)"
	latency.Y.Label.Text = "ms"
	latency.Y.Scale = plot.LogScale{}
	latency.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	colors := []color.Color{color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, color.RGBA{G: 0x80, A: 0xff}}
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Results
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		gp, lp := make(plotter.XYs, len(r.Curve)), make(plotter.XYs, len(r.Curve))
		for j, s := range r.Curve {
			gp[j] = plotter.XY{X: s.Factor, Y: s.Goodput}
			lp[j] = plotter.XY{X: s.Factor, Y: max(s.P99, 1)}
		}
		name := fmt.Sprintf("OVERLOAD_LIMIT=%s (saturation %.0f/s)", r.Label, r.Saturation)
		for _, p := range []struct {
			plot *plot.Plot
			xys  plotter.XYs
		}{{goodput, gp}, {latency, lp}} {
			line, points, err := plotter.NewLinePoints(p.xys)
			if err != nil {
				return err
			}
			line.Color, points.Color = colors[i%len(colors)], colors[i%len(colors)]
			p.plot.Add(line, points)
			p.plot.Legend.Add(name, line, points)
		}
	}
	goodput.Legend.Top, latency.Legend.Top = true, true
	goodput.Legend.Left, latency.Legend.Left = true, true
	return plots.WriteColumn(png, goodput, latency)
}

// drawCheckout draws one run's latency curves into png: p50, p90 and p99
// of admitted orders against the offered rate, and of catalog reads.
func drawCheckout(file, png string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if r.Reads == nil {
		return fmt.Errorf("%s: no reads: run the reads scenario", file)
	}
	orders := latencyPlot(fmt.Sprintf("POST /v1/orders (saturation %.0f orders/s)", r.Saturation), "orders/s offered", r.Curve)
	readTitle := fmt.Sprintf("GET /v1/products (saturation %.0f reads/s)", r.Reads.Saturation)
	if r.Reads.AtMost {
		readTitle = fmt.Sprintf("GET /v1/products (kept up at %.0f reads/s, the load's limit)", r.Reads.Saturation)
	}
	reads := latencyPlot(readTitle, "reads/s offered", r.Reads.Curve)
	if orders == nil || reads == nil {
		return fmt.Errorf("%s: a curve is empty", file)
	}
	return plots.WriteColumn(png, orders, reads)
}

// latencyPlot plots the p50, p90 and p99 of the admitted requests of each
// step against its offered rate, on a log scale.
func latencyPlot(title, x string, steps []Step) *plot.Plot {
	if len(steps) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, "ms, admitted requests"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	colors := []color.Color{color.RGBA{G: 0x80, A: 0xff}, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}}
	for i, q := range []struct {
		name string
		at   func(Step) float64
	}{{"p50", func(s Step) float64 { return s.P50 }}, {"p90", func(s Step) float64 { return s.P90 }}, {"p99", func(s Step) float64 { return s.P99 }}} {
		xys := make(plotter.XYs, len(steps))
		for j, s := range steps {
			xys[j] = plotter.XY{X: s.Offered, Y: max(q.at(s), 0.1)}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil
		}
		line.Color, points.Color = colors[i], colors[i]
		p.Add(line, points)
		p.Legend.Add(q.name, line, points)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p
}
