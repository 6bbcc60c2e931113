package index

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// BEIR relevance collections (corpus.jsonl, queries.jsonl, qrels/test.tsv)
// measure ranking: Evaluate scores a run against the judgments with the
// metrics BEIR reports.

// EvalQuery is one query of a relevance collection.
type EvalQuery struct {
	ID   string `json:"_id"`
	Text string `json:"text"`
}

// Qrels maps a query id to its judged documents and their relevance grades.
type Qrels map[string]map[string]int

// Metrics are a run's scores, averaged over the judged queries.
type Metrics struct {
	// NDCG10 is the normalised discounted cumulative gain of the top 10.
	NDCG10 float64
	// Recall100 is the fraction of relevant documents found in the top 100.
	Recall100 float64
	// MRR10 is the mean reciprocal rank of the first relevant document in the top 10.
	MRR10 float64
	// Queries is the number of judged queries evaluated.
	Queries int
}

// ReadEvalQueries reads a BEIR queries.jsonl file.
func ReadEvalQueries(path string) ([]EvalQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []EvalQuery
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var q EvalQuery
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil || q.ID == "" {
			return nil, fmt.Errorf("%s:%d: not a query object with _id and text", path, n)
		}
		out = append(out, q)
	}
	return out, sc.Err()
}

// ReadQrels reads a BEIR qrels TSV file (query-id, corpus-id, score, with a header).
func ReadQrels(path string) (Qrels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	q := Qrels{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		cols := strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
		if n == 1 && len(cols) > 0 && cols[0] == "query-id" || len(cols) == 1 && cols[0] == "" {
			continue
		}
		if len(cols) != 3 {
			return nil, fmt.Errorf("%s:%d: want query-id, corpus-id and score", path, n)
		}
		grade, err := strconv.Atoi(cols[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: score %q is not a number", path, n, cols[2])
		}
		if q[cols[0]] == nil {
			q[cols[0]] = map[string]int{}
		}
		q[cols[0]][cols[1]] = grade
	}
	return q, sc.Err()
}

// Evaluate scores a run (query id → ranked document ids) against the
// judgments, over the queries that have relevant documents.
func Evaluate(run map[string][]string, qrels Qrels) Metrics {
	var m Metrics
	ids := make([]string, 0, len(qrels))
	for id := range qrels {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, qid := range ids {
		judged := qrels[qid]
		var grades []int
		relevant := 0
		for _, g := range judged {
			if g > 0 {
				grades = append(grades, g)
				relevant++
			}
		}
		if relevant == 0 {
			continue
		}
		m.Queries++
		ranked := run[qid]
		dcg, found, rr := 0.0, 0, 0.0
		for i, doc := range ranked {
			g := judged[doc]
			if g <= 0 {
				continue
			}
			if i < 10 {
				dcg += (math.Pow(2, float64(g)) - 1) / math.Log2(float64(i+2))
				if rr == 0 {
					rr = 1 / float64(i+1)
				}
			}
			if i < 100 {
				found++
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(grades)))
		idcg := 0.0
		for i, g := range grades {
			if i == 10 {
				break
			}
			idcg += (math.Pow(2, float64(g)) - 1) / math.Log2(float64(i+2))
		}
		m.NDCG10 += dcg / idcg
		m.Recall100 += float64(found) / float64(relevant)
		m.MRR10 += rr
	}
	if m.Queries > 0 {
		n := float64(m.Queries)
		m.NDCG10, m.Recall100, m.MRR10 = m.NDCG10/n, m.Recall100/n, m.MRR10/n
	}
	return m
}
