package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/sfmc-go/sfmc"
)

// Input formats of push (--format).
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// inputFormat returns the format of the input: flag when set, else csv
// for a file named *.csv (any case) and ndjson for every other file and
// for standard input.
func inputFormat(flag, path string) (string, error) {
	switch flag {
	case formatNDJSON, formatCSV:
		return flag, nil
	case "":
		if path != "-" && strings.EqualFold(filepath.Ext(path), ".csv") {
			return formatCSV, nil
		}
		return formatNDJSON, nil
	}
	return "", fmt.Errorf("--format must be ndjson or csv, got %q", flag)
}

// inputFormatError says that the input is not in the format push reads.
// Reading stops at once: nothing of the input is used (exit 2).
type inputFormatError struct{ msg string }

func (e *inputFormatError) Error() string { return e.msg }

// ndjsonStart checks the first line of an NDJSON input that is not blank:
// one that shows the input is in another format (a JSON array, a JSON
// document spread over lines, CSV or TSV, XML, compressed or binary data)
// is an *inputFormatError, so that push stops with one clear error instead
// of failing every line. Any other line is a record like the others: a bad
// one is a failure record.
func ndjsonStart(num int64, line []byte) error {
	t := bytes.TrimLeft(line, " \t")
	if len(t) == 0 {
		return nil
	}
	notNDJSON := func(what, hint string) error {
		return &inputFormatError{fmt.Sprintf("input is not NDJSON: line %d starts with %s: push reads one JSON object per line%s", num, what, hint)}
	}
	switch c := t[0]; {
	case c == '{':
		if len(bytes.TrimSpace(t[1:])) == 0 {
			return notNDJSON("'{' alone (a JSON document over several lines?)", "; write one object per line, e.g. with jq -c . FILE")
		}
		return nil
	case c == '[':
		return notNDJSON("'[' (a JSON array?)", "; write its elements one per line, e.g. with jq -c '.[]' FILE")
	case c == '<':
		return notNDJSON("'<' (XML or HTML?)", "")
	case len(t) >= 2 && t[0] == 0x1f && t[1] == 0x8b:
		return notNDJSON("the bytes of gzip data", "; decompress it first, e.g. gzip -dc FILE | sfmc push ...")
	case bytes.HasPrefix(t, []byte("PK\x03\x04")):
		return notNDJSON("the bytes of a ZIP archive", "; extract the file first")
	case c < 0x20 || c == 0x7f:
		return notNDJSON(fmt.Sprintf("the byte 0x%02x (binary data?)", c), "")
	case bytes.IndexByte(t, '{') < 0 && bytes.ContainsAny(t, ",;\t"):
		return notNDJSON(fmt.Sprintf("%q (a CSV or TSV header?)", cut(string(t), 60)), "; for CSV use --format csv")
	}
	return nil
}

// cut returns s cut after n bytes (at a rune boundary), with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// csvColumn is one column of a CSV input: its name and the dot path into
// the profile it stands for.
type csvColumn struct {
	name string
	path []string
}

// csvHeader checks a CSV header row and returns its columns. Every column
// names a distinct dot path, none inside another ("a" and "a.b" cannot
// both be columns), and the mapping's identity is one of them.
func csvHeader(header []string, identity string) ([]csvColumn, int, error) {
	bad := func(format string, args ...any) error {
		return &inputFormatError{"CSV header (line 1): " + fmt.Sprintf(format, args...)}
	}
	cols := make([]csvColumn, len(header))
	byPath := make(map[string]int, len(header))
	keyCol := -1
	for i, name := range header {
		switch {
		case !utf8.ValidString(name):
			return nil, 0, bad("column %d: the name %q is not valid UTF-8", i+1, name)
		case name == "":
			return nil, 0, bad("column %d has no name: every column names a dot path into the profile, such as person.name.firstName", i+1)
		}
		path := strings.Split(name, ".")
		for _, p := range path {
			if p == "" {
				return nil, 0, bad("column %d: %q is not a dot path (an empty part)", i+1, name)
			}
		}
		if j, dup := byPath[name]; dup {
			return nil, 0, bad("columns %d and %d are both %q", j+1, i+1, name)
		}
		byPath[name] = i
		cols[i] = csvColumn{name: name, path: path}
		if name == identity {
			keyCol = i
		}
	}
	for i, c := range cols {
		for k := 1; k < len(c.path); k++ {
			if j, ok := byPath[strings.Join(c.path[:k], ".")]; ok {
				return nil, 0, bad("column %d %q is inside column %d %q: a field cannot hold both a value and other fields", i+1, c.name, j+1, cols[j].name)
			}
		}
	}
	if keyCol < 0 {
		return nil, 0, bad("no column %q: the mapping's identity (the contact key itself goes in that column)", identity)
	}
	return cols, keyCol, nil
}

