package index

import "errors"

// Sentinel errors, wrapped with detail as they rise; the service maps them to
// status codes in one place.
var (
	// ErrInvalid marks a request or document that is malformed (bad page token,
	// unknown facet field, empty id). Its message names the field.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound marks a document id that is not in the index.
	ErrNotFound = errors.New("not found")
	// ErrNoIndex marks a data directory that holds no complete index yet.
	ErrNoIndex = errors.New("no index")
	// ErrNotReady marks a call made before the first index is being served.
	ErrNotReady = errors.New("index not ready")
	// ErrBadCorpus marks a corpus with malformed records when bad records are not skipped.
	ErrBadCorpus = errors.New("bad corpus")
)

// FieldError is an invalid value of one named request or document field.
type FieldError struct {
	// Field is the path of the field, e.g. "page_token" or "documents[3].title".
	Field string
	// Reason says what is wrong with it, for a person.
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }
