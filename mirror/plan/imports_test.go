package plan

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestPlanImportsNothingThatTalks keeps the package pure: it may use API
// types and apimachinery, but never a client, the network or the clock.
func TestPlanImportsNothingThatTalks(t *testing.T) {
	// net/netip only parses addresses, so it stays allowed.
	forbidden := []string{"k8s.io/client-go", "net", "net/http", "net/rpc", "net/smtp", "os/exec"}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || (bad != "net" && strings.HasPrefix(path, bad+"/")) {
					t.Errorf("%s imports %s: package plan must stay pure", name, path)
				}
			}
		}
		if strings.Contains(string(src), "time.Now(") {
			t.Errorf("%s reads the clock (time.Now): package plan must stay pure", name)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked only %d files; is the test running in the package folder?", checked)
	}
}
