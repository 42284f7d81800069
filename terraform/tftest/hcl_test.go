package tftest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// providerModules share one interface, so a fleet can mix them.
var providerModules = []string{"aws", "gcp", "digitalocean", "vultr", "hcloud"}

// commonInputs are the variables every provider module takes, and
// commonOutputs what each returns.
var (
	commonInputs  = []string{"regions", "per_region", "size", "image", "ssh_keys", "ssh_cidrs", "collector_urls", "enrolment_tokens", "release", "region_names", "asn", "name_prefix", "labels"}
	commonOutputs = []string{"vantages", "enrol_commands", "pending"}
	// vantageFields are the attributes of each vantages entry: what
	// `picket vantages add` needs, and the addresses.
	vantageFields = []string{"id", "provider", "region", "provider_region", "asn", "lat", "lon", "deployed", "ipv4", "ipv6"}
)

// module is one directory of .tf files, parsed.
type module struct {
	dir       string // relative to terraform/
	src       map[string][]byte
	blocks    []*hclsyntax.Block
	variables map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
}

func (m *module) text(r hcl.Range) string {
	return string(r.SliceBytes(m.src[r.Filename]))
}

// parseModules parses every .tf file under terraform/, by directory.
func parseModules(t *testing.T) map[string]*module {
	t.Helper()
	root := sourceDir(t)
	mods := map[string]*module{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".tf" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
		if diags.HasErrors() {
			t.Errorf("%s", diags.Error())
			return nil
		}
		m := mods[rel]
		if m == nil {
			m = &module{dir: rel, src: map[string][]byte{}, variables: map[string]*hclsyntax.Block{}, outputs: map[string]*hclsyntax.Block{}}
			mods[rel] = m
		}
		m.src[path] = src
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			m.blocks = append(m.blocks, b)
			switch b.Type {
			case "variable":
				m.variables[b.Labels[0]] = b
			case "output":
				m.outputs[b.Labels[0]] = b
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) == 0 {
		t.Fatal("no .tf files under terraform/")
	}
	return mods
}

// literal evaluates an expression that must be a constant.
func literal(t *testing.T, where string, e hclsyntax.Expression) cty.Value {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Errorf("%s: not a literal: %s", where, diags.Error())
		return cty.NilVal
	}
	return v
}

func nonEmptyString(v cty.Value) bool {
	return v.IsKnown() && !v.IsNull() && v.Type() == cty.String && strings.TrimSpace(v.AsString()) != ""
}

func TestVariablesAndOutputsAreTypedAndDescribed(t *testing.T) {
	for _, m := range parseModules(t) {
		for name, b := range m.variables {
			where := m.dir + ": variable " + name
			if _, ok := b.Body.Attributes["type"]; !ok {
				t.Errorf("%s has no type", where)
			}
			if d, ok := b.Body.Attributes["description"]; !ok || !nonEmptyString(literal(t, where, d.Expr)) {
				t.Errorf("%s has no description", where)
			}
		}
		for name, b := range m.outputs {
			where := m.dir + ": output " + name
			if d, ok := b.Body.Attributes["description"]; !ok || !nonEmptyString(literal(t, where, d.Expr)) {
				t.Errorf("%s has no description", where)
			}
		}
	}
}

var (
	// A module bounds each provider to one major version; a root pins one
	// exact version (and its lock file the checksums).
	moduleConstraint = regexp.MustCompile(`^~> [0-9]+\.[0-9]+$`)
	rootConstraint   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

func TestProviderVersionsArePinned(t *testing.T) {
	for _, m := range parseModules(t) {
		isRoot := strings.HasPrefix(m.dir, "examples"+string(filepath.Separator))
		required := map[string]bool{"terraform": true} // terraform_data is built in
		var terraformBlocks int
		for _, b := range m.blocks {
			if b.Type != "terraform" {
				continue
			}
			terraformBlocks++
			if v, ok := b.Body.Attributes["required_version"]; !ok || !nonEmptyString(literal(t, m.dir, v.Expr)) {
				t.Errorf("%s: terraform block without required_version", m.dir)
			}
			for _, rp := range b.Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				for name, attr := range rp.Body.Attributes {
					where := m.dir + ": required_providers." + name
					v := literal(t, where, attr.Expr)
					if v == cty.NilVal || !v.Type().IsObjectType() || !v.Type().HasAttribute("source") || !v.Type().HasAttribute("version") {
						t.Errorf("%s must be {source, version}", where)
						continue
					}
					version := v.GetAttr("version").AsString()
					want := moduleConstraint
					if isRoot {
						want = rootConstraint
					}
					if !want.MatchString(version) {
						t.Errorf("%s: version %q is not pinned (want the form %s)", where, version, want)
					}
					required[name] = true
				}
			}
		}
		if terraformBlocks != 1 {
			t.Errorf("%s: %d terraform blocks, want 1", m.dir, terraformBlocks)
		}
		for _, b := range m.blocks {
			switch b.Type {
			case "resource", "data":
				prefix, _, _ := strings.Cut(b.Labels[0], "_")
				if !required[prefix] {
					t.Errorf("%s: %s %q uses provider %q, which required_providers does not pin", m.dir, b.Type, b.Labels[0], prefix)
				}
			case "provider":
				// A module that configures a provider cannot be used with
				// count or for_each, and hides credentials from the root.
				if !isRoot {
					t.Errorf("%s: modules must not configure providers (provider %q)", m.dir, b.Labels[0])
				}
			}
		}
	}
}

