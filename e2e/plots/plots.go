// Package plots writes the benchmarks' PNG figures (docs/*.png): the load
// driver's curves (cmd/loadcurve) and the Go benchmarks' bars
// (cmd/benchplot), drawn with gonum/plot.
package plots

import (
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteColumn draws plots one above the other, aligned, into a PNG file.
func WriteColumn(png string, plots ...*plot.Plot) error {
	img := vgimg.New(18*vg.Centimeter, vg.Length(len(plots))*11*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadX: vg.Centimeter / 2, PadY: vg.Centimeter}
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
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
