package service

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the service above the search core: it may not import Bleve
// (queries are built in index) nor any command package.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/blevesearch/") || strings.HasPrefix(pkg, "github.com/stacksearch/stacksearch/cmd") {
			t.Errorf("service imports %s", pkg)
		}
	}
}
