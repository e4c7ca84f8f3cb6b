package sfmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typedCatalog has an attribute of every data type a real tenant shows.
func typedCatalog() *Catalog {
	return NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, Attributes: []*AttributeDefinition{
			{Name: AttrEmailAddress, DataType: "EmailAddress"},
			{Name: AttrHTMLEnabled, DataType: "Boolean"},
		}},
		{Name: SetEmailDemographics, Attributes: []*AttributeDefinition{
			{Name: "Code", DataType: "Text", Length: 4},
			{Name: "Notes", DataType: "Text", Length: -1},
			{Name: "Age", DataType: "Number"},
			{Name: "Big", DataType: "LongNumber"},
			{Name: "Flag", DataType: "Boolean"},
			{Name: "Born", DataType: "Date"},
			{Name: "Mobile", DataType: "Phone"},
			{Name: "Level", DataType: "Byte"},
			{Name: "Balance", DataType: "Decimal", Length: 18, Scale: 2},
		}},
	}, false)
}

// typedMapper maps "v" to target and "email" to Email Address.
func typedMapper(t *testing.T, target string) *ProfileMapper {
	t.Helper()
	m := &Mapping{Identity: "k", Attributes: []AttributeMapping{{Source: "email", Target: SetEmailAddresses + "." + AttrEmailAddress}}}
	if target != SetEmailAddresses+"."+AttrEmailAddress {
		m.Attributes = append(m.Attributes, AttributeMapping{Source: "v", Target: target})
	}
	pm, err := m.Compile(typedCatalog())
	require.NoError(t, err)
	return pm
}

// Numbers and booleans are length-checked against a Text target too
// (issue 12 item 7): 1e308 into Text(4) never reaches SFMC.
func TestMapChecksNumbersAgainstTextLength(t *testing.T) {
	t.Parallel()
	pm := typedMapper(t, "Email Demographics.Code")
	for _, v := range []string{`1e308`, `12345`, `false`, `-1234`} {
		prof, err := DecodeProfile([]byte(`{"k":"K","email":"a@example.com","v":` + v + `}`))
		require.NoError(t, err)
		_, _, err = pm.Map(prof)
		var re *RecordError
		require.ErrorAs(t, err, &re, v)
		assert.Equal(t, "v", re.Field)
		assert.Equal(t, "Email Demographics.Code", re.Target)
		assert.ErrorIs(t, err, ErrValueTooLong, v)
		assert.Contains(t, err.Error(), v)
	}
	for _, v := range []string{`1234`, `true`, `"abcd"`, `1e30`} {
		prof, err := DecodeProfile([]byte(`{"k":"K","email":"a@example.com","v":` + v + `}`))
		require.NoError(t, err)
		_, _, err = pm.Map(prof)
		assert.NoError(t, err, v)
	}
}

// A record whose mapped email is missing or empty is a record error: the
// destination makes the email mandatory (issue 12 item 7).
func TestMapRequiresTheMappedEmail(t *testing.T) {
	t.Parallel()
	pm := typedMapper(t, SetEmailAddresses+"."+AttrEmailAddress)
	for _, p := range []string{`{"k":"K"}`, `{"k":"K","email":null}`, `{"k":"K","email":""}`} {
		prof, err := DecodeProfile([]byte(p))
		require.NoError(t, err)
		_, _, err = pm.Map(prof)
		var re *RecordError
		require.ErrorAs(t, err, &re, p)
		assert.Equal(t, "email", re.Field, p)
		assert.Equal(t, SetEmailAddresses+"."+AttrEmailAddress, re.Target, p)
	}
}

