package index

import (
	"fmt"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/registry"
)

// terms analyses text with the named analyzer and renders each token as
// term@position.
func terms(t *testing.T, analyzer, text string) string {
	t.Helper()
	a, err := registry.NewCache().AnalyzerNamed(analyzer)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tok := range a.Analyze([]byte(text)) {
		if got := text[tok.Start:tok.End]; !strings.EqualFold(strings.ReplaceAll(strings.ReplaceAll(got, "-", ""), "_", ""), string(tok.Term)) &&
			!strings.Contains(strings.ToLower(got), string(tok.Term)) && analyzer == analyzerExact {
			t.Errorf("%q: token %q spans %q", text, tok.Term, got)
		}
		out = append(out, fmt.Sprintf("%s@%d", tok.Term, tok.Position))
	}
	return strings.Join(out, " ")
}

func TestCodeTokenizer(t *testing.T) {
	cases := []struct{ analyzer, in, want string }{
		{analyzerExact, "C# and C++ are not C", "c#@1 and@2 c++@3 are@4 not@5 c@6"},
		{analyzerExact, "F# (.NET) on ASP.NET", "f#@1 .net@2 on@3 asp.net@4 asp@4"},
		{analyzerExact, "Node.js, Express.js.", "node.js@1 node@1 js@2 express.js@3 express@3 js@4"},
		{analyzerExact, "back-end vs back end", "backend@1 back@1 end@2 vs@3 back@4 end@5"},
		{analyzerExact, "snake_case .env .gitignore", "snakecase@1 snake@1 case@2 .env@3 .gitignore@4 gitignore@4"},
		{analyzerExact, "It's the user's API", "it@1 the@2 user@3 api@4"},
		{analyzerExact, "end. Next", "end@1 next@2"},
		{analyzerExact, "version 3.11 ok", "version@1 3.11@2 11@3 ok@4"},
		{analyzerText, "Databases are running", "databas@1 run@3"},
		{analyzerText, "Node.js servers", "node.js@1 node@1 js@2 server@3"},
		{analyzerText, "optimize optimization", "optim@1 optim@2"},
		{analyzerExact, "naïve café", "naïve@1 café@2"},
		{analyzerExact, "#include a+b C#, x#y", "include@1 a@2 b@3 c#@4 x@5 y@6"},
	}
	for _, c := range cases {
		if got := terms(t, c.analyzer, c.in); got != c.want {
			t.Errorf("%s(%q)\n got %s\nwant %s", c.analyzer, c.in, got, c.want)
		}
	}
}
