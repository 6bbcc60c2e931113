package service

import (
	"context"
	"fmt"
	"google.golang.org/protobuf/proto"
	"log/slog"
	"time"

	"github.com/stacksearch/stacksearch/corpus"
	"github.com/stacksearch/stacksearch/index"
	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// defaultPageSize is the page size of a request that names none.
const defaultPageSize = 10

// SearchServer implements stacksearch.v1.SearchService on the live index.
type SearchServer struct {
	pb.UnimplementedSearchServiceServer
	live *index.Live
	log  *slog.Logger
}

// NewSearchServer serves searches on live.
func NewSearchServer(live *index.Live, log *slog.Logger) *SearchServer {
	return &SearchServer{live: live, log: log}
}

// Search answers one search-box query.
func (s *SearchServer) Search(ctx context.Context, in *pb.SearchRequest) (*pb.SearchResponse, error) {
	start := time.Now()
	req, err := searchRequest(in)
	if err != nil {
		return nil, err
	}
	res, err := s.live.Search(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := searchResponse(res)
	out.TookMs = float64(time.Since(start).Microseconds()) / 1000
	return out, nil
}

// GetDocument returns one whole record.
func (s *SearchServer) GetDocument(ctx context.Context, in *pb.GetDocumentRequest) (*pb.Document, error) {
	if in.GetId() == "" {
		return nil, invalid("id", "must not be empty")
	}
	d, err := s.live.Document(ctx, in.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return documentToProto(d), nil
}

// defaultSuggestions is the number of suggestions of a request that names none.
const defaultSuggestions = 5

// Suggest completes a partly typed query.
func (s *SearchServer) Suggest(ctx context.Context, in *pb.SuggestRequest) (*pb.SuggestResponse, error) {
	start := time.Now()
	size := int(in.GetPageSize())
	switch {
	case size == 0:
		size = defaultSuggestions
	case size < 0 || size > index.MaxSuggestions:
		return nil, invalid("page_size", fmt.Sprintf("is %d; must be between 1 and %d (default %d)", size, index.MaxSuggestions, defaultSuggestions))
	}
	sugs, err := s.live.Suggest(ctx, in.GetQuery(), size, filtersOf(in))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &pb.SuggestResponse{Suggestions: make([]*pb.Suggestion, 0, len(sugs))}
	for _, g := range sugs {
		out.Suggestions = append(out.Suggestions, &pb.Suggestion{Text: g.Text, Html: g.HTML, Kind: g.Kind, Id: g.ID, Url: g.URL})
	}
	out.TookMs = float64(time.Since(start).Microseconds()) / 1000
	return out, nil
}

// filtersOf returns the filters a search or suggest request sets, by facet name.
func filtersOf(in proto.Message) map[string][]string {
	filters := map[string][]string{}
	for name, slot := range filterSlots(in) {
		if len(*slot) > 0 {
			filters[name] = *slot
		}
	}
	return filters
}

// searchRequest validates a request and converts it for the index.
func searchRequest(in *pb.SearchRequest) (index.Request, error) {
	size := int(in.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > index.MaxPageSize:
		return index.Request{}, invalid("page_size", fmt.Sprintf("is %d; must be between 1 and %d (default %d)", size, index.MaxPageSize, defaultPageSize))
	}
	return index.Request{
		Query:             in.GetQuery(),
		Filters:           filtersOf(in),
		Facets:            in.GetFacets(),
		DisjunctiveFacets: in.GetDisjunctiveFacets(),
		Size:              size,
		PageToken:         in.GetPageToken(),
		Highlight:         in.Highlight == nil || in.GetHighlight(),
		Typos:             in.TypoTolerance == nil || in.GetTypoTolerance(),
		Distinct:          in.Distinct == nil || in.GetDistinct(),
	}, nil
}

func searchResponse(res *index.Result) *pb.SearchResponse {
	out := &pb.SearchResponse{
		Hits:           make([]*pb.Hit, 0, len(res.Hits)),
		Facets:         make(map[string]*pb.FacetCounts, len(res.Facets)),
		TotalHits:      int32(res.Total),
		NextPageToken:  res.NextPageToken,
		CorrectedQuery: res.Corrected,
	}
	for _, h := range res.Hits {
		hit := &pb.Hit{
			Id: h.ID, Title: h.Title, Url: h.URL, Page: h.Page, Type: h.Type,
			Languages: h.Languages, Frameworks: h.Frameworks, Databases: h.Databases, Topics: h.Topics,
			Score: h.Score, Snippet: h.Snippet, MoreInPage: int32(h.MoreInPage),
		}
		for _, hl := range h.Highlights {
			hit.Highlights = append(hit.Highlights, &pb.Highlight{Field: hl.Field, Fragments: hl.Fragments})
		}
		out.Hits = append(out.Hits, hit)
	}
	if a := res.Answer; a != nil {
		out.Answer = &pb.Answer{Id: a.ID, Question: a.Question, Answer: a.Text, Url: a.URL}
	}
	for _, a := range res.Applied {
		out.AppliedFilters = append(out.AppliedFilters, &pb.AppliedFilter{Field: a.Field, Value: a.Value, Matched: a.Matched})
	}
	for name, vals := range res.Facets {
		fc := &pb.FacetCounts{Values: make([]*pb.FacetValue, 0, len(vals))}
		for _, v := range vals {
			fc.Values = append(fc.Values, &pb.FacetValue{Value: v.Value, Count: int32(v.Count)})
		}
		out.Facets[name] = fc
	}
	return out
}

func documentToProto(d *corpus.Document) *pb.Document {
	return &pb.Document{
		Id: d.ID, Title: d.Title, Url: d.URL, Page: d.Page, Type: d.Type, Body: d.Body,
		Languages: d.Languages, Frameworks: d.Frameworks, Databases: d.Databases, Topics: d.Topics,
		Fields: d.Fields,
	}
}
