package index

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
)

// cursor is the content of a page token: where the previous page ended, and a
// fingerprint of the search it belongs to. Within the diversified window of a
// distinct search it is an offset; past it, and in plain searches, it is the
// sort key of the last hit (its score, or its id when browsing), which Bleve's
// search_after continues from, with how many hits of that score were shown:
// stable, with no depth limit.
type cursor struct {
	Version     int      `json:"v"`
	Fingerprint string   `json:"q"`
	Offset      int      `json:"o,omitempty"`
	After       []string `json:"a,omitempty"`
	Ties        int      `json:"t,omitempty"`
}

// fingerprint identifies a query, its filters and its mode, so that a page
// token is only accepted for the search that issued it.
func fingerprint(text string, filters map[string][]string, distinct bool) string {
	h := fnv.New64a()
	h.Write([]byte(text))
	if distinct {
		h.Write([]byte{1})
	}
	for _, name := range FacetNames() {
		vals := slices.Clone(filters[name])
		slices.Sort(vals)
		for _, v := range vals {
			h.Write([]byte{0})
			h.Write([]byte(name + "=" + v))
		}
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

func encodeCursor(c cursor) string {
	c.Version = 1
	raw, _ := json.Marshal(c) // plain strings and ints always encode
	return base64.RawURLEncoding.EncodeToString(raw)
}

// maxPagesOfTies bounds the hits of one score a token may count as shown.
const maxPagesOfTies = 100

// decodeCursor reads a page token of the search with fingerprint fp whose
// sort has n keys (1: the score, or the id when browsing). An empty token is
// the first page.
func decodeCursor(token, fp string, n int) (cursor, error) {
	if token == "" {
		return cursor{}, nil
	}
	bad := &FieldError{Field: "page_token", Reason: "is not a page token of this query; start again without it"}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return cursor{}, bad
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != 1 || c.Fingerprint != fp || c.Offset < 0 ||
		c.Ties < 0 || c.Ties > MaxPageSize*maxPagesOfTies || (c.After != nil && len(c.After) != n) || (c.After == nil && c.Offset == 0) {
		return cursor{}, bad
	}
	if c.Ties > 0 {
		if _, err := strconv.ParseFloat(c.After[0], 64); err != nil {
			return cursor{}, bad
		}
	}
	return c, nil
}

// formatScore writes a score so that parsing it gives back the same float64.
func formatScore(s float64) string { return strconv.FormatFloat(s, 'g', -1, 64) }
