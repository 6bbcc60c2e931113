// Package corpus says what a searchable document is and reads documents from the places a site keeps
// them: Markdown articles and FAQs, HTML pages (Sphinx, DocBook, Javadoc and hand-written), and JSON Lines
// files (BEIR's corpus.jsonl among them). It also holds the taxonomy that tags each document with the
// languages, frameworks, databases and topics it is about, and the embedded default corpus the service
// serves when it is given nothing else.
//
// A reader turns a page into records: one per section (H1–H3) and one per FAQ question, each with a stable
// ID made of the page slug and the heading anchor. Bad input is reported as a *RecordError carrying the file
// and line, so a caller can skip a record and go on.
//
// corpus must not depend on the index (Bleve), the API (gRPC, protobuf, the gateway) or any other package
// of this module: it is the bottom layer, and everything above it speaks in its Document type.
package corpus
