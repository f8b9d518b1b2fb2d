package main

import (
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/shopmesh/shopmesh/e2e/plots"
)

// hopRows are the stacks of the hop benchmarks, in the order drawn: the
// baseline's neighbours first, then shopmesh, then the peer.
var hopRows = []string{"bare-plaintext", "bare-mTLS", "platform", "platform-always-traced", "zrpc"}

// hopGoal is the per-hop overhead shopmesh aims at (docs/benchmarks.md).
const hopGoal = 1.3

const barWidth = 22 // points

func drawHop(results []result, png string) error {
	var labels []string
	var ratios []spread
	for _, row := range hopRows {
		s := spread{median: 1, min: 1, max: 1} // bare mTLS is the unit
		if row != "bare-mTLS" {
			var ok bool
			if s, ok = collect(results, "×mTLS-"+row, endingIn("/ratio")); !ok {
				continue
			}
		}
		labels, ratios = append(labels, row), append(ratios, s)
	}
	if len(labels) < 2 {
		return fmt.Errorf("no ratio sub-benchmark of BenchmarkHop in the input")
	}
	ratio := plot.New()
	ratio.Title.Text = "One gRPC hop, × bare mTLS (medians of the runs; whiskers: least and most)"
	ratio.Y.Label.Text = "time per call, × bare mTLS"
	ratio.Y.Min = 0
	if _, err := addBars(ratio, 0, ratios, plotutil.Color(0), "%.2f×", true); err != nil {
		return err
	}
	if err := addLevel(ratio, len(labels), hopGoal, fmt.Sprintf("goal: %.1f× bare mTLS", hopGoal)); err != nil {
		return err
	}
	ratio.NominalX(labels...)
	frame(ratio, len(labels), ratios)

	// Latency under concurrency: the rows BenchmarkHop runs from 16
	// goroutines (the peer's module runs only the serial call).
	var cLabels []string
	var p50s, p99s []spread
	for _, row := range hopRows {
		p50, ok50 := collect(results, "p50-µs", endingIn("/"+row+"/concurrent"))
		p99, ok99 := collect(results, "p99-µs", endingIn("/"+row+"/concurrent"))
		if ok50 && ok99 {
			cLabels, p50s, p99s = append(cLabels, row), append(p50s, p50), append(p99s, p99)
		}
	}
	if len(cLabels) == 0 {
		return plots.WriteColumn(png, ratio)
	}
	lat, err := latencyPanel("One call among 16 goroutines on 2 cores (median of the runs)", "µs", "%.0f", cLabels, p50s, p99s)
	if err != nil {
		return err
	}
	return plots.WriteColumn(png, ratio, lat)
}

func drawBalancing(results []result, png string) error {
	var balancers []string
	var shares, p50s, p99s []spread
	seen := map[string]bool{}
	for _, r := range results {
		balancer, ok := strings.CutPrefix(r.name, "Balancing/")
		if !ok || seen[balancer] {
			continue
		}
		seen[balancer] = true
		share, ok1 := collect(results, "slow-share-%", named(r.name))
		p50, ok2 := collect(results, "call-p50-ms", named(r.name))
		p99, ok3 := collect(results, "call-p99-ms", named(r.name))
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("%s lacks slow-share-%%, call-p50-ms or call-p99-ms", r.name)
		}
		balancers = append(balancers, balancer)
		shares, p50s, p99s = append(shares, share), append(p50s, p50), append(p99s, p99)
	}
	if len(balancers) == 0 {
		return fmt.Errorf("no BenchmarkBalancing results in the input")
	}
	share := plot.New()
	share.Title.Text = "Calls sent to the instance answering 50 ms late (of 3 instances)"
	share.Y.Label.Text = "% of the calls"
	share.Y.Min = 0
	if _, err := addBars(share, 0, shares, plotutil.Color(0), "%.1f %%", true); err != nil {
		return err
	}
	if err := addLevel(share, len(balancers), 100.0/3, "an even share"); err != nil {
		return err
	}
	share.NominalX(balancers...)
	frame(share, len(balancers), append(shares, spread{max: 100.0 / 3}))

	lat, err := latencyPanel("Latency of a call, 8 workers (median of the runs)", "ms", "%.1f", balancers, p50s, p99s)
	if err != nil {
		return err
	}
	return plots.WriteColumn(png, share, lat)
}

