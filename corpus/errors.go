package corpus

import "fmt"

// RecordError reports bad input in one record or one file: a malformed JSONL line, a front matter block
// that is not valid YAML, a file that cannot be read. Reading can go on with the next record or file.
type RecordError struct {
	// Path is the file the record came from.
	Path string
	// Line is the 1-based line of the record, or 0 when the error is about the whole file.
	Line int
	// Err says what is wrong.
	Err error
}

// Error returns "path:line: message", or "path: message" for a whole-file error.
func (e *RecordError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }
