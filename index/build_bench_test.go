package index

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stacksearch/stacksearch/corpus"
)

// generatedDocs yields n documents of about 1 KB of text drawn from a
// vocabulary of technical words, the same for every run.
func generatedDocs(n int) iter.Seq2[corpus.Document, error] {
	words := strings.Fields(`server request response database query index cache session token route handler
		middleware framework python django flask node express java spring ruby rails php laravel go gin rust
		postgres mysql redis mongodb sqlite api rest grpc json http auth security deploy docker kubernetes
		cloud scale performance latency thread async queue worker log metric test build release version
		schema migration transaction connection pool template view model controller service client`)
	return func(yield func(corpus.Document, error) bool) {
		r := rand.New(rand.NewPCG(1, 2))
		var b strings.Builder
		for i := range n {
			b.Reset()
			for b.Len() < 1000 {
				b.WriteString(words[r.IntN(len(words))])
				b.WriteByte(' ')
			}
			d := corpus.Document{
				ID:    fmt.Sprintf("doc-%06d", i),
				Title: words[r.IntN(len(words))] + " " + words[r.IntN(len(words))] + " guide",
				Page:  "Page " + fmt.Sprint(i/10),
				Body:  b.String(),
				Type:  corpus.TypeSection,
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}

// BenchmarkBuildBatchSize builds an on-disk index of 20,000 generated records
// with several Bleve batch sizes; DefaultBatchSize is the best of them.
//
//	go test ./index -run '^$' -bench BuildBatchSize -benchtime 3x
func BenchmarkBuildBatchSize(b *testing.B) {
	const n = 20000
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, size := range []int{100, 250, 500, 1000, 2000, 5000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				store, err := OpenStore(b.TempDir(), log)
				if err != nil {
					b.Fatal(err)
				}
				ix, _, err := store.Build(context.Background(), generatedDocs(n), BuildOptions{BatchSize: size})
				if err != nil {
					b.Fatal(err)
				}
				ix.Close()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "docs/s")
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