// latencyPanel is a plot of p50 and p99 side by side for each label.
func latencyPanel(title, unit, format string, labels []string, p50s, p99s []spread) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	p.Y.Min = 0
	if err := addGroupedBars(p, []string{"p50", "p99"}, [][]spread{p50s, p99s}, format); err != nil {
		return nil, err
	}
	p.NominalX(labels...)
	frame(p, len(labels), p99s)
	return p, nil
}

// addLevel adds a dashed horizontal line at y across n bars, named in the
// legend: a goal, or what the bars are compared with.
func addLevel(p *plot.Plot, n int, y float64, name string) error {
	line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: y}, {X: float64(n) - 0.5, Y: y}})
	if err != nil {
		return err
	}
	line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(line)
	p.Legend.Add(name, line)
	return nil
}

// addBars adds one bar per spread, its median, at x = 0, 1, …, shifted by
// offset, with the median written above it; with whiskers (only for
// unshifted bars), a line from each spread's least run to its most, and
// the median written above that.
func addBars(p *plot.Plot, offset vg.Length, ss []spread, c color.Color, format string, whiskers bool) (*plotter.BarChart, error) {
	values := make(plotter.Values, len(ss))
	top := make(plotter.XYs, len(ss))
	texts := make([]string, len(ss))
	for i, s := range ss {
		values[i] = s.median
		top[i] = plotter.XY{X: float64(i), Y: s.median}
		if whiskers {
			top[i].Y = s.max
		}
		texts[i] = fmt.Sprintf(format, s.median)
	}
	bars, err := plotter.NewBarChart(values, vg.Points(barWidth))
	if err != nil {
		return nil, err
	}
	bars.Color, bars.Offset, bars.LineStyle.Width = c, offset, 0
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: top, Labels: texts})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = draw.XCenter
	}
	labels.Offset = vg.Point{X: offset, Y: vg.Points(3)}
	p.Add(bars, labels)
	if whiskers {
		return bars, addWhiskers(p, ss)
	}
	return bars, nil
}

// addWhiskers adds, on the bars at x = 0, 1, …, a line from each spread's
// least run to its most.
func addWhiskers(p *plot.Plot, ss []spread) error {
	w := whiskers{XYs: make(plotter.XYs, len(ss)), YErrors: make(plotter.YErrors, len(ss))}
	for i, s := range ss {
		w.XYs[i] = plotter.XY{X: float64(i), Y: s.median}
		w.YErrors[i].Low, w.YErrors[i].High = s.median-s.min, s.max-s.median
	}
	errs, err := plotter.NewYErrorBars(w)
	if err != nil {
		return err
	}
	p.Add(errs)
	return nil
}

// addGroupedBars adds one bar per series at each x, side by side, with a
// legend entry per series.
func addGroupedBars(p *plot.Plot, names []string, series [][]spread, format string) error {
	n := len(series)
	for i, ss := range series {
		offset := vg.Points(barWidth) * (vg.Length(i) - vg.Length(n-1)/2)
		bars, err := addBars(p, offset, ss, plotutil.Color(i), format, false)
		if err != nil {
			return err
		}
		p.Legend.Add(names[i], bars)
	}
	return nil
}

// frame leaves half a bar slot of room on each side of n bars and a fifth
// of the tallest above them, where the legend goes, top left.
func frame(p *plot.Plot, n int, ss []spread) {
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	for _, s := range ss {
		p.Y.Max = max(p.Y.Max, 1.25*s.max)
	}
	p.Legend.Top, p.Legend.Left = true, true
}

// whiskers are error bars from each run's least to its most.
type whiskers struct {
	plotter.XYs
	plotter.YErrors
}
