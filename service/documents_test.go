package service

import (
	"errors"
	"slices"
	"testing"

	"github.com/stacksearch/stacksearch/index"
)

func TestUpsertBodyViolations(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"good", `{"documents": [{"id": "a", "title": "A", "languages": ["Go"], "fields": {"k": "v"}, "type": null}]}`, nil},
		{"unknown facet", `{"documents": [{"id": "a", "title": "A"}, {"id": "b", "title": "B", "colours": ["red"]}]}`, []string{"documents[1].colours"}},
		{"wrong types", `{"documents": [{"id": 7, "title": "A", "languages": "Go", "fields": {"k": 1}}]}`,
			[]string{"documents[0].fields", "documents[0].id", "documents[0].languages"}},
		{"not an object", `{"documents": ["a"]}`, []string{"documents[0]"}},
		{"unknown top-level key", `{"docs": [], "documents": []}`, []string{"docs"}},
		{"not JSON: left to the gateway", `{"documents": [`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, err := range upsertBodyViolations([]byte(tt.body)) {
				var fe *index.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("%v is not a FieldError", err)
				}
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFieldErrorsCollectsJoinedErrors(t *testing.T) {
	a := &index.FieldError{Field: "documents[0].title", Reason: "must not be empty"}
	b := &index.FieldError{Field: "documents[2].id", Reason: "duplicate"}
	got := fieldErrors(errors.Join(a, errors.New("other"), errors.Join(b)))
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("fieldErrors = %v", got)
	}
}
