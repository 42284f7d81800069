package tftest

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picketnet/picket/internal/testenv"
)

// sourceDir is the terraform/ directory of the repository.
func sourceDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyModules copies terraform/modules into a fresh directory, so that
// `terraform init` never writes into the source tree, and returns the
// copy's path.
func copyModules(t *testing.T) string {
	t.Helper()
	src := filepath.Join(sourceDir(t), "modules")
	dst := filepath.Join(t.TempDir(), "modules")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".tfstate") || d.Name() == ".terraform.lock.hcl" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy modules: %v", err)
	}
	return dst
}

// tf runs the terraform binary offline in one directory.
type tf struct {
	t   *testing.T
	bin string
	dir string
}

func newTF(t *testing.T, dir string) *tf {
	t.Helper()
	return &tf{t: t, bin: testenv.RequireCommand(t, "terraform"), dir: dir}
}

// run runs terraform with args and returns stdout and stderr; err is the
// exit error, if any.
func (r *tf) run(args ...string) (stdout, stderr string, err error) {
	r.t.Helper()
	cmd := exec.CommandContext(r.t.Context(), r.bin, args...)
	cmd.Dir = r.dir
	// No CLI configuration (so no provider mirror or credentials helper),
	// no version check, no prompts: what `make test` has offline.
	cmd.Env = append(os.Environ(),
		"TF_CLI_CONFIG_FILE=/dev/null",
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"TF_LOG=",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// must runs terraform and fails the test when it exits non-zero.
func (r *tf) must(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("terraform %s in %s: %v\n%s%s", strings.Join(args, " "), r.dir, err, out, errOut)
	}
	return out
}

// applyRoot writes main.tf into a new directory, applies it (the roots
// used here hold no resources, only module calls) and returns its outputs
// decoded from `terraform output -json`, sensitive ones included.
func applyRoot(t *testing.T, mainTF string) map[string]json.RawMessage {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(mainTF), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newTF(t, dir)
	r.must("init", "-backend=false", "-no-color")
	r.must("apply", "-auto-approve", "-no-color")
	var outputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(r.must("output", "-json")), &outputs); err != nil {
		t.Fatalf("decode terraform output: %v", err)
	}
	values := make(map[string]json.RawMessage, len(outputs))
	for k, v := range outputs {
		values[k] = v.Value
	}
	return values
}

// hclString quotes s as an HCL string literal.
func hclString(s string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), "${", "$${")
}

func TestFormat(t *testing.T) {
	t.Parallel() // mostly waiting on terraform and cloud-init
	r := newTF(t, sourceDir(t))
	out, errOut, err := r.run("fmt", "-check", "-recursive", "-diff", "-no-color")
	if err != nil {
		t.Fatalf("terraform fmt -check found unformatted files (run terraform fmt -recursive terraform/): %v\n%s%s", err, out, errOut)
	}
}

// The modules that need no provider are validated and tested by Terraform
// itself: their tests/*.tftest.hcl runs cover the rendered files and the
// input validation.
func TestProviderFreeModules(t *testing.T) {
	t.Parallel() // mostly waiting on terraform and cloud-init
	modules := copyModules(t)
	for _, name := range []string{"prober-bootstrap", "collector-bootstrap", "vantage-plan"} {
		t.Run(name, func(t *testing.T) {
			r := newTF(t, filepath.Join(modules, name))
			r.must("init", "-backend=false", "-no-color")
			r.must("validate", "-no-color")
			out := r.must("test", "-no-color")
			if !strings.Contains(out, "Success!") || strings.Contains(out, " 0 passed") {
				t.Fatalf("terraform test ran no test:\n%s", out)
			}
			t.Log(lastLine(out))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
