package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// point is one value of a series at time T; a gap in a series (a bucket
// without data) is simply a missing point.
type point struct {
	T time.Time
	V float64
}

type series struct {
	Name  string // legend text
	Class string // CSS class: colour and dash pattern
	Pts   []point
}

// chart is a line chart of latencies over [From, To), drawn as SVG in Go
// so that the page needs no charting script.
type chart struct {
	Label    string // accessible name
	From, To time.Time
	Step     time.Duration // bucket width: points further apart are a gap
	Series   []series
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 640, 170
	padLeft, padRight, padTop, padBott = 52, 8, 8, 22
)

// Points counts the points of all series.
func (c chart) Points() int {
	n := 0
	for _, s := range c.Series {
		n += len(s.Pts)
	}
	return n
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
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

func fnum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG draws the chart.
func (c chart) SVG() template.HTML {
	var b strings.Builder
	top := 0.0
	for _, s := range c.Series {
		for _, p := range s.Pts {
			top = max(top, p.V)
		}
	}
	ymax := niceMax(top * 1.05)
	span := c.To.Sub(c.From).Seconds()
	if span <= 0 {
		span = 1
	}
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBott)
	x := func(t time.Time) float64 { return padLeft + plotW*t.Sub(c.From).Seconds()/span }
	y := func(v float64) float64 { return padTop + plotH*(1-v/ymax) }

	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" data-points="%d">`,
		chartW, chartH, html.EscapeString(c.Label), c.Points())
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(c.Label))
	// Horizontal grid with the y scale.
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%s" y2="%s"/>`, padLeft, chartW-padRight, fnum(y(v)), fnum(y(v)))
		fmt.Fprintf(&b, `<text class="ylab" x="%d" y="%s">%s</text>`, padLeft-4, fnum(y(v)+4), html.EscapeString(axisMS(v)))
	}
	// Time ticks; the script rewrites their text in the viewer's zone.
	layout := "15:04"
	if c.To.Sub(c.From) > 48*time.Hour {
		layout = "Jan 2"
	}
	for i := 0; i <= 4; i++ {
		t := c.From.Add(time.Duration(float64(c.To.Sub(c.From)) * float64(i) / 4))
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="xlab" x="%s" y="%d" text-anchor="%s" data-ts="%d" data-fmt="%s"><title>%s</title>%s</text>`,
			fnum(x(t)), chartH-6, anchor, t.UnixMilli(), map[bool]string{true: "day", false: "time"}[layout == "Jan 2"],
			t.UTC().Format("2006-01-02 15:04 UTC"), t.UTC().Format(layout))
	}
	if c.Points() == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle">no data in this range</text>`, chartW/2, chartH/2)
	}
	for _, s := range c.Series {
		for _, run := range splitGaps(s.Pts, c.Step) {
			var pts strings.Builder
			for i, p := range run {
				if i > 0 {
					pts.WriteByte(' ')
				}
				pts.WriteString(fnum(x(p.T)) + "," + fnum(y(p.V)))
			}
			if len(run) == 1 {
				// A lone point has no line: draw it as a dot.
				fmt.Fprintf(&b, `<circle class="%s" cx="%s" cy="%s" r="2"/>`, s.Class, fnum(x(run[0].T)), fnum(y(run[0].V)))
			}
			fmt.Fprintf(&b, `<polyline class="%s" data-series="%s" points="%s"/>`, s.Class, html.EscapeString(s.Name), pts.String())
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// splitGaps cuts a series where consecutive points are more than 1.5
// buckets apart, so that a line is not drawn across missing data.
func splitGaps(pts []point, step time.Duration) [][]point {
	var runs [][]point
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i == len(pts) || (step > 0 && pts[i].T.Sub(pts[i-1].T) > step*3/2) {
			if i > start {
				runs = append(runs, pts[start:i])
			}
			start = i
		}
	}
	return runs
}

func axisMS(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'g', 3, 64) + "s"
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "ms"
}
