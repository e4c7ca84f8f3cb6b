package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// failureRecord is one line of the failures file.
type failureRecord struct {
	Line       int64   `json:"line"`
	ContactKey *string `json:"contactKey"` // null when the line has no usable key
	Error      string  `json:"error"`
}

// failureWriter writes failure records as NDJSON to a file it creates on
// the first record, so no file appears when nothing failed. It is safe for
// concurrent use: the Upserter's OnResult calls it from its workers.
type failureWriter struct {
	path string

	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	n   int64
	err error // first error creating or writing the file
}

// Write appends one record. key is nil when unknown.
func (fw *failureWriter) Write(line int64, key *string, msg string) {
	b, err := json.Marshal(failureRecord{Line: line, ContactKey: key, Error: msg})
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.n++
	if fw.err != nil {
		return
	}
	if err != nil {
		fw.err = err
		return
	}
	if fw.f == nil {
		f, err := os.Create(fw.path)
		if err != nil {
			fw.err = err
			return
		}
		fw.f, fw.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	b = append(b, '\n')
	if _, err := fw.w.Write(b); err != nil {
		fw.err = err
	}
}

// Count returns the number of records written (or attempted).
func (fw *failureWriter) Count() int64 {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.n
}

// Close flushes and closes the file, if one was created, and returns the
// first error met.
func (fw *failureWriter) Close() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f != nil {
		if err := fw.w.Flush(); err != nil && fw.err == nil {
			fw.err = err
		}
		if err := fw.f.Close(); err != nil && fw.err == nil {
			fw.err = err
		}
		fw.f = nil
	}
	if fw.err != nil {
		return fmt.Errorf("writing failures file %s: %w", fw.path, fw.err)
	}
	return nil
}
