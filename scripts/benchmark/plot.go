package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// writePlot draws the end-to-end latency distributions as cumulative
// curves (SVG): x the latency in milliseconds up to the largest p99.5, y the
// share of requests at or below it, with each series' median and p99.
func writePlot(path string, r *report) error {
	e := r.e2e
	const (
		width, height            = 760, 440
		left, right, top, bottom = 70, 20, 50, 120
	)
	colors := []string{"#d62728", "#1f77b4", "#7f7f7f"}
	xMax := 0.0
	for _, name := range e.order {
		xMax = math.Max(xMax, percentile(e.series[name], 99.5))
	}
	xMax = niceCeil(xMax)
	px := func(v float64) float64 { return left + math.Min(v, xMax)/xMax*(width-left-right) }
	py := func(f float64) float64 { return top + (1-f)*(height-top-bottom) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">Authorizer latency, %d requests per series</text>`+"\n", left, len(e.series[e.order[0]]))
	fmt.Fprintf(&b, `<text x="%d" y="40" font-size="12" fill="#555">through %s</text>`+"\n", left, html.EscapeString(e.via))
	// grid and axes
	for i := 0; i <= 10; i++ {
		f := float64(i) / 10
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, py(f), width-right, py(f))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d%%</text>`+"\n", left-6, py(f)+4, i*10)
	}
	step := xMax / 10
	for i := 0; i <= 10; i++ {
		v := float64(i) * step
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", px(v), top, px(v), height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(v), height-bottom+16, trimFloat(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">latency (ms); curves reach 100%% at each series' slowest request (clipped at the right edge)</text>`+"\n", (left+width-right)/2, height-bottom+34)
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">requests at or below</text>`+"\n", (top+height-bottom)/2)
	// curves
	for i, name := range e.order {
		v := slices.Clone(e.series[name])
		slices.Sort(v)
		var pts bytes.Buffer
		for j, x := range v {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(x), py(float64(j+1)/float64(len(v))))
		}
		color := colors[i%len(colors)]
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, pts.String())
		med, p99 := median(v), percentile(v, 99)
		for _, m := range []struct {
			v, f float64
		}{{med, 0.5}, {p99, 0.99}} {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", px(m.v), py(m.f), color)
		}
		y := height - bottom + 56 + i*18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", left, y-4, left+24, y-4, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s: median %.2f ms, p99 %.2f ms</text>`+"\n", left+32, y, html.EscapeString(name), med, p99)
	}
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }
