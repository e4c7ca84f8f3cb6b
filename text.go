package sfmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidUTF8 matches errors for text that is not valid UTF-8: a
// profile line holding invalid bytes or an unpaired UTF-16 surrogate escape
// such as "\ud800" (a *RecordError naming the field, from DecodeProfile),
// and a Contact whose key, set name, attribute name or string value is not
// valid UTF-8 (with ErrInvalidContact, from Contact.Validate). The SDK
// never replaces such text by U+FFFD: two different keys would become one.
var ErrInvalidUTF8 = errors.New("sfmc: invalid UTF-8")

// ErrKeyWhitespace matches a *RecordError for a contact key with leading or
// trailing whitespace. The key is never trimmed: "K 16" and " K 16" are
// different contacts to SFMC, and a changed key would write to the wrong
// one.
var ErrKeyWhitespace = errors.New("sfmc: contact key has leading or trailing whitespace")

// textError describes invalid text; it matches ErrInvalidUTF8.
type textError struct{ detail string }

func (e *textError) Error() string        { return "invalid UTF-8: " + e.detail }
func (e *textError) Is(target error) bool { return target == ErrInvalidUTF8 }

// checkUTF8 returns nil when s is valid UTF-8, else a *textError naming the
// first invalid byte and its offset in s.
func checkUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return &textError{fmt.Sprintf("byte 0x%02x at offset %d", s[i], i)}
		}
		i += size
	}
	return nil // not reached: ValidString said there is an invalid byte
}

// checkKeyWhitespace returns ErrKeyWhitespace (with the key quoted) when
// key starts or ends with white space (unicode.IsSpace, what
// strings.TrimSpace removes).
func checkKeyWhitespace(key string) error {
	first, _ := utf8.DecodeRuneInString(key)
	last, _ := utf8.DecodeLastRuneInString(key)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return fmt.Errorf("%w: %s (the key is sent as it is, never trimmed: fix it in the source)", ErrKeyWhitespace, strconv.Quote(key))
	}
	return nil
}

// checkProfileText returns nil when line holds no invalid UTF-8 and no
// unpaired surrogate escape (the two things encoding/json would silently
// turn into U+FFFD), else a *RecordError naming the field path of the first
// one (identityMap.contactKey[0].id). The common case, valid text, costs
// one utf8.Valid and a scan for backslashes.
func checkProfileText(line []byte) error {
	bad := -1
	var detail string
	if !utf8.Valid(line) {
		for i := 0; i < len(line); {
			r, size := utf8.DecodeRune(line[i:])
			if r == utf8.RuneError && size == 1 {
				bad, detail = i, fmt.Sprintf("byte 0x%02x at offset %d of the line", line[i], i)
				break
			}
			i += size
		}
	}
	if at, esc := loneSurrogate(line); at >= 0 && (bad < 0 || at < bad) {
		bad, detail = at, fmt.Sprintf("the escape %s at offset %d of the line is an unpaired UTF-16 surrogate, not a character", esc, at)
	}
	if bad < 0 {
		return nil
	}
	field, isName, ok := fieldAt(line, bad)
	if !ok {
		// Outside any string: a JSON syntax error the decoder reports.
		return nil
	}
	if isName {
		detail += " (in the field name)"
	}
	return &RecordError{Field: field, Err: &textError{detail}}
}

// loneSurrogate returns the offset and text of the first \u escape in line
// that is half of a UTF-16 surrogate pair without its other half, or -1.
// Backslashes are taken in order, so an escaped backslash ("\\ud800", the
// text \ud800) is no escape. Malformed escapes are left to the decoder.
func loneSurrogate(line []byte) (int, string) {
	for i := 0; ; {
		j := bytes.IndexByte(line[i:], '\\')
		if j < 0 {
			return -1, ""
		}
		i += j
		if i+1 >= len(line) {
			return -1, ""
		}
		if line[i+1] != 'u' {
			i += 2
			continue
		}
		r, ok := hex4(line[i+2:])
		if !ok {
			return -1, ""
		}
		at := i
		i += 6
		switch {
		case r < 0xD800 || r > 0xDFFF:
			continue
		case r <= 0xDBFF: // high half: a low half must follow
			if i+6 <= len(line) && line[i] == '\\' && line[i+1] == 'u' {
				if r2, ok := hex4(line[i+2:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					i += 6
					continue
				}
			}
		}
		return at, string(line[at : at+6])
	}
}

// hex4 decodes four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// pathFrame is one open object or array while fieldAt walks a line.
type pathFrame struct {
	object  bool
	wantKey bool   // object: the next string token is a field name
	key     string // object: the current field name
	index   int    // array: the current element
}

// fieldAt returns the dot path (arrays as [i]) of the string token of line
// that holds byte offset off, and whether that string is a field name
// rather than a value; ok is false when off is in no string token (a
// syntax error) or the line cannot be walked. This is the slow path, taken
// only for lines with invalid text.
func fieldAt(line []byte, off int) (field string, isName, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var stack []pathFrame
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", false, false
		}
		end := dec.InputOffset()
		top := len(stack) - 1
		naming := top >= 0 && stack[top].object && stack[top].wantKey
		if _, isString := tok.(string); isString && int64(off) >= start && int64(off) < end {
			if top < 0 {
				return "", false, false // not in an object: the decoder says so
			}
			var b strings.Builder
			for i, f := range stack {
				switch {
				case !f.object:
					fmt.Fprintf(&b, "[%d]", f.index)
				case i == top && naming:
					// the token is this object's next field name
				default:
					if b.Len() > 0 {
						b.WriteByte('.')
					}
					b.WriteString(f.key)
				}
			}
			if naming {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(rawStringText(line[start:end]))
			}
			return b.String(), naming, true
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, pathFrame{object: true, wantKey: true})
			case '[':
				stack = append(stack, pathFrame{})
			default:
				stack = stack[:top]
				valueDone()
			}
		case string:
			if naming {
				stack[top].key, stack[top].wantKey = t, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// rawStringText returns the text between the quotes of a string token as
// it is in the line (escapes and invalid bytes untouched), skipping the
// separators before it.
func rawStringText(tok []byte) string {
	i := bytes.IndexByte(tok, '"')
	j := bytes.LastIndexByte(tok, '"')
	if i < 0 || j <= i {
		return string(tok)
	}
	return string(tok[i+1 : j])
}