func TestCheckValue(t *testing.T) {
	t.Parallel()
	def := func(typ string, length, scale int) *AttributeDefinition {
		return &AttributeDefinition{Name: "A", DataType: typ, Length: length, Scale: scale}
	}
	type namedBool bool
	tests := []struct {
		name  string
		a     *AttributeDefinition
		ok    []any
		long  []any // ErrValueTooLong
		wrong []any // ErrInvalidValue
	}{
		{"Text(4)", def("Text", 4, 0),
			[]any{"", "abcd", "Åäöü", json.Number("1234"), json.Number("1e30"), true, 1234, float64(12.5), namedString("abcd")},
			[]any{"abcde", json.Number("1e308"), json.Number("12345"), json.Number("-1234"), 12345, float64(123.45), 1e21, false, namedBool(false)}, nil},
		{"Text(-1) is unlimited", def("Text", -1, 0), []any{strings.Repeat("x", 100000), json.Number("1e308")}, nil, nil},
		{"Text without length", def("Text", 0, 0), []any{strings.Repeat("x", 5000)}, nil, nil},
		{"untyped is Text", def("", 2, 0), []any{"ab"}, []any{"abc"}, nil},
		{"unknown type is Text", def("Locale", 2, 0), []any{"US"}, []any{"USA"}, nil},
		{"Number", def("Number", 0, 0),
			[]any{json.Number("0"), json.Number("-2147483648"), json.Number("2147483647"), "42", "-7", 42, float64(3), int64(-5)},
			nil,
			[]any{json.Number("2147483648"), json.Number("-2147483649"), json.Number("12.5"), json.Number("12.0"), json.Number("1e3"),
				float64(12.5), "12.5", "", " 42", "abc", true, "+1"}},
		{"LongNumber", def("LongNumber", 0, 0),
			[]any{json.Number("9223372036854775807"), json.Number("-9223372036854775808"), int64(math.MaxInt64)},
			nil,
			[]any{json.Number("9223372036854775808"), json.Number("12345678901234567890"), json.Number("0.5"), false}},
		{"Byte", def("Byte", 0, 0), []any{0, 255, "7"}, nil, []any{256, -1, "x", json.Number("1.5")}},
		{"Decimal(18,2)", def("Decimal", 18, 2),
			[]any{json.Number("12.5"), json.Number("12.50"), json.Number("12.500"), json.Number("-0.01"), json.Number("9999999999999999.99"),
				json.Number("1e15"), json.Number("1.5e-1"), json.Number("0.00"), "12.34", 7, float64(0.25)},
			nil,
			[]any{json.Number("1.234"), json.Number("10000000000000000"), json.Number("1e16"), json.Number("1e308"),
				json.Number("1e-3"), json.Number("1e-999999999"), "1,5", "", true}},
		{"Decimal without precision", def("Decimal", 0, 0), []any{json.Number("1e308"), json.Number("0.000001")}, nil, []any{"x"}},
		{"Decimal(5,0)", def("Decimal", 5, 0), []any{json.Number("99999"), json.Number("1.0")}, nil, []any{json.Number("0.5"), json.Number("100000")}},
		{"Boolean", def("Boolean", 0, 0),
			[]any{true, false, "true", "FALSE", "True", "1", "0", json.Number("1"), json.Number("0"), 1, 0, namedBool(true)},
			nil,
			[]any{"yes", "Y", "", "maybe", json.Number("2"), json.Number("1.0"), 2, " true"}},
		{"Date", def("Date", 0, 0),
			[]any{"2024-05-31", "2024-05-31T13:45:00Z", "2024-05-31T13:45:00.1234567-06:00", "2024-05-31T13:45:00", "2024-05-31 13:45:00",
				"2024-05-31 13:45", "5/31/2024", "05/31/2024", "5/31/2024 1:45 PM", "5/31/2024 13:45:00", "1753-01-01", "9999-12-31"},
			nil,
			[]any{"31.05.2024", "2024-02-30", "0001-01-01", "1752-12-31", "yesterday", "", json.Number("20240531"), true, "2024-05-31T25:00:00Z"}},
		{"EmailAddress", def("EmailAddress", 0, 0),
			[]any{"ann@example.com", "a.b+tag@sub.example.co.uk", "o'neil@example.ie"},
			nil,
			[]any{"ann", "ann at example.com", "Ann <ann@example.com>", "<ann@example.com>", "ann@localhost", "ann@example.", "ann@.example.com",
				" ann@example.com", "ann@example.com ", "", "a@b@example.com", json.Number("1"), true,
				strings.Repeat("a", 250) + "@example.com"}},
		{"EmailAddress with length", def("EmailAddress", 10, 0), []any{"a@ex.com"}, []any{"ann@example.com"}, nil},
		{"Phone", def("Phone", 0, 0),
			[]any{"317-531-5555", "+1 (317) 531-5555", "0041.44.668.18.00", "5", json.Number("3175315555")},
			nil,
			[]any{"call me", "", "++1", "1+1", "1234567890123456", json.Number("-317"), json.Number("3.5"), true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range tt.ok {
				assert.NoError(t, CheckValue(tt.a, v), "%#v", v)
			}
			for _, v := range tt.long {
				err := CheckValue(tt.a, v)
				assert.ErrorIs(t, err, ErrValueTooLong, "%#v", v)
				assert.NotErrorIs(t, err, ErrInvalidValue, "%#v", v)
			}
			for _, v := range tt.wrong {
				err := CheckValue(tt.a, v)
				require.ErrorIs(t, err, ErrInvalidValue, "%#v", v)
				assert.Contains(t, err.Error(), tt.a.DataType, "the error names the type")
			}
		})
	}
}

