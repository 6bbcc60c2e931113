package corpus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTagTrickySentences pins what detection finds in sentences built to fool it: names that are also
// ordinary words must count only where they are names.
func TestTagTrickySentences(t *testing.T) {
	tests := []struct {
		text  string
		field string
		value string
		want  bool
	}{
		// Go
		{"Our services are written in Go and deployed on Kubernetes.", FieldLanguages, "Go", true},
		{"We rewrote the parser in Golang last year.", FieldLanguages, "Go", true},
		{"Go is a statically typed language.", FieldLanguages, "Go", true},
		{"Go's goroutines are cheap.", FieldLanguages, "Go", true},
		{"Languages we use:\nGo: for services\nPython: for scripts", FieldLanguages, "Go", true},
		{"Go to the settings page and click Save.", FieldLanguages, "Go", false},
		{"You can go to the page directly.", FieldLanguages, "Go", false},
		{"Let's go! Go ahead and try it.", FieldLanguages, "Go", false},
		{"The GO term enrichment was significant.", FieldLanguages, "Go", false},
		{"Ready, set, go.", FieldLanguages, "Go", false},
		// Ruby on Rails
		{"The app runs on Rails 7 with Hotwire.", FieldFrameworks, "Ruby on Rails", true},
		{"We migrated from Ruby on Rails to Phoenix Framework.", FieldFrameworks, "Ruby on Rails", true},
		{"The train left the rails near the station.", FieldFrameworks, "Ruby on Rails", false},
		{"Guard rails keep new engineers safe.", FieldFrameworks, "Ruby on Rails", false},
		// Express
		{"The API is an Express.js app.", FieldFrameworks, "Express", true},
		{"We serve it with ExpressJS behind nginx.", FieldFrameworks, "Express", true},
		{"Frameworks such as Express, Koa and Fastify are popular.", FieldFrameworks, "Express", true},
		{"Express your ideas clearly.", FieldFrameworks, "Express", false},
		{"Feel free to express concerns in the review.", FieldFrameworks, "Express", false},
		{"Ship it by express delivery.", FieldFrameworks, "Express", false},
		// Node.js
		{"The worker runs on Node.js 20.", FieldFrameworks, "Node.js", true},
		{"A NodeJS process holds the sockets.", FieldFrameworks, "Node.js", true},
		{"Each node in the graph has an id.", FieldFrameworks, "Node.js", false},
		{"Node names must be unique.", FieldFrameworks, "Node.js", false},
		// Spring
		{"The backend is a Spring Boot service.", FieldFrameworks, "Spring Boot", true},
		{"It uses Spring MVC controllers.", FieldFrameworks, "Spring", true},
		{"We shipped it in the spring of 2023.", FieldFrameworks, "Spring", false},
		{"Spring is the best season for hiking.", FieldFrameworks, "Spring", false},
		// Flask
		{"The dashboard is a small Flask app.", FieldFrameworks, "Flask", true},
		{"Fill the flask with water.", FieldFrameworks, "Flask", false},
		// C and friends
		{"The extension is written in C and compiled with gcc.", FieldLanguages, "C", true},
		{"It calls into the C API of the interpreter.", FieldLanguages, "C", true},
		{"Plan C is to roll back.", FieldLanguages, "C", false},
		{"Grade C students", FieldLanguages, "C", false},
		{"Services in C# and F# share a NuGet feed.", FieldLanguages, "C#", true},
		{"Services in C# and F# share a NuGet feed.", FieldLanguages, "F#", true},
		{"The engine is C++ with Python bindings.", FieldLanguages, "C++", true},
		{"The engine is C++ with Python bindings.", FieldLanguages, "C", false},
		{"We moved the site to ASP.NET Core.", FieldFrameworks, "ASP.NET Core", true},
		{"It targets .NET 8.", FieldFrameworks, ".NET", true},
		{"Download it from example.net today.", FieldFrameworks, ".NET", false},
		// Rust
		{"The proxy is written in Rust for memory safety.", FieldLanguages, "Rust", true},
		{"Rust had eaten through the old pipes.", FieldLanguages, "Rust", false},
		{"Keep the tools dry so they do not rust.", FieldLanguages, "Rust", false},
		// Others that are words
		{"The swift response surprised us.", FieldLanguages, "Swift", false},
		{"iOS apps are written in Swift.", FieldLanguages, "Swift", true},
		{"Julia joined the team in May.", FieldLanguages, "Julia", false},
		{"A React component renders the list.", FieldFrameworks, "React", true},
		{"Users react quickly to latency.", FieldFrameworks, "React", false},
		{"Buy a bun at the bakery.", FieldFrameworks, "Bun", false},
		{"Pour a gin and tonic.", FieldFrameworks, "Gin", false},
		{"The handlers use Gin middleware.", FieldFrameworks, "Gin", true},
		{"A phoenix rose from the ashes.", FieldFrameworks, "Phoenix", false},
		{"They moved to Phoenix, Arizona.", FieldFrameworks, "Phoenix", false},
		{"Oracle announced earnings.", FieldDatabases, "Oracle Database", false},
		// Aliases
		{"Backups run nightly with pg_dump against postgres.", FieldDatabases, "PostgreSQL", true},
		{"The cache is a mongo collection.", FieldDatabases, "MongoDB", true},
		{"It is a csharp service.", FieldLanguages, "C#", true},
		{"Build it with dotnet build.", FieldFrameworks, ".NET", true},
		{"Plain JS in the browser.", FieldLanguages, "JavaScript", true},
		{"The data lives in SQL Server 2019.", FieldDatabases, "Microsoft SQL Server", true},
		{"The data lives in SQL Server 2019.", FieldTopics, "databases", false},
		// Frameworks imply their language.
		{"The admin is built with Django.", FieldLanguages, "Python", true},
		{"Controllers in Laravel are thin.", FieldLanguages, "PHP", true},
		{"Ruby on Rails favours convention.", FieldLanguages, "Ruby", true},
		{"The worker runs on Node.js 20.", FieldLanguages, "JavaScript", true},
		// A title in Title Case says nothing about capitals.
		{"title:Where To Go From Here", FieldLanguages, "Go", false},
		{"title:Getting started with Go", FieldLanguages, "Go", true},
		// Topics need the body to be about them.
		{"title:Security Considerations\nAuthentication and encryption protect the data.", FieldTopics, "security", true},
		{"title:More Control Flow Tools\nThe while statement loops.", FieldTopics, "tools", false},
		{"We cache results. The cache is warm. Caching helps the p99 latency.", FieldTopics, "performance", true},
		{"Skills in microservices architecture, serverless computing and cloud platforms help a career.", FieldTopics, "architecture", false},
		{"The server-side code runs in the server-side process on a server-side host.", FieldTopics, "servers", false},
	}
	tax := DefaultTaxonomy()
	for _, tt := range tests {
		doc := Document{Body: tt.text}
		if rest, ok := strings.CutPrefix(tt.text, "title:"); ok {
			doc.Title, doc.Body, _ = strings.Cut(rest, "\n")
		}
		tax.Tag(&doc)
		got := slices.Contains(doc.Facet(tt.field), tt.value)
		if got != tt.want {
			t.Errorf("%q: %s %s found = %v, want %v (tagged %s)", tt.text, tt.field, tt.value, got, tt.want, strings.Join(doc.Facet(tt.field), ", "))
		}
	}
}