func TestProviderModulesShareOneInterface(t *testing.T) {
	mods := parseModules(t)
	normal := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	first := map[string]string{} // input name -> type, as the first module declares it
	for _, name := range providerModules {
		m := mods[filepath.Join("modules", name)]
		if m == nil {
			t.Errorf("modules/%s is missing", name)
			continue
		}
		for _, in := range commonInputs {
			b, ok := m.variables[in]
			if !ok {
				t.Errorf("modules/%s lacks the input %q", name, in)
				continue
			}
			typ, ok := b.Body.Attributes["type"]
			if !ok {
				continue // reported by TestVariablesAndOutputsAreTypedAndDescribed
			}
			got := normal(m.text(typ.Expr.Range()))
			want, seen := first[in]
			if !seen {
				first[in] = got
			} else if got != want {
				t.Errorf("modules/%s: variable %s has type %s, other modules %s", name, in, got, want)
			}
		}
		if b, ok := m.variables["enrolment_tokens"]; ok {
			s, ok := b.Body.Attributes["sensitive"]
			if !ok || literal(t, name, s.Expr) != cty.True {
				t.Errorf("modules/%s: enrolment_tokens must be sensitive", name)
			}
		}
		for _, out := range commonOutputs {
			if _, ok := m.outputs[out]; !ok {
				t.Errorf("modules/%s lacks the output %q", name, out)
			}
		}
		if b, ok := m.outputs["vantages"]; ok {
			got := vantageOutputFields(b)
			for _, f := range vantageFields {
				if !slices.Contains(got, f) {
					t.Errorf("modules/%s: vantages entries lack %q (have %q)", name, f, got)
				}
			}
		}
	}
}

// vantageOutputFields returns the attribute names of the object each
// entry of a `{ for ... : id => { ... } }` output holds.
func vantageOutputFields(b *hclsyntax.Block) []string {
	v, ok := b.Body.Attributes["value"]
	if !ok {
		return nil
	}
	fe, ok := v.Expr.(*hclsyntax.ForExpr)
	if !ok {
		return nil
	}
	obj, ok := fe.ValExpr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil
	}
	var names []string
	for _, item := range obj.Items {
		names = append(names, hcl.ExprAsKeyword(item.KeyExpr))
	}
	return names
}