func TestCheckValueErrorsNameValueAndType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    *AttributeDefinition
		v    any
		want string
	}{
		{&AttributeDefinition{DataType: "Text", Length: 4}, json.Number("1e308"),
			`sfmc: value longer than the target attribute: number 1e308 has 5 characters, the Text attribute holds 4`},
		{&AttributeDefinition{DataType: "Text", Length: 3}, "Bartholomew",
			`sfmc: value longer than the target attribute: string "Bartholomew" has 11 characters, the Text attribute holds 3`},
		{&AttributeDefinition{DataType: "Number"}, json.Number("12.5"),
			`sfmc: value does not fit the target attribute's data type: number 12.5 is not a whole number written as digits (no fraction or exponent) (the target is a Number attribute)`},
		{&AttributeDefinition{DataType: "Number"}, json.Number("3000000000"),
			`sfmc: value does not fit the target attribute's data type: number 3000000000 is out of range: whole numbers from -2147483648 to 2147483647 fit (the target is a Number attribute)`},
		{&AttributeDefinition{DataType: "Boolean"}, "yes",
			`sfmc: value does not fit the target attribute's data type: string "yes" is not a boolean (true, false, 1 or 0) (the target is a Boolean attribute)`},
		{&AttributeDefinition{DataType: "Decimal", Length: 18, Scale: 2}, json.Number("1.125"),
			`sfmc: value does not fit the target attribute's data type: number 1.125 has 3 digits after the point, the attribute keeps 2 (the target is a Decimal attribute)`},
		{&AttributeDefinition{DataType: "Text", Length: 3}, strings.Repeat("é", 100),
			`sfmc: value longer than the target attribute: string "` + strings.Repeat("é", 60) + `…" has 100 characters, the Text attribute holds 3`},
	}
	for _, tt := range tests {
		assert.EqualError(t, CheckValue(tt.a, tt.v), tt.want)
	}
	assert.ErrorIs(t, CheckValue(nil, "x"), ErrInvalidValue)
	assert.ErrorIs(t, CheckValue(&AttributeDefinition{DataType: "Text"}, nil), ErrInvalidValue)
	assert.ErrorIs(t, CheckValue(&AttributeDefinition{DataType: "Text"}, []int{1}), ErrInvalidValue)
	assert.ErrorIs(t, CheckValue(&AttributeDefinition{DataType: "Number"}, math.NaN()), ErrInvalidValue)
}

