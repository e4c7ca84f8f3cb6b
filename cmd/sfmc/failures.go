package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Status of a failure record.
const (
	statusFailed  = "failed"  // a record error, or SFMC refused the contact or gave no answer
	statusNotSent = "notSent" // read but never sent: replaying it is all it needs
)

// failureRecord is one line of the failures file. line, contactKey and
// error are the original fields (see README); the others were added so
// that the file can be reconciled and replayed: status, mayHaveApplied,
// and the original input line, as a JSON string (input) when it is valid
// UTF-8, else as the base64 of its bytes (inputBase64). A line longer than
// maxLineBytes is not kept (neither field). push reads a failure record in
// its input as the line it holds (see failureRecordInput).
type failureRecord struct {
	Line           int64   `json:"line"`
	ContactKey     *string `json:"contactKey"` // null when the line has no usable key
	Error          string  `json:"error"`
	Status         string  `json:"status"`                   // statusFailed or statusNotSent
	MayHaveApplied bool    `json:"mayHaveApplied,omitempty"` // failed, but SFMC may have stored it (no answer)
	Input          *string `json:"input,omitempty"`          // the original line, when valid UTF-8
	InputBase64    []byte  `json:"inputBase64,omitempty"`    // the original line's bytes, when not
}

// failureKeys are the JSON keys of a failure record.
var failureKeys = map[string]bool{
	"line": true, "contactKey": true, "error": true, "status": true,
	"mayHaveApplied": true, "input": true, "inputBase64": true,
}

// setInput stores the original line in r, losslessly.
func (r *failureRecord) setInput(line []byte) {
	if line == nil {
		return
	}
	if utf8.Valid(line) {
		s := string(line)
		r.Input = &s
		return
	}
	r.InputBase64 = append([]byte(nil), line...)
}

// failureRecordInput reports whether a decoded input line is a failure
// record (only the keys of failureRecord, with "line", "error" and a
// known "status") and returns the original line it holds. A failure
// record without its line (the line was too long to keep) gives an error.
func failureRecordInput(prof map[string]any) (line []byte, isRecord bool, err error) {
	st, ok := prof["status"].(string)
	if !ok || (st != statusFailed && st != statusNotSent) {
		return nil, false, nil
	}
	if _, ok := prof["line"].(json.Number); !ok {
		return nil, false, nil
	}
	if _, ok := prof["error"].(string); !ok {
		return nil, false, nil
	}
	for k := range prof {
		if !failureKeys[k] {
			return nil, false, nil
		}
	}
	if s, ok := prof["input"].(string); ok {
		return []byte(s), true, nil
	}
	if s, ok := prof["inputBase64"].(string); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, true, fmt.Errorf("failure record of line %v: inputBase64 is not base64: %w", prof["line"], err)
		}
		return b, true, nil
	}
	return nil, true, fmt.Errorf("failure record of line %v holds no input line (it was longer than %d bytes and was not kept): %v", prof["line"], maxLineBytes, prof["error"])
}

// failureWriter writes failure records as NDJSON to a file that
// openFailures creates (or truncates) before anything is sent, so that the
// file always describes the last run. It is safe for concurrent use: the
// Upserter's OnResult calls it from its workers. Records come in the order
// their outcomes arrive, not in input order.
type failureWriter struct {
	path    string
	discard bool // no file (discardFailures): records are dropped

	broken atomic.Bool // a write failed: records are being lost

	mu        sync.Mutex
	f         *os.File
	buf       bytes.Buffer
	enc       *json.Encoder // into buf
	n         int64         // records written
	lost      int64         // records that could not be written
	firstLost int64         // smallest line number of a record not written (0: none)
	err       error         // first error writing the file
}

// openFailures creates or truncates the failures file at path. A new file
// is readable by its owner only (mode 0600): it holds the profiles' data.
// A file that is one of notSame (compared by identity once open; "" is
// none) is left as it is, and an error says so.
func openFailures(path string, notSame ...string) (*failureWriter, error) {
	if path == "" {
		return nil, errors.New("--failures: a file name is required")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failures file: %w", err)
	}
	// Compared once open, before truncating: under another name (a link, a
	// case-insensitive file system) it may still be a file push uses.
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failures file: %w", err)
	}
	for _, other := range notSame {
		if other == "" {
			continue
		}
		if ot, err := os.Stat(other); err == nil && os.SameFile(st, ot) {
			_ = f.Close()
			return nil, fmt.Errorf("--failures %s is the file %s: name another file", path, other)
		}
	}
	if st.Mode().IsRegular() { // a device (/dev/null) has nothing to truncate
		if err := f.Truncate(0); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("failures file: %w", err)
		}
	}
	fw := &failureWriter{path: path, f: f}
	fw.enc = json.NewEncoder(&fw.buf)
	fw.enc.SetEscapeHTML(false)
	return fw, nil
}

// discardFailures returns a failureWriter that keeps no file: the failures
// of a dry run without --failures are counted, not written.
func discardFailures() *failureWriter {
	fw := &failureWriter{discard: true}
	fw.enc = json.NewEncoder(&fw.buf)
	return fw
}

// Write appends one record. Each record is one write to the file (no
// buffering), so that a record counted as written is in the file, and one
// that could not be written is known by its line.
func (fw *failureWriter) Write(r *failureRecord) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.discard {
		return
	}
	if fw.err == nil && fw.f == nil {
		fw.err = errors.New("written after it was closed")
	}
	if fw.err == nil {
		fw.buf.Reset()
		err := fw.enc.Encode(r)
		if err == nil {
			_, err = fw.f.Write(fw.buf.Bytes())
		}
		if err != nil {
			fw.err = err
		}
	}
	if fw.err != nil {
		fw.broken.Store(true)
		fw.lost++
		if fw.firstLost == 0 || r.Line < fw.firstLost {
			fw.firstLost = r.Line
		}
		return
	}
	fw.n++
}

// Broken reports whether a record could not be written.
func (fw *failureWriter) Broken() bool { return fw.broken.Load() }

// Close flushes and closes the file and returns the first error met.
func (fw *failureWriter) Close() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f != nil {
		if err := fw.f.Close(); err != nil && fw.err == nil {
			fw.err = err
		}
		fw.f = nil
	}
	if fw.err != nil {
		return fmt.Errorf("writing the failures file %s: %w", fw.path, fw.err)
	}
	return nil
}

// counts returns the records written and lost, and the smallest line
// number among the lost ones (0: none).
func (fw *failureWriter) counts() (written, lost, firstLost int64) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.n, fw.lost, fw.firstLost
}
