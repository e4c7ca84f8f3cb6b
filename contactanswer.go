package sfmc

import (
	"bytes"
	"strings"
)

// fastContactResult decodes the common answer to a contact write — one
// flat JSON object of strings, integers and booleans, with an empty
// resultMessages, saying the write succeeded — without encoding/json, which
// costs about ten times as much for it (and is 5% of a push's CPU). It
// reports false for anything else (a FAIL, nested or escaped values, a
// field of another type, invalid JSON): decodeContactResult then decodes
// the answer with encoding/json, so the result never differs (the fuzz
// target FuzzDecodeContactResult checks that it does not).
func fastContactResult(key string, b []byte) (*ContactResult, bool) {
	var (
		w    wireContactResult
		rows int64 = -1
		typo int64 = -1
		s    scanner
	)
	s.b = b
	s.space()
	if !s.byte('{') {
		return nil, false
	}
	s.space()
	if s.byte('}') {
		return nil, false // {} is rare: let encoding/json say what it is
	}
	for {
		s.space()
		k, ok := s.raw()
		if !ok {
			return nil, false
		}
		s.space()
		if !s.byte(':') {
			return nil, false
		}
		s.space()
		switch {
		case is(k, "operationStatus"):
			w.OperationStatus, ok = s.str()
		case is(k, "contactKey"):
			w.ContactKey, ok = s.str()
		case is(k, "requestServiceMessageID"):
			w.RequestServiceMessageID, ok = s.str()
		case is(k, "serviceMessageID"):
			w.ServiceMessageID, ok = s.str()
		case is(k, "responseDateTime"):
			w.ResponseDateTime, ok = s.str()
		case is(k, "rowsAffected"):
			rows, ok = s.int()
		case is(k, "rowsAffetcted"):
			typo, ok = s.int()
		case is(k, "contactID"):
			w.ContactID, ok = s.int()
		case is(k, "contactTypeID"):
			w.ContactTypeID, ok = s.int()
		case is(k, "isNewContactKey"):
			w.IsNewContactKey, ok = s.bool()
		case is(k, "hasErrors"):
			w.HasErrors, ok = s.bool()
		case is(k, "resultMessages"):
			ok = s.byte('[') && s.spaced(']')
		default:
			ok = s.scalar()
		}
		if !ok {
			return nil, false
		}
		s.space()
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			return nil, false
		}
		s.space()
		if s.i != len(b) || strings.EqualFold(w.OperationStatus, "FAIL") || w.HasErrors {
			return nil, false
		}
		break
	}
	w.RowsAffected, w.RowsAffetcted = rows, typo
	return w.result(key), true
}

// scanner reads the few JSON forms fastContactResult accepts.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// spaced reads optional space then c.
func (s *scanner) spaced(c byte) bool {
	s.space()
	return s.byte(c)
}

// is reports whether key k names the field name, matched as encoding/json
// matches keys (without regard to case).
func is(k []byte, name string) bool {
	return len(k) == len(name) && bytes.EqualFold(k, []byte(name))
}

// raw reads a string without escapes, control characters or non-ASCII
// (anything else is left to encoding/json) and returns its bytes.
func (s *scanner) raw() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false // escapes, control characters, non-ASCII
		}
		s.i++
	}
	return nil, false
}

// str is raw as a string.
func (s *scanner) str() (string, bool) {
	v, ok := s.raw()
	return string(v), ok
}

// int reads an integer that fits int64.
func (s *scanner) int() (int64, bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	t := s.b[start:s.i]
	if len(t) == 0 || len(t) > 1 && t[0] == '0' || len(t) > 2 && t[0] == '-' && t[1] == '0' {
		return 0, false // not JSON's grammar: let encoding/json say so
	}
	var n int64
	for _, d := range t {
		if d == '-' {
			continue
		}
		if n > (1<<63-1-9)/10 {
			return 0, false // near the edge of int64: let encoding/json decide
		}
		n = n*10 + int64(d-'0')
	}
	if t[0] == '-' {
		n = -n
	}
	return n, true
}

func (s *scanner) bool() (bool, bool) {
	switch {
	case s.word("true"):
		return true, true
	case s.word("false"):
		return false, true
	}
	return false, false
}

func (s *scanner) word(w string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// scalar skips a value of a field fastContactResult does not read: a
// string, an integer or a boolean (anything else is left to encoding/json).
func (s *scanner) scalar() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.raw()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		_, ok := s.int()
		return ok
	}
	_, ok := s.bool()
	return ok
}
