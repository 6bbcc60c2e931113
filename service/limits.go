package service

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"

	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// Limits bound what one request may ask for. A zero field takes its value from
// DefaultLimits, so a Config without limits is still bounded.
type Limits struct {
	// MaxQueryBytes bounds the query text of a search, suggestion or click.
	MaxQueryBytes int
	// MaxQueryWords bounds the words of a search query.
	MaxQueryWords int
	// MaxFilterValues bounds the values of each filter field of a search.
	MaxFilterValues int
	// MaxFacets bounds the entries of a search's facets list.
	MaxFacets int
	// MaxPageSize bounds page_size; at most index.MaxPageSize.
	MaxPageSize int
	// MaxBodyBytes bounds a REST request body, except an UpsertDocuments batch.
	MaxBodyBytes int
	// MaxMessageBytes bounds a gRPC request message, and the REST body of an
	// UpsertDocuments batch, so that the same batch fits both.
	MaxMessageBytes int
	// MaxConcurrentStreams bounds the concurrent calls of one HTTP/2 connection.
	MaxConcurrentStreams int
	// MaxClauses bounds what one wildcard, regexp or fuzzy term may expand to
	// (index.SetMaxClauseCount).
	MaxClauses int
}

// DefaultLimits returns the limits searchd starts with.
func DefaultLimits() Limits {
	return Limits{
		MaxQueryBytes:        512,
		MaxQueryWords:        32,
		MaxFilterValues:      32,
		MaxFacets:            10,
		MaxPageSize:          index.MaxPageSize,
		MaxBodyBytes:         1 << 20,
		MaxMessageBytes:      16 << 20,
		MaxConcurrentStreams: 100,
		MaxClauses:           index.DefaultMaxClauses,
	}
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MaxQueryBytes, &d.MaxQueryBytes}, {&l.MaxQueryWords, &d.MaxQueryWords},
		{&l.MaxFilterValues, &d.MaxFilterValues}, {&l.MaxFacets, &d.MaxFacets},
		{&l.MaxPageSize, &d.MaxPageSize}, {&l.MaxBodyBytes, &d.MaxBodyBytes},
		{&l.MaxMessageBytes, &d.MaxMessageBytes}, {&l.MaxConcurrentStreams, &d.MaxConcurrentStreams},
		{&l.MaxClauses, &d.MaxClauses},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	l.MaxPageSize = min(l.MaxPageSize, index.MaxPageSize)
	return l
}

// Bounds of fields that need no flag of their own.
const (
	maxPageTokenBytes = 2048
	maxIDBytes        = index.MaxIDBytes
	maxClickPosition  = 1000
)

// requestLimits rejects a SearchService request over a limit before any work is
// done, with an InvalidArgument naming the field and the limit (and the flag
// that sets it).
func requestLimits(l Limits) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := l.check(req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// check validates one request against the limits; nil for a request type they
// do not concern.
func (l Limits) check(req any) error {
	switch in := req.(type) {
	case *pb.SearchRequest:
		if err := l.checkQuery(in.GetQuery(), true); err != nil {
			return err
		}
		for _, f := range []struct {
			name string
			vals []string
		}{
			{"languages", in.GetLanguages()}, {"frameworks", in.GetFrameworks()}, {"databases", in.GetDatabases()},
			{"topics", in.GetTopics()}, {"types", in.GetTypes()},
		} {
			if len(f.vals) > l.MaxFilterValues {
				return invalid(f.name, fmt.Sprintf("has %d values, more than the limit of %d (-max-filter-values)", len(f.vals), l.MaxFilterValues))
			}
			for _, v := range f.vals {
				if len(v) > index.MaxFacetValueSize {
					return invalid(f.name, fmt.Sprintf("has a value of %d bytes, more than the limit of %d", len(v), index.MaxFacetValueSize))
				}
			}
		}
		if n := len(in.GetFacets()); n > l.MaxFacets {
			return invalid("facets", fmt.Sprintf("has %d values, more than the limit of %d (-max-facets)", n, l.MaxFacets))
		}
		if n := in.GetPageSize(); n > int32(l.MaxPageSize) || n < 0 {
			return invalid("page_size", fmt.Sprintf("is %d; must be between 1 and %d (-max-page-size; default %d)", n, l.MaxPageSize, defaultPageSize))
		}
		if n := len(in.GetPageToken()); n > maxPageTokenBytes {
			return invalid("page_token", fmt.Sprintf("is %d bytes, more than the limit of %d: pass the next_page_token of a response as it is", n, maxPageTokenBytes))
		}
	case *pb.SuggestRequest:
		return l.checkQuery(in.GetQuery(), false)
	case *pb.GetDocumentRequest:
		if n := len(in.GetId()); n > maxIDBytes {
			return invalid("id", fmt.Sprintf("is %d bytes, more than the limit of %d", n, maxIDBytes))
		}
	case *pb.ReportClickRequest:
		if err := l.checkQuery(in.GetQuery(), false); err != nil {
			return err
		}
		if n := len(in.GetId()); n > maxIDBytes {
			return invalid("id", fmt.Sprintf("is %d bytes, more than the limit of %d", n, maxIDBytes))
		}
	}
	return nil
}

// checkQuery bounds the bytes of a query, and its words when words is set.
func (l Limits) checkQuery(q string, words bool) error {
	if len(q) > l.MaxQueryBytes {
		return invalid("query", fmt.Sprintf("is %d bytes, more than the limit of %d (-max-query-bytes)", len(q), l.MaxQueryBytes))
	}
	if words {
		if n := len(strings.Fields(q)); n > l.MaxQueryWords {
			return invalid("query", fmt.Sprintf("has %d words, more than the limit of %d (-max-query-words)", n, l.MaxQueryWords))
		}
	}
	return nil
}