// Terraform cannot validate the provider modules offline, so their
// references are checked here: every var., local. and module. reference
// names something declared, every module call passes only inputs the
// callee declares and all it requires, and every module.X.Y is an output
// of X.
func TestReferencesResolve(t *testing.T) {
	mods := parseModules(t)
	root := sourceDir(t)
	for _, m := range mods {
		locals := map[string]bool{}
		calls := map[string]*module{}
		declared := map[string]bool{} // "TYPE.NAME" and "data.TYPE.NAME"
		var bodies []*hclsyntax.Body
		for _, b := range m.blocks {
			bodies = append(bodies, b.Body)
			switch b.Type {
			case "resource":
				declared[b.Labels[0]+"."+b.Labels[1]] = true
			case "data":
				declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
			case "locals":
				for name := range b.Body.Attributes {
					locals[name] = true
				}
			case "module":
				calls[b.Labels[0]] = nil
				src, ok := b.Body.Attributes["source"]
				if !ok {
					t.Errorf("%s: module %s has no source", m.dir, b.Labels[0])
					continue
				}
				path := literal(t, m.dir, src.Expr).AsString()
				target, err := filepath.Rel(root, filepath.Join(root, m.dir, path))
				if err != nil || mods[target] == nil {
					t.Errorf("%s: module %s: source %s is no module under terraform/", m.dir, b.Labels[0], path)
					continue
				}
				callee := mods[target]
				calls[b.Labels[0]] = callee
				meta := map[string]bool{"source": true, "version": true, "count": true, "for_each": true, "providers": true, "depends_on": true}
				for name := range b.Body.Attributes {
					if !meta[name] && callee.variables[name] == nil {
						t.Errorf("%s: module %s passes %q, which %s does not declare", m.dir, b.Labels[0], name, callee.dir)
					}
				}
				for name, v := range callee.variables {
					if _, hasDefault := v.Body.Attributes["default"]; !hasDefault && b.Body.Attributes[name] == nil {
						t.Errorf("%s: module %s does not pass %q, which %s requires", m.dir, b.Labels[0], name, callee.dir)
					}
				}
			}
		}
		iterators := map[string]bool{} // dynamic "x" blocks bind x
		for len(bodies) > 0 {
			body := bodies[0]
			bodies = append(bodies[1:], blockBodies(body)...)
			for _, blk := range body.Blocks {
				if blk.Type == "dynamic" {
					iterators[blk.Labels[0]] = true
				}
			}
		}
		for _, b := range m.blocks {
			bodies = append(bodies, b.Body)
		}
		for len(bodies) > 0 {
			body := bodies[0]
			bodies = append(bodies[1:], blockBodies(body)...)
			for _, attr := range body.Attributes {
				for _, tr := range attr.Expr.Variables() {
					checkReference(t, m, tr, locals, calls)
					checkResource(t, m, tr, declared, iterators)
				}
				// module.X[each.key].Y parses as an index expression
				// followed by a relative traversal, which Variables()
				// reports only up to module.X.
				hclsyntax.VisitAll(attr.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
					rel, ok := n.(*hclsyntax.RelativeTraversalExpr)
					if !ok {
						return nil
					}
					idx, ok := rel.Source.(*hclsyntax.IndexExpr)
					if !ok {
						return nil
					}
					src, ok := idx.Collection.(*hclsyntax.ScopeTraversalExpr)
					if !ok || len(rel.Traversal) == 0 {
						return nil
					}
					tr := append(append(hcl.Traversal{}, src.Traversal...), hcl.TraverseIndex{})
					tr = append(tr, rel.Traversal...)
					checkReference(t, m, tr, locals, calls)
					return nil
				})
			}
		}
	}
}

func blockBodies(b *hclsyntax.Body) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, blk := range b.Blocks {
		out = append(out, blk.Body)
	}
	return out
}

// checkResource checks that TYPE.NAME and data.TYPE.NAME references name
// a declared resource; resource types always hold an underscore.
func checkResource(t *testing.T, m *module, tr hcl.Traversal, declared, iterators map[string]bool) {
	t.Helper()
	root := tr.RootName()
	var want string
	switch {
	case root == "data" && len(tr) >= 3:
		typ, ok1 := tr[1].(hcl.TraverseAttr)
		name, ok2 := tr[2].(hcl.TraverseAttr)
		if !ok1 || !ok2 {
			return
		}
		want = "data." + typ.Name + "." + name.Name
	case strings.Contains(root, "_") && !iterators[root] && len(tr) >= 2:
		name, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			return
		}
		want = root + "." + name.Name
	default:
		return
	}
	if !declared[want] {
		pos := tr.SourceRange()
		t.Errorf("%s:%d: %s is not declared", filepath.Join(m.dir, filepath.Base(pos.Filename)), pos.Start.Line, want)
	}
}

func checkReference(t *testing.T, m *module, tr hcl.Traversal, locals map[string]bool, calls map[string]*module) {
	t.Helper()
	if len(tr) < 2 {
		return
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return
	}
	pos := tr.SourceRange()
	where := fmt.Sprintf("%s:%d", filepath.Join(m.dir, filepath.Base(pos.Filename)), pos.Start.Line)
	switch tr.RootName() {
	case "var":
		if m.variables[attr.Name] == nil {
			t.Errorf("%s: var.%s is not declared", where, attr.Name)
		}
	case "local":
		if !locals[attr.Name] {
			t.Errorf("%s: local.%s is not declared", where, attr.Name)
		}
	case "module":
		callee, declared := calls[attr.Name]
		if !declared {
			t.Errorf("%s: module.%s is not declared", where, attr.Name)
			return
		}
		if callee == nil || len(tr) < 3 {
			return
		}
		// module.X.Y or module.X[key].Y
		for _, step := range tr[2:] {
			if out, ok := step.(hcl.TraverseAttr); ok {
				if callee.outputs[out.Name] == nil {
					t.Errorf("%s: module.%s has no output %q", where, attr.Name, out.Name)
				}
				return
			}
		}
	}
}
