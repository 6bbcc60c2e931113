package replica

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the replica below the service: it may use index, corpus,
// the NATS client and Prometheus, never the service, the commands, protobuf,
// gRPC or Bleve (snapshots of an index directory are made in index).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"github.com/stacksearch/stacksearch/service", "github.com/stacksearch/stacksearch/cmd",
		"github.com/stacksearch/stacksearch/proto", "google.golang.org/grpc", "google.golang.org/protobuf", "github.com/blevesearch"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("replica imports %s", pkg)
			}
		}
	}
}
