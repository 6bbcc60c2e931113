package index

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
)

// cursor is the content of a page token: where the previous page ended in the
// sort order, and a fingerprint of the query it belongs to.
type cursor struct {
	Version     int      `json:"v"`
	Fingerprint string   `json:"q"`
	After       []string `json:"a"`
}

// fingerprint identifies a query and its filters, so that a page token is only
// accepted for the search that issued it.
func fingerprint(text string, filters map[string][]string) string {
	h := fnv.New64a()
	h.Write([]byte(text))
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

func encodeCursor(fp string, after []string) string {
	raw, _ := json.Marshal(cursor{Version: 1, Fingerprint: fp, After: after}) // plain strings always encode
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(token, fp string, n int) ([]string, error) {
	bad := &FieldError{Field: "page_token", Reason: "is not a page token of this query; start again without it"}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, bad
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != 1 || c.Fingerprint != fp || len(c.After) != n {
		return nil, bad
	}
	if n == 2 {
		if _, err := strconv.ParseFloat(c.After[0], 64); err != nil {
			return nil, bad
		}
	}
	return c.After, nil
}

// formatScore writes a score so that parsing it gives back the same float64.
func formatScore(s float64) string { return strconv.FormatFloat(s, 'g', -1, 64) }
