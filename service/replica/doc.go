// Package replica runs one searchd as a replica of a cluster kept in step by
// NATS JetStream (searchd -nats-url):
//
//   - document changes are published to a stream, one message per document on
//     a subject of its own, a batch as one atomic publish; the stream keeps the
//     last change to each document (it is the cluster's change log, compacted
//     as the local change log is) and every replica applies it in order;
//   - a reindex is built by one replica at a time (a lock in a key-value bucket
//     with a time to live), published as a snapshot to an object store, and
//     announced by moving the current pointer in another bucket, which every
//     replica watches: it downloads and verifies the snapshot, opens it beside
//     the live index, catches it up with the stream and swaps it in;
//   - replicas report themselves in a bucket of heartbeats.
//
// It depends on index (stores, indexes, the live index) and on the NATS client,
// never on service or protobuf: the service wires it in through Local and
// converts what it returns.
package replica
