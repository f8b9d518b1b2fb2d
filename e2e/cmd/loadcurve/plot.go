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
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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
	img := vgimg.New(18*vg.Centimeter, 22*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadX: vg.Centimeter / 2, PadY: vg.Centimeter}
	canvases := plot.Align([][]*plot.Plot{{goodput}, {latency}}, tiles, dc)
	goodput.Draw(canvases[0][0])
	latency.Draw(canvases[1][0])
	w, err := os.Create(png)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return err
	}
	return w.Close()
}
