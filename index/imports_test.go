package index

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps index below the service: it may use Bleve and corpus, never
// gRPC, protobuf (Bleve itself uses protobuf internally, so only the package's
// own imports are checked for it), the gateway, or the service and command packages.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"google.golang.org/grpc", "google.golang.org/protobuf", "github.com/grpc-ecosystem",
		"github.com/stacksearch/stacksearch/service", "github.com/stacksearch/stacksearch/cmd", "github.com/stacksearch/stacksearch/proto"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("index depends on %s", pkg)
			}
		}
	}
}
