package corpus

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps corpus at the bottom of the house: it may use the standard library and its
// parsers (goldmark, x/net/html with x/text for charsets, yaml), never Bleve, gRPC, protobuf or another package of this module.
func TestImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/stacksearch/stacksearch/corpus"
	allowed := []string{"github.com/yuin/goldmark", "golang.org/x/net/html", "golang.org/x/text", "go.yaml.in/yaml/v3"}
	for _, pkg := range strings.Fields(string(out)) {
		ok := pkg == self
		for _, prefix := range allowed {
			ok = ok || pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
		}
		if !ok {
			t.Errorf("corpus depends on %s", pkg)
		}
	}
}