// csvProfile returns the profile of one CSV record as an NDJSON line:
// each non-empty cell at its column's path, as a string exactly as it is
// in the file (an empty cell means absent). Invalid UTF-8 in a cell is a
// *sfmc.RecordError naming the column, never replaced.
func csvProfile(cols []csvColumn, rec []string) ([]byte, error) {
	prof := make(map[string]any, 4)
	for i, cell := range rec {
		if cell == "" {
			continue
		}
		if !utf8.ValidString(cell) {
			off := 0
			for off < len(cell) {
				r, size := utf8.DecodeRuneInString(cell[off:])
				if r == utf8.RuneError && size == 1 {
					break
				}
				off += size
			}
			return nil, &sfmc.RecordError{Field: cols[i].name,
				Err: fmt.Errorf("%w: byte 0x%02x at offset %d of the cell (CSV column %d)", sfmc.ErrInvalidUTF8, cell[off], off, i+1)}
		}
		m := prof
		for _, p := range cols[i].path[:len(cols[i].path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = make(map[string]any, 2)
				m[p] = next
			}
			m = next
		}
		m[cols[i].path[len(cols[i].path)-1]] = cell
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(prof); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// newCSVReader starts reading r as CSV (RFC 4180, encoding/csv): a header
// row whose column names are dot paths into the profile, then one record
// per row, handed over as the NDJSON line of its profile (csvProfile), so
// that the rest of push, the failures file and its replay treat both
// formats alike. A record that does not parse (a stray quote, a wrong
// number of fields, invalid UTF-8) is handed over with its error and its
// original text. identity is the mapping's identity: its column must be in
// the header. A record longer than max bytes stops reading (a CSV reader
// cannot find the next record reliably after it).
func newCSVReader(r io.Reader, max int64, identity string) *lineReader {
	lr := newReaderState(max)
	go lr.csvLoop(&stopReader{r: r, lr: lr}, identity)
	return lr
}

// csvTooLongError stops a CSV input with a record longer than the
// limit.
type csvTooLongError struct {
	line int64
	max  int64
}

func (e *csvTooLongError) Error() string {
	return fmt.Sprintf("the CSV record starting on line %d is longer than %d bytes (the longest accepted); reading stopped there", e.line, e.max)
}

// csvRecorder sits between the input and the CSV parser: it keeps the
// bytes not yet consumed, so that a record's original text is at hand,
// calls before (hand the records parsed over) before every read of the
// input, which may block, and bounds a record's size.
type csvRecorder struct {
	r      io.Reader
	before func() error
	buf    []byte // input from offset base on
	base   int64
	max    int64
	mark   int64 // end of the last record
	line   int64 // line where the record being parsed starts (for the error)
}

func (c *csvRecorder) Read(p []byte) (int, error) {
	if err := c.before(); err != nil {
		return 0, err
	}
	if c.base+int64(len(c.buf))-c.mark > c.max+readerBuffer {
		return 0, &csvTooLongError{line: c.line, max: c.max}
	}
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	return n, err
}

// text returns the input from offset from to offset to.
func (c *csvRecorder) text(from, to int64) []byte {
	return c.buf[from-c.base : to-c.base]
}

// consume drops the input before offset off, now that its records are
// handed over (by chunks, so that the copying stays small).
func (c *csvRecorder) consume(off int64) {
	c.mark = off
	if drop := off - c.base; drop >= 1<<20 {
		c.buf = c.buf[:copy(c.buf, c.buf[drop:])]
		c.base = off
	}
}

func (lr *lineReader) csvLoop(src io.Reader, identity string) {
	defer close(lr.batches)
	b, ok := lr.next()
	if !ok {
		return
	}
	rec := &csvRecorder{r: src, max: lr.max, line: 1}
	rec.before = func() error {
		if len(b.lines) == 0 {
			return nil
		}
		lr.batches <- b // never blocks: the channel has room for every batch
		nb, ok := lr.next()
		if !ok {
			b = &lineBatch{}
			return errStopped
		}
		b = nb
		return nil
	}
	br := bufio.NewReaderSize(rec, readerBuffer)
	var bom int64
	if head, err := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		bom = int64(len(utf8BOM))
	} else if err != nil && len(head) == 0 {
		lr.setErr(err)
		return
	}
	lr.consumed.Store(bom)
	if head, _ := br.Peek(1); len(head) == 1 && (head[0] == '{' || head[0] == '[') {
		lr.setErr(&inputFormatError{fmt.Sprintf("input is not CSV: line 1 starts with %q (JSON?): a CSV input starts with its header row; for NDJSON use --format ndjson", head)})
		return
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if err != io.EOF && !errors.Is(err, errStopped) {
			var tooLong *csvTooLongError
			if !errors.As(err, &tooLong) {
				err = &inputFormatError{"CSV header (line 1): " + err.Error()}
			}
		}
		lr.setErr(err)
		return
	}
	cols, keyCol, err := csvHeader(header, identity)
	if err != nil {
		lr.setErr(err)
		return
	}
	prevEnd := bom + cr.InputOffset()
	lines := int64(bytes.Count(rec.text(0, prevEnd), []byte("\n")))
	rec.consume(prevEnd)
	for {
		rec.line = lines + 1
		row, err := cr.Read()
		if err == io.EOF || errors.Is(err, errStopped) {
			lr.setErr(err)
			break
		}
		var tooLong *csvTooLongError
		if errors.As(err, &tooLong) {
			lr.setErr(tooLong)
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			lr.setErr(err) // a read error other than the end: reading stops
			break
		}
		end := bom + cr.InputOffset()
		raw := rec.text(prevEnd, end)
		ref := lineRef{start: len(b.data)}
		if pe != nil {
			ref.num = int64(pe.StartLine)
			ref.err = "not a CSV record: " + err.Error()
			if errors.Is(err, csv.ErrFieldCount) {
				ref.err = fmt.Sprintf("not a CSV record: line %d has %d fields, the header %d", pe.StartLine, len(row), len(cols))
			}
		} else {
			l, _ := cr.FieldPos(0)
			ref.num = int64(l)
		}
		// The original text, without the blank lines before the record
		// and the line break after it.
		text := trimLineBreak(bytes.TrimLeft(raw, "\r\n"))
		if ref.err == "" {
			line, perr := csvProfile(cols, row)
			if perr != nil {
				ref.err = perr.Error()
				if keyCol < len(row) && utf8.ValidString(row[keyCol]) && row[keyCol] != "" {
					k := row[keyCol]
					ref.key = &k
				}
				b.data = append(b.data, text...)
			} else {
				b.data = append(b.data, line...)
			}
		} else {
			b.data = append(b.data, text...)
		}
		ref.end = len(b.data)
		lines += int64(bytes.Count(raw, []byte("\n")))
		ref.endNum = lines
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			ref.endNum = lines + 1
		}
		b.lines = append(b.lines, ref)
		prevEnd = end
		rec.consume(end)
		lr.consumed.Store(end)
		if len(b.lines) >= batchLines || len(b.data) >= batchBytes {
			lr.batches <- b
			if b, ok = lr.next(); !ok {
				return
			}
		}
	}
	if len(b.lines) > 0 {
		lr.batches <- b
	}
}