func TestTagDeclared(t *testing.T) {
	tax := DefaultTaxonomy()
	tests := []struct {
		name string
		in   Document
		want Document
	}{{
		name: "declared facets are kept and spelt canonically; the others are filled",
		in:   Document{Body: "A Django app on PostgreSQL.", Languages: []string{"python", "Python", "Cobol 85"}},
		want: Document{Languages: []string{"Python", "Cobol 85"}, Frameworks: []string{"Django"}, Databases: []string{"PostgreSQL"}},
	}, {
		name: "declared frameworks imply their languages and replace detected ones",
		in:   Document{Body: "Flask and MySQL.", Frameworks: []string{"rails"}},
		want: Document{Languages: []string{"Ruby"}, Frameworks: []string{"Ruby on Rails"}, Databases: []string{"MySQL"}},
	}, {
		name: "all declared: nothing detected",
		in: Document{Body: "Django, Go, Redis, security, security, security.", Languages: []string{"Perl"}, Frameworks: []string{"Mojolicious"},
			Databases: []string{"postgres"}, Topics: []string{"apis"}},
		want: Document{Languages: []string{"Perl"}, Frameworks: []string{"Mojolicious"}, Databases: []string{"PostgreSQL"}, Topics: []string{"apis"}},
	}, {
		name: "a title-only record takes topics from its title",
		in:   Document{Title: "Security checklist"},
		want: Document{Topics: []string{"security"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.in
			tax.Tag(&doc)
			for _, f := range FacetFields {
				if got, want := doc.Facet(f), tt.want.Facet(f); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct {
		field, value string
		want         string
		ok           bool
	}{
		{FieldDatabases, "postgres", "PostgreSQL", true},
		{FieldDatabases, "PSQL", "PostgreSQL", true},
		{FieldDatabases, " PostgreSQL ", "PostgreSQL", true},
		{FieldLanguages, "python", "Python", true},
		{FieldLanguages, "golang", "Go", true},
		{FieldLanguages, "go", "Go", true},
		{FieldLanguages, "c sharp", "C#", true},
		{FieldLanguages, "CSharp", "C#", true},
		{FieldLanguages, "js", "JavaScript", true},
		{FieldFrameworks, "node", "Node.js", true},
		{FieldFrameworks, "NodeJS", "Node.js", true},
		{FieldFrameworks, "node.js", "Node.js", true},
		{FieldFrameworks, "dotnet", ".NET", true},
		{FieldFrameworks, "ruby-on-rails", "Ruby on Rails", true},
		{FieldFrameworks, "rails", "Ruby on Rails", true},
		{FieldTopics, "api", "apis", true},
		{FieldTopics, "APIs", "apis", true},
		{FieldLanguages, "node", "", false},
		{FieldLanguages, "django", "", false},
		{FieldTopics, "xss", "", false}, // a keyword, not a name
		{"colours", "python", "", false},
		{FieldLanguages, "", "", false},
	}
	tax := DefaultTaxonomy()
	for _, tt := range tests {
		got, ok := tax.Canonical(tt.field, tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Canonical(%q, %q) = %q, %v; want %q, %v", tt.field, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		phrase string
		want   []string // field:name
	}{
		{"django", []string{"frameworks:Django"}},
		{"node", []string{"frameworks:Node.js"}},
		{"postgres", []string{"databases:PostgreSQL"}},
		{"c#", []string{"languages:C#"}},
		{"C", []string{"languages:C"}},
		{"k8s", []string{"topics:deployment"}},
		{"xss", []string{"topics:security"}},
		{"Go", []string{"languages:Go"}},
		{"spring", []string{"frameworks:Spring"}},
		{"Spring Boot", []string{"frameworks:Spring Boot"}},
		{"api", []string{"topics:apis"}},
		{"how do I", nil},
		{"", nil},
	}
	tax := DefaultTaxonomy()
	for _, tt := range tests {
		var got []string
		for _, e := range tax.Lookup(tt.phrase) {
			got = append(got, e.Field+":"+e.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Lookup(%q) = %q, want %q", tt.phrase, got, tt.want)
		}
	}
}

func TestEntries(t *testing.T) {
	tax := DefaultTaxonomy()
	entries := tax.Entries()
	find := func(field, name string) Entry {
		for _, e := range entries {
			if e.Field == field && e.Name == name {
				return e
			}
		}
		t.Fatalf("no entry %s %s", field, name)
		return Entry{}
	}
	tests := []struct {
		field, name string
		aliases     []string
		language    string
	}{
		{FieldLanguages, "C#", []string{"csharp", "c sharp"}, ""},
		{FieldFrameworks, ".NET", []string{"dotnet"}, "C#"},
		{FieldFrameworks, "Node.js", []string{"nodejs", "node"}, "JavaScript"},
		{FieldLanguages, "JavaScript", []string{"js"}, ""},
		{FieldDatabases, "PostgreSQL", []string{"postgres", "psql"}, ""},
		{FieldFrameworks, "Django", nil, "Python"},
		{FieldFrameworks, "Ruby on Rails", []string{"Rails"}, "Ruby"},
		{FieldLanguages, "Go", []string{"golang"}, ""},
	}
	for _, tt := range tests {
		e := find(tt.field, tt.name)
		for _, a := range tt.aliases {
			if !slices.Contains(e.Aliases, a) {
				t.Errorf("%s aliases %q lack %q", tt.name, e.Aliases, a)
			}
		}
		if slices.Contains(e.Aliases, e.Name) {
			t.Errorf("%s aliases %q repeat the name", tt.name, e.Aliases)
		}
		if e.Language != tt.language {
			t.Errorf("%s language = %q, want %q", tt.name, e.Language, tt.language)
		}
	}
	entries[0].Aliases = append(entries[0].Aliases[:0], "changed")
	if slices.Contains(tax.Entries()[0].Aliases, "changed") {
		t.Error("Entries shares its slices with the taxonomy")
	}
	for _, f := range FacetFields {
		if !slices.ContainsFunc(entries, func(e Entry) bool { return e.Field == f }) {
			t.Errorf("no entry in %s", f)
		}
	}
}

func TestLoadTaxonomy(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"small", "languages:\n  - name: Python\nframeworks:\n  - name: Django\n    language: python\n", ""},
		{"unknown key", "languages:\n  - name: Python\n    colour: green\n", "colour"},
		{"unknown section", "tools:\n  - name: Docker\n", "tools"},
		{"no name", "languages:\n  - aliases: [py]\n", "no name"},
		{"unknown language", "frameworks:\n  - name: Django\n    language: Pyhton\n", `unknown language "Pyhton"`},
		{"language outside frameworks", "languages:\n  - name: TypeScript\n    language: JavaScript\n", "only frameworks"},
		{"alias of two entries", "databases:\n  - name: PostgreSQL\n    aliases: [pg]\n  - name: Greenplum\n    aliases: [pg]\n", `"pg" already names PostgreSQL`},
		{"wordless alias", "languages:\n  - name: Python\n    aliases: ['!!']\n", "no words"},
		{"not YAML", "languages: [", "parse taxonomy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "taxonomy.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			tax, err := LoadTaxonomy(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				doc := Document{Body: "A Django app."}
				tax.Tag(&doc)
				if !slices.Equal(doc.Languages, []string{"Python"}) {
					t.Errorf("languages = %q", doc.Languages)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming %s and holding %q", err, path, tt.wantErr)
			}
		})
	}
	if _, err := LoadTaxonomy(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file loads")
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		text string
		want string // words joined by |, a sentence start marked with ^
	}{
		{"Node.js, ASP.NET Core and .NET 8.", "^Node.js|ASP.NET|Core|and|.NET|8"},
		{"C# or C++? F#!", "^C#|or|C++|^F#"},
		{"server-side (e.g. Go) apps", "^server|side|e.g|Go|apps"},
		{"Done. Next: go", "^Done|^Next|^go"},
		{"- item one\n- Go: fast", "^item|one|^Go|^fast"},
		{"café déjà-vu", "^café|déjà|vu"},
		{"v1.2.3 and 3.12.", "^v1.2.3|and|3.12"},
	}
	for _, tt := range tests {
		var words []string
		for _, tok := range tokenize(tt.text, nil) {
			w := tt.text[tok.start:tok.end]
			if tok.sentenceStart {
				w = "^" + w
			}
			words = append(words, w)
		}
		if got := strings.Join(words, "|"); got != tt.want {
			t.Errorf("tokenize(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

// TestTagConcurrent tags the default records from several goroutines at once (run with -race): the
// taxonomy is shared by every reader of a server.
func TestTagConcurrent(t *testing.T) {
	want := defaultRecords(t)
	tax := DefaultTaxonomy()
	errs := make(chan string, 8*len(want))
	done := make(chan bool)
	for range 8 {
		go func() {
			defer func() { done <- true }()
			for _, w := range want {
				d := w
				d.Languages, d.Frameworks, d.Databases, d.Topics = nil, nil, nil, nil
				tax.Tag(&d)
				for _, f := range FacetFields {
					if !slices.Equal(d.Facet(f), w.Facet(f)) {
						errs <- d.ID + " " + f
					}
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("concurrent tagging differs: %s", e)
	}
}
