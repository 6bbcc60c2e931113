// Package index is Stacksearch's search core on Bleve: the mapping, building an
// index from documents (in memory or to a directory), opening one, swapping the
// live index atomically, applying document changes, and turning a search request
// into a Bleve query and its results back into plain Go values.
//
// It depends on corpus for what a document is and for the taxonomy. It knows
// nothing of gRPC, protobuf or HTTP: the service package translates requests into
// Request values and Result values into responses.
package index
