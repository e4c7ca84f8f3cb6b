package sfmc

import (
	"encoding/json"
	"errors"
)

// jsonUnmarshalLenient decodes body into v, ignoring an empty body.
func jsonUnmarshalLenient(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	return json.Unmarshal(body, v)
}

// Caps on the elements decoded from one answer. A body of many tiny
// elements ("[{},{},...]") would otherwise cost a struct per element —
// hundreds of times the body's size — so answers are walked with
// jsonArray and only this many elements are decoded.
const (
	// maxMessages bounds resultMessages and additionalErrors kept in one
	// error; the rest are counted in a final "... and N more" entry.
	maxMessages = 100
	// maxPageItems and maxPageAttributes bound one attribute-set page
	// (real pages hold at most CatalogPageSize sets); a page beyond them is
	// an error, never silently cut.
	maxPageItems      = 10 * CatalogPageSize
	maxPageAttributes = 200_000
)

// jsonArray keeps a JSON array's raw bytes and walks its elements without
// decoding them all. null decodes to an empty array.
type jsonArray []byte

// UnmarshalJSON keeps the array's bytes.
func (a *jsonArray) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return errors.New("sfmc: expected a JSON array")
	}
	*a = append((*a)[:0], b...)
	return nil
}

// each calls fn with each element of the array, in order, for the first
// limit elements (none when fn is nil), and returns how many elements the
// array has. The bytes
// must be valid JSON (encoding/json has checked them before UnmarshalJSON).
func (a jsonArray) each(limit int, fn func(elem []byte) error) (int, error) {
	n := 0
	i := 1 // after '['
	for i < len(a) {
		for i < len(a) && isSpace(a[i]) {
			i++
		}
		if i >= len(a) || a[i] == ']' {
			break
		}
		start, depth, inString := i, 0, false
	scan:
		for ; i < len(a); i++ {
			c := a[i]
			if inString {
				switch c {
				case '\\':
					i++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '[', '{':
				depth++
			case ']', '}':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		end := i
		for end > start && isSpace(a[end-1]) {
			end--
		}
		n++
		if n <= limit && fn != nil {
			if err := fn(a[start:end]); err != nil {
				return n, err
			}
		}
		if i < len(a) && a[i] == ',' {
			i++
			continue
		}
		break
	}
	return n, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
