package main

import "testing"

func TestShareTraces(t *testing.T) {
	out := `File: searchd
Type: cpu
Duration: 1s, Total samples = 60ms (6.00%)
-----------+-------------------------------------------------------
      30ms   runtime.mallocgc
             github.com/stacksearch/stacksearch/index.marks.spans
             github.com/stacksearch/stacksearch/index.highlightHit (inline)
             github.com/stacksearch/stacksearch/index.(*Index).search
-----------+-------------------------------------------------------
      20ms   runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      10ms   google.golang.org/protobuf/encoding/protojson.encoder.marshalMessage
             github.com/grpc-ecosystem/grpc-gateway/v2/runtime.(*JSONPb).Marshal
             github.com/stacksearch/stacksearch/service.restSearch.Search
-----------+-------------------------------------------------------
`
	shares, total := shareTraces(out)
	want := map[string]float64{
		"highlighting (index/highlight.go)":                0.030,
		"garbage collector (background marking, sweeping)": 0.020,
		"JSON encoding (protojson, grpc-gateway)":          0.010,
	}
	if len(shares) != len(want) || total < 0.0599 || total > 0.0601 {
		t.Fatalf("shares %+v of %v, want %v of 0.06", shares, total, want)
	}
	for _, s := range shares {
		if w, ok := want[s.Category]; !ok || s.Value < w*0.999 || s.Value > w*1.001 {
			t.Errorf("%s: %v, want %v", s.Category, s.Value, w)
		}
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]float64{"10ms": 0.01, "1.50s": 1.5, "512kB": 512 << 10, "3MB": 3 << 20, "7": 7} {
		if got := parseValue(in); got < want*0.999 || got > want*1.001 {
			t.Errorf("parseValue(%q) = %v, want %v", in, got, want)
		}
	}
}
