package dashboard

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
)

// pageNames are the templates/<name>.html files; each is parsed with
// templates/layout.html.
var pageNames = []string{"overview", "endpoint", "region", "vantages", "alerts", "report", "login", "error"}

var funcs = template.FuncMap{
	// when renders a time as UTC, with the machine-readable instant for
	// the script that rewrites it in the viewer's zone; hovering shows UTC.
	"when": func(t time.Time) template.HTML {
		if t.IsZero() {
			return "never"
		}
		u := t.UTC()
		return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
			u.Format(time.RFC3339), u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04:05 UTC")))
	},
	"ago":   ago,
	"pct":   pct,
	"ms":    ms,
	"avail": availability,
	"join":  strings.Join,
	"asns": func(a []uint32) string {
		s := make([]string, len(a))
		for i, n := range a {
			s[i] = "AS" + strconv.FormatUint(uint64(n), 10)
		}
		return strings.Join(s, ", ")
	},
	"newasns": func(a []alerting.ASN) string {
		s := make([]string, len(a))
		for i, n := range a {
			s[i] = "AS" + strconv.FormatUint(uint64(n.Number), 10)
			if n.Name != "" {
				s[i] += " " + n.Name
			}
		}
		return strings.Join(s, ", ")
	},
	"add":      func(a, b int) int { return a + b },
	"weighted": weighted,
}

func parseTemplates() (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}
