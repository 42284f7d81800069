package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/prober"
)

// docBlock is a ```yaml block of the documentation.
type docBlock struct {
	where string // file:line of its first line
	text  string
}

// yamlBlocks returns the YAML examples of README.md and docs/*.md.
func yamlBlocks(t *testing.T) []docBlock {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	var blocks []docBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		var cur *docBlock
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			switch {
			case cur == nil && strings.TrimSpace(line) == "```yaml":
				cur = &docBlock{where: fmt.Sprintf("%s:%d", strings.TrimPrefix(f, "../../"), n+1)}
			case cur != nil && strings.TrimSpace(line) == "```":
				blocks = append(blocks, *cur)
				cur = nil
			case cur != nil:
				cur.text += line + "\n"
			}
		}
	}
	return blocks
}

// Every YAML example in the documentation loads in the command it belongs
// to, so that a reader can copy it: endpoint files (and the fragments of
// one: a checks list, an alert block) through `picket endpoints apply
// --dry-run` against a real collector, collector.yaml and prober.yaml
// through their loaders. A block with a line that is only "..." is an
// excerpt and is skipped.
func TestDocsYAMLExamplesLoad(t *testing.T) {
	hs := startCollector(t)
	admin := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	code, out, errs := cli(t, admin, "teams", "add", "docs")
	if code != exitOK {
		t.Fatalf("teams add: %d %s", code, errs)
	}
	team := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": strings.TrimSpace(out)}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("pkv_docs\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	kinds := map[string]int{}
	for i, b := range yamlBlocks(t) {
		if slices.ContainsFunc(strings.Split(b.text, "\n"), func(l string) bool { return strings.TrimSpace(l) == "..." }) {
			continue
		}
		var top map[string]any
		if err := yaml.Unmarshal([]byte(b.text), &top); err != nil {
			t.Errorf("%s: not YAML: %v", b.where, err)
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("block%d.yaml", i))
		text := b.text
		var kind string
		switch {
		case top["endpoints"] != nil:
			kind = "endpoints"
		case top["checks"] != nil:
			kind = "checks"
			text = "endpoints:\n  - name: docs-checks\n    target: https://api.example.com/health\n" + indent(text)
		case top["alert"] != nil:
			kind = "alert"
			text = "endpoints:\n  - name: docs-alert\n    target: https://api.example.com/health\n    checks: [{kind: http}]\n" + indent(text)
		case top["vantage"] != nil:
			kind = "prober"
			text = strings.ReplaceAll(text, "/etc/picket/token", token)
		default:
			kind = "collector"
		}
		kinds[kind]++
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "endpoints", "checks", "alert":
			if code, _, errs := cli(t, team, "endpoints", "apply", "--dry-run", "-f", file); code != exitOK {
				t.Errorf("%s: picket endpoints apply refuses the example (%s): %s", b.where, kind, errs)
			}
		case "prober":
			if _, err := prober.LoadConfig(file); err != nil {
				t.Errorf("%s: prober.yaml example: %v", b.where, err)
			}
		case "collector":
			cfg, err := config.Parse(file, []byte(text))
			if err == nil {
				err = cfg.DecodeAlerting(&alerting.YAMLConfig{})
			}
			if err == nil {
				err = cfg.DecodeNotifiers(&[]alerting.NotifierConfig{})
			}
			if err != nil {
				t.Errorf("%s: collector.yaml example: %v", b.where, err)
			}
		}
	}
	// The examples this test knows of; fewer means it stopped finding them.
	for kind, least := range map[string]int{"endpoints": 2, "checks": 3, "alert": 1, "prober": 2, "collector": 4} {
		if kinds[kind] < least {
			t.Errorf("found %d %s examples, want at least %d: %v", kinds[kind], kind, least, kinds)
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
