package sfmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidValue matches a *RecordError (and the errors of CheckValue)
// for a value that does not fit its target attribute's data type: a
// fraction for a Number, "maybe" for a Boolean, a malformed email address,
// and so on. The error names the value and the type.
var ErrInvalidValue = errors.New("sfmc: value does not fit the target attribute's data type")

// Ranges of SFMC's whole-number types.
const (
	minNumber = math.MinInt32 // Number is a 32-bit whole number
	maxNumber = math.MaxInt32
	minByte   = 0 // Byte is an unsigned 8-bit whole number
	maxByte   = 255
)

// Limits of EmailAddress and Phone values.
const (
	maxEmailBytes  = 254 // the longest address SMTP can carry
	maxPhoneDigits = 15  // E.164
)

// Date values must lie in SFMC's (SQL Server datetime) range.
const (
	minDateYear = 1753
	maxDateYear = 9999
)

// dateLayouts are the Date formats CheckValue accepts: ISO 8601 dates and
// date-times (with or without fraction and zone, 'T' or a space between),
// and the US month/day/year forms SFMC itself displays, with an optional
// 24-hour or AM/PM time.
var dateLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"1/2/2006",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
}

// CheckValue reports whether v may be sent as the value of attribute a,
// by a's data type and length. ProfileMapper.Map checks every mapped value
// with it, and Mapping.Validate every constant, so that bad input never
// reaches SFMC; call it yourself before Upsert when you build contacts by
// hand. It never changes v: what passes is sent as it is.
//
// v is a value Contact accepts (string, bool, integer, finite float,
// json.Number). A number's text is the one the request carries (e.g.
// 1e308, 12.5). The checks, by DataType (letter case ignored):
//
//   - Text, and any type not listed here: the value's text — a string, a
//     number's digits, true or false — has at most Length characters
//     (Unicode code points) when Length is positive; -1 or 0 is unlimited.
//     So 1e308 does not fit a Text(4).
//   - Number (whole numbers from -2147483648 to 2147483647), LongNumber
//     (64-bit whole numbers) and Byte (0 to 255): a number, or a string
//     holding one, written as digits with an optional '-', without
//     fraction or exponent.
//   - Decimal: a number, or a string holding one in JSON's number syntax,
//     with at most Scale digits after the point and at most Length-Scale
//     before it when Length (the precision) is positive.
//   - Boolean: true or false (a JSON bool, or a string in any letter case)
//     or 1 or 0 (a number or a string). SFMC's documentation sends true and
//     "true"; other spellings ("yes", "Y") are refused rather than guessed.
//   - Date: a string in one of the layouts ISO 8601 dates and date-times
//     (2024-05-31, 2024-05-31T13:45:00Z, 2024-05-31 13:45:00.123) or US
//     month/day/year (5/31/2024, 5/31/2024 1:45 PM), year 1753 to 9999.
//   - EmailAddress: a string that is one plain address (local@domain, no
//     display name or angle brackets), with a dot in the domain, at most
//     254 bytes, and at most Length characters when Length is positive.
//   - Phone: a string of digits with optional spaces and ( ) - . and a
//     leading +, or a non-negative whole number; 1 to 15 digits.
//
// Empty strings fit only Text. The error matches ErrValueTooLong or
// ErrInvalidValue and names the value and the type.
func CheckValue(a *AttributeDefinition, v any) error {
	if a == nil {
		return fmt.Errorf("%w: no attribute definition to check the value against", ErrInvalidValue)
	}
	val, err := valueOf(v)
	if err != nil {
		return err
	}
	switch typ := strings.ToLower(a.DataType); typ {
	case "number":
		return checkWhole(a, val, minNumber, maxNumber)
	case "longnumber":
		return checkWhole(a, val, math.MinInt64, math.MaxInt64)
	case "byte":
		return checkWhole(a, val, minByte, maxByte)
	case "decimal":
		return checkDecimal(a, val)
	case "boolean":
		return checkBoolean(a, val)
	case "date":
		return checkDate(a, val)
	case "emailaddress":
		if err := checkEmail(a, val); err != nil {
			return err
		}
	case "phone":
		if err := checkPhone(a, val); err != nil {
			return err
		}
	}
	return checkLength(a, val)
}

