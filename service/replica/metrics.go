package replica

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the replica's Prometheus metrics; the service registers them
// with its own (Collectors).
type metrics struct {
	all []prometheus.Collector

	delay          prometheus.Histogram
	writes         *prometheus.CounterVec
	publishSeconds prometheus.Histogram
	badMessages    prometheus.Counter
	applyErrors    prometheus.Counter

	downloads              *prometheus.CounterVec
	downloadSeconds        prometheus.Histogram
	downloadBytes          prometheus.Counter
	swaps                  *prometheus.CounterVec
	swapSeconds            prometheus.Histogram
	snapshotPublishes      *prometheus.CounterVec
	snapshotPublishSeconds prometheus.Histogram
}

// secondsBuckets span a replication delay of a millisecond to a snapshot
// download of minutes.
var secondsBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func newMetrics() *metrics {
	m := &metrics{
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stacksearch_replication_delay_seconds", Help: "Time from the stream storing a change to this replica applying it (visible to searches).",
			Buckets: secondsBuckets,
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stacksearch_replication_writes_total", Help: "Document writes published to the stream by this replica, by outcome (ok, unavailable).",
		}, []string{"outcome"}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stacksearch_replication_publish_seconds", Help: "Time the stream took to acknowledge a write.", Buckets: secondsBuckets,
		}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stacksearch_replication_bad_messages_total", Help: "Stream messages that are not document changes, skipped.",
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stacksearch_replication_apply_errors_total", Help: "Failed attempts to apply stream changes to the index (retried).",
		}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stacksearch_snapshot_downloads_total", Help: "Snapshot downloads, by outcome (ok, error, corrupt).",
		}, []string{"outcome"}),
		downloadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stacksearch_snapshot_download_seconds", Help: "Time to download, verify and open a snapshot.", Buckets: secondsBuckets,
		}),
		downloadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stacksearch_snapshot_download_bytes_total", Help: "Bytes of snapshots downloaded.",
		}),
		swaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stacksearch_snapshot_swaps_total", Help: "Snapshots swapped in as the served index, by outcome (ok, error).",
		}, []string{"outcome"}),
		swapSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stacksearch_snapshot_swap_seconds", Help: "Time from starting to install a snapshot (download included) to serving it.", Buckets: secondsBuckets,
		}),
		snapshotPublishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stacksearch_snapshot_publishes_total", Help: "Snapshots this replica published, by outcome (ok, error).",
		}, []string{"outcome"}),
		snapshotPublishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stacksearch_snapshot_publish_seconds", Help: "Time to copy an index and upload it as a snapshot.", Buckets: secondsBuckets,
		}),
	}
	for _, o := range []string{"ok", "unavailable"} {
		m.writes.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "error", "corrupt"} {
		m.downloads.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "error"} {
		m.swaps.WithLabelValues(o)
		m.snapshotPublishes.WithLabelValues(o)
	}
	m.all = []prometheus.Collector{m.delay, m.writes, m.publishSeconds, m.badMessages, m.applyErrors,
		m.downloads, m.downloadSeconds, m.downloadBytes, m.swaps, m.swapSeconds, m.snapshotPublishes, m.snapshotPublishSeconds}
	return m
}

// watchState adds the gauges read from the connection, the live index and
// the stream's last reading at each scrape.
func (m *metrics) watchState(r *Replica) {
	m.all = append(m.all,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stacksearch_replication_applied_sequence", Help: "The last stream sequence this replica applied to its index.",
		}, func() float64 { return float64(r.live.AppliedSeq()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stacksearch_replication_stream_sequence", Help: "The stream's last sequence, as last read (every heartbeat).",
		}, func() float64 { return float64(r.streamLast.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stacksearch_nats_connected", Help: "1 while this replica reaches NATS, else 0 (it then serves searches and refuses writes).",
		}, func() float64 {
			if r.nc.Status() == nats.CONNECTED {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stacksearch_replication_lag", Help: "Stream sequences this replica has yet to apply (as of the last heartbeat's reading of the stream).",
		}, func() float64 {
			last, applied := r.streamLast.Load(), r.live.AppliedSeq()
			return float64(last - min(applied, last))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stacksearch_replication_ready", Help: "1 once this replica has joined the cluster (served the current snapshot and applied the stream's tail).",
		}, func() float64 {
			if r.ready.Load() {
				return 1
			}
			return 0
		}),
	)
}

// Collectors returns the replica's metrics, to register.
func (r *Replica) Collectors() []prometheus.Collector { return r.metrics.all }