// Every mapped value goes through CheckValue: a value that does not fit
// its target is a *RecordError naming the field, target, value and type.
func TestMapChecksEveryType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		value  string
		is     error
		parts  []string
	}{
		{"Email Demographics.Age", `12.5`, ErrInvalidValue, []string{"number 12.5", "Number"}},
		{"Email Demographics.Age", `"forty"`, ErrInvalidValue, []string{`string "forty"`, "Number"}},
		{"Email Demographics.Big", `12345678901234567890`, ErrInvalidValue, []string{"12345678901234567890", "LongNumber"}},
		{"Email Demographics.Flag", `"yes"`, ErrInvalidValue, []string{`"yes"`, "Boolean"}},
		{"Email Demographics.Born", `"31.05.2024"`, ErrInvalidValue, []string{`"31.05.2024"`, "Date"}},
		{"Email Demographics.Mobile", `"call me"`, ErrInvalidValue, []string{`"call me"`, "Phone"}},
		{"Email Demographics.Level", `300`, ErrInvalidValue, []string{"300", "Byte"}},
		{"Email Demographics.Balance", `1e17`, ErrInvalidValue, []string{"1e17", "Decimal"}},
		{"Email Addresses.HTML Enabled", `"sometimes"`, ErrInvalidValue, []string{`"sometimes"`, "Boolean"}},
		{"Email Demographics.Code", `"abcde"`, ErrValueTooLong, []string{`"abcde"`, "5 characters", "holds 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.target+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			pm := typedMapper(t, tt.target)
			prof, err := DecodeProfile([]byte(`{"k":"K","email":"a@example.com","v":` + tt.value + `}`))
			require.NoError(t, err)
			c, _, err := pm.Map(prof)
			assert.Empty(t, c.Attributes, "nothing of a bad record is returned")
			var re *RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "v", re.Field)
			assert.Equal(t, tt.target, re.Target)
			assert.ErrorIs(t, err, tt.is)
			for _, p := range append(tt.parts, `field "v"`, tt.target) {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
	// What fits is sent exactly as read, never converted.
	for target, v := range map[string]any{
		"Email Demographics.Age": json.Number("42"), "Email Demographics.Flag": "TRUE", "Email Demographics.Born": "5/31/2024",
		"Email Demographics.Notes": strings.Repeat("n", 5000), "Email Demographics.Balance": json.Number("12.50"),
	} {
		pm := typedMapper(t, target)
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		prof, err := DecodeProfile([]byte(`{"k":"K","email":"a@example.com","v":` + string(raw) + `}`))
		require.NoError(t, err)
		c, _, err := pm.Map(prof)
		require.NoError(t, err, target)
		require.Len(t, c.Attributes, 2)
		assert.Equal(t, v, c.Attributes[1].Value, target)
	}
}

func TestMappingConstants(t *testing.T) {
	t.Parallel()
	m, err := LoadMapping(strings.NewReader(`{"identity":"k",
	  "attributes":[{"source":"email","target":"Email Addresses.Email Address"}],
	  "constants":{"Email Addresses.HTML Enabled":true,"Email Demographics.Age":12345678901,"Email Demographics.Code":"ab"}}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"Email Addresses.HTML Enabled": true, "Email Demographics.Age": json.Number("12345678901"),
		"Email Demographics.Code": "ab"}, m.Constants, "numbers kept exactly as written")

	probs := validationProblems(t, m.Validate(typedCatalog()))
	require.Len(t, probs, 1, "%q", probs)
	assert.Contains(t, probs[0], `constants: "Email Demographics.Age": value does not fit the target attribute's data type: number 12345678901 is out of range`)

	m.Constants["Email Demographics.Age"] = json.Number("42")
	pm, err := m.Compile(typedCatalog())
	require.NoError(t, err)
	prof, err := DecodeProfile([]byte(`{"k":"K","email":"a@example.com"}`))
	require.NoError(t, err)
	c, _, err := pm.Map(prof)
	require.NoError(t, err)
	assert.Equal(t, []AttributeValue{
		{Set: SetEmailAddresses, Name: AttrEmailAddress, Value: "a@example.com"},
		{Set: SetEmailAddresses, Name: AttrHTMLEnabled, Value: true},
		{Set: SetEmailDemographics, Name: "Age", Value: json.Number("42")},
		{Set: SetEmailDemographics, Name: "Code", Value: "ab"},
	}, c.Attributes, "constants follow the mapped values, sorted by target")
	b, err := contactBody(c)
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"name":"HTML Enabled","value":true}`)

	bad := &Mapping{Identity: "k", Attributes: []AttributeMapping{{Source: "email", Target: "Email Addresses.Email Address"}, {Source: "c", Target: "Email Demographics.Code"}},
		Constants: map[string]any{
			"Email Addresses.Email Address": "all@example.com",
			"Email Demographics.Code":       "x",
			"Email Demographics.Nope":       "x",
			"Email Demographics.Flag":       nil,
			"Email Demographics.Notes":      map[string]any{"a": 1},
			"Email Demographics.Born":       "tomorrow",
		},
		Segments: []SegmentMapping{{SegmentID: "s", MappingID: "Notes"}},
	}
	joined := strings.Join(validationProblems(t, bad.Validate(typedCatalog())), "\n")
	for _, want := range []string{
		`"Email Addresses.Email Address" cannot be a constant`,
		`"Email Demographics.Code" is mapped more than once`,
		`"Email Demographics.Nope" does not exist`,
		`"Email Demographics.Flag" is null`,
		`"Email Demographics.Notes": unsupported value type`,
		`"Email Demographics.Born": value does not fit the target attribute's data type: string "tomorrow" is not a date`,
		`Mapping ID "Notes" (segment "s") is also a constant target`,
	} {
		assert.Contains(t, joined, want)
	}

	_, err = LoadMapping(strings.NewReader(`{"identity":"k","constants":{"":1}}`))
	assert.ErrorIs(t, err, ErrInvalidMapping)
	assert.ErrorContains(t, err, "constants: an entry has an empty target")
}

func TestMappingWarnings(t *testing.T) {
	t.Parallel()
	base := func() *Mapping {
		return &Mapping{Identity: "k", Attributes: []AttributeMapping{{Source: "email", Target: "Email Addresses.Email Address"}}}
	}
	m := base()
	w := m.Warnings(typedCatalog())
	require.Len(t, w, 1)
	assert.Contains(t, w[0], `"Email Addresses.Email Address" is mapped without "Email Addresses.HTML Enabled"`)
	assert.Contains(t, w[0], `"constants": {"Email Addresses.HTML Enabled": true}`)
	require.NoError(t, m.Validate(typedCatalog()), "a warning is not a problem")

	m.Constants = map[string]any{"Email Addresses.HTML Enabled": true}
	assert.Empty(t, m.Warnings(typedCatalog()))
	m = base()
	m.Attributes = append(m.Attributes, AttributeMapping{Source: "html", Target: "Email Addresses.HTML Enabled"})
	assert.Empty(t, m.Warnings(typedCatalog()))
	assert.Empty(t, (&Mapping{Identity: "k"}).Warnings(nil))

	for _, n := range []int{189, 190, 200} {
		attrs := make([]*AttributeDefinition, n)
		for i := range attrs {
			attrs[i] = &AttributeDefinition{Name: fmt.Sprintf("a%d", i), DataType: "Text"}
		}
		cat := NewCatalog([]*AttributeSetDefinition{{Name: SetEmailDemographics, Attributes: attrs}}, false)
		w := (&Mapping{Identity: "k"}).Warnings(cat)
		if n < ProfileAttributeWarnAt {
			assert.Empty(t, w, n)
			continue
		}
		require.Len(t, w, 1, n)
		assert.Equal(t, fmt.Sprintf(`attribute set "Email Demographics" holds %d attributes; SFMC allows at most 200 there, so only %d more can be added (new Mapping IDs included)`, n, 200-n), w[0])
	}
}

// FuzzCheckValue: CheckValue never panics and accepts or refuses with one
// of its two sentinels.
func FuzzCheckValue(f *testing.F) {
	for _, s := range []string{"1e308", "12.50", "-0.001e-5", "2024-05-31", "a@b.co", "+1 (317)", "true", "", "1e-999999999999", "9e999999999999"} {
		f.Add("Decimal", 18, 2, s)
		f.Add("Number", 0, 0, s)
	}
	f.Fuzz(func(t *testing.T, typ string, length, scale int, s string) {
		a := &AttributeDefinition{DataType: typ, Length: length, Scale: scale}
		for _, v := range []any{s, json.Number(s)} {
			if err := CheckValue(a, v); err != nil && !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrValueTooLong) {
				t.Fatalf("CheckValue(%q, %#v) = %v", typ, v, err)
			}
		}
	})
}