// valueKind is the JSON kind of a value.
type valueKind int

const (
	kindString valueKind = iota
	kindNumber
	kindBool
)

// value is an attribute value as it goes on the wire: its kind and its
// text (a string's content, a number's literal, true or false).
type value struct {
	kind valueKind
	text string
}

// valueOf returns v's kind and wire text; an unsupported v is an error.
func valueOf(v any) (value, error) {
	if err := checkValue(v); err != nil {
		return value{}, fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	switch x := v.(type) {
	case string:
		return value{kindString, x}, nil
	case bool:
		return value{kindBool, strconv.FormatBool(x)}, nil
	case json.Number:
		return value{kindNumber, string(x)}, nil
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.String:
		return value{kindString, rv.String()}, nil
	case reflect.Bool:
		return value{kindBool, strconv.FormatBool(rv.Bool())}, nil
	}
	// A number: its JSON text (numbers cannot fail to encode).
	b, _ := valueJSON(v)
	return value{kindNumber, string(b)}, nil
}

// String describes the value for an error: its kind and its text, quoted
// for strings and cut after 60 characters.
func (v value) String() string {
	switch v.kind {
	case kindString:
		s := v.text
		if utf8.RuneCountInString(s) > 60 {
			r := []rune(s)
			s = string(r[:60]) + "…"
		}
		return "string " + strconv.Quote(s)
	case kindBool:
		return "bool " + v.text
	}
	t := v.text
	if len(t) > 60 {
		t = t[:60] + "…"
	}
	return "number " + t
}

func typeName(a *AttributeDefinition) string {
	if a.DataType == "" {
		return "untyped"
	}
	return a.DataType
}

func invalid(a *AttributeDefinition, v value, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s (the target is a %s attribute)", ErrInvalidValue, v, fmt.Sprintf(format, args...), typeName(a))
}

// checkLength checks the value's text against a positive Length.
func checkLength(a *AttributeDefinition, v value) error {
	if a.Length <= 0 {
		return nil
	}
	if n := utf8.RuneCountInString(v.text); n > a.Length {
		return fmt.Errorf("%w: %s has %d characters, the %s attribute holds %d", ErrValueTooLong, v, n, typeName(a), a.Length)
	}
	return nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkWhole checks a whole number in [lo, hi], given as a number or a
// string of digits.
func checkWhole(a *AttributeDefinition, v value, lo, hi int64) error {
	if v.kind == kindBool {
		return invalid(a, v, "is not a number")
	}
	digits := strings.TrimPrefix(v.text, "-")
	if !isDigits(digits) {
		if v.kind == kindNumber || validJSONNumber(v.text) {
			return invalid(a, v, "is not a whole number written as digits (no fraction or exponent)")
		}
		return invalid(a, v, "is not a whole number")
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil || n < lo || n > hi {
		return invalid(a, v, "is out of range: whole numbers from %d to %d fit", lo, hi)
	}
	return nil
}

// checkDecimal checks a number against the precision (Length) and Scale.
func checkDecimal(a *AttributeDefinition, v value) error {
	if v.kind == kindBool || !validJSONNumber(v.text) {
		return invalid(a, v, "is not a number")
	}
	if a.Length <= 0 {
		return nil
	}
	intDigits, fracDigits := decimalDigits(v.text)
	scale := max(a.Scale, 0)
	if fracDigits > scale {
		return invalid(a, v, "has %d digits after the point, the attribute keeps %d", fracDigits, scale)
	}
	if whole := a.Length - scale; intDigits > whole {
		return invalid(a, v, "has %d digits before the point, the attribute holds %d (precision %d, scale %d)", intDigits, max(whole, 0), a.Length, scale)
	}
	return nil
}

// decimalDigits returns the significant digits of the JSON number lit
// before and after the point, once its exponent is applied (leading zeros
// of the whole part and trailing zeros of the fraction do not count).
func decimalDigits(lit string) (intDigits, fracDigits int) {
	lit = strings.TrimPrefix(lit, "-")
	mant, expText, _ := strings.Cut(strings.ToLower(lit), "e")
	exp := 0
	if expText != "" {
		e, err := strconv.Atoi(expText)
		switch {
		case err == nil && e > -1e6 && e < 1e6:
			exp = e
		case strings.HasPrefix(expText, "-"):
			exp = -1e6
		default:
			exp = 1e6
		}
	}
	ip, fp, _ := strings.Cut(mant, ".")
	all := ip + fp
	digits := strings.TrimLeft(all, "0")
	if digits == "" {
		return 0, 0 // zero
	}
	pos := len(ip) + exp - (len(all) - len(digits)) // point position within digits
	digits = strings.TrimRight(digits, "0")
	return max(pos, 0), max(len(digits)-pos, 0)
}

// checkBoolean accepts true/false (bool or any-case string) and 1/0.
func checkBoolean(a *AttributeDefinition, v value) error {
	switch v.kind {
	case kindBool:
		return nil
	case kindNumber:
		if v.text == "1" || v.text == "0" {
			return nil
		}
	default:
		if strings.EqualFold(v.text, "true") || strings.EqualFold(v.text, "false") || v.text == "1" || v.text == "0" {
			return nil
		}
	}
	return invalid(a, v, "is not a boolean (true, false, 1 or 0)")
}

// checkDate accepts a string in one of dateLayouts.
func checkDate(a *AttributeDefinition, v value) error {
	if v.kind != kindString {
		return invalid(a, v, "is not a date: give it as a string such as 2024-05-31 or 2024-05-31T13:45:00Z")
	}
	for _, layout := range dateLayouts {
		t, err := time.Parse(layout, v.text)
		if err != nil {
			continue
		}
		if y := t.Year(); y < minDateYear || y > maxDateYear {
			return invalid(a, v, "is out of range: dates from year %d to %d fit", minDateYear, maxDateYear)
		}
		return nil
	}
	return invalid(a, v, "is not a date in a format SFMC reads, such as 2024-05-31, 2024-05-31T13:45:00Z or 5/31/2024")
}

// checkEmail accepts one plain address with a dot in the domain.
func checkEmail(a *AttributeDefinition, v value) error {
	if v.kind != kindString {
		return invalid(a, v, "is not an email address")
	}
	if len(v.text) > maxEmailBytes {
		return invalid(a, v, "is longer than the %d bytes an email address may have", maxEmailBytes)
	}
	addr, err := mail.ParseAddress(v.text)
	if err != nil || addr.Name != "" || addr.Address != v.text {
		return invalid(a, v, "is not an email address of the form local@domain")
	}
	at := strings.LastIndexByte(v.text, '@')
	domain := v.text[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return invalid(a, v, "is not an email address: the domain %q has no dot between its labels", domain)
	}
	return nil
}

// checkPhone accepts digits with optional separators and a leading '+'.
func checkPhone(a *AttributeDefinition, v value) error {
	switch v.kind {
	case kindBool:
		return invalid(a, v, "is not a phone number")
	case kindNumber:
		if !isDigits(v.text) || len(v.text) > maxPhoneDigits {
			return invalid(a, v, "is not a phone number: a number must be a whole number of 1 to %d digits", maxPhoneDigits)
		}
		return nil
	}
	digits := 0
	for i := 0; i < len(v.text); i++ {
		switch c := v.text[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '(' || c == ')' || c == '-' || c == '.':
		default:
			return invalid(a, v, "is not a phone number: only digits, spaces, ( ) - . and a leading + may occur")
		}
	}
	if digits == 0 || digits > maxPhoneDigits {
		return invalid(a, v, "is not a phone number: it has %d digits, 1 to %d fit", digits, maxPhoneDigits)
	}
	return nil
}
