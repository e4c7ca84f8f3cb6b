package sfmc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 12, item 1: invalid UTF-8 (and unpaired surrogate escapes, which
// encoding/json also turns into U+FFFD) anywhere in a profile is a
// *RecordError naming the field, never a silent replacement.
func TestDecodeProfileRejectsInvalidText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		line  string
		field string
		parts []string
	}{
		{"Latin-1 key (two people would merge)", `{"identityMap":{"contactKey":[{"id":"M` + "\xfc" + `ller-1","primary":true}]}}`,
			"identityMap.contactKey[0].id", []string{"0xfc", "offset 38 of the line"}},
		{"Latin-1 value", `{"identityMap":{"contactKey":"K"},"person":{"name":{"lastName":"M` + "\xe4" + `ller"}}}`,
			"person.name.lastName", []string{"0xe4"}},
		{"second array element", `{"tags":["ok","b` + "\xff" + `d"]}`, "tags[1]", nil},
		{"array in array", `{"m":[[1,2],[3,"` + "\xc3" + `"]]}`, "m[1][1]", nil},
		{"after nested values", `{"a":{"b":[{"c":1},{"d":[true,null]}],"e":"x"},"f":{"g":"` + "\xed\xa0\x80" + `"}}`, "f.g", nil},
		{"invalid field name", `{"person":{"na` + "\xff" + `me":"Ann"}}`, "person.na\xffme", []string{"field name", `"person.na\xffme"`}},
		{"truncated sequence at the end of a string", `{"a":"x` + "\xe2\x82" + `"}`, "a", nil},
		{"lone high surrogate escape", `{"person":{"firstName":"\ud800"}}`, "person.firstName", []string{`\ud800`, "surrogate"}},
		{"lone low surrogate escape", `{"k":["\uDC00x"]}`, "k[0]", []string{"surrogate"}},
		{"high surrogate followed by a non-surrogate", `{"k":"\ud83d\u0041"}`, "k", []string{"surrogate"}},
		{"escaped backslash, then a lone surrogate", `{"k":"\\ud83d\ude00"}`, "k", []string{`\ude00`}},
		{"surrogate escape in a field name", `{"\udfff":1}`, "\\udfff", []string{"field name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prof, err := DecodeProfile([]byte(tt.line))
			require.Error(t, err)
			assert.Nil(t, prof)
			assert.ErrorIs(t, err, ErrInvalidUTF8)
			var re *RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.field, re.Field)
			assert.Contains(t, err.Error(), "invalid UTF-8")
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
			assert.NotContains(t, err.Error(), "\ufffd")
		})
	}
}

func TestDecodeProfileKeepsValidText(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		`{"k":"Müller"}`:               "Müller",
		`{"k":"M\u00fcller"}`:          "Müller",
		`{"k":"\ud83d\ude00"}`:         "😀",
		`{"k":"\\ud800"}`:              `\ud800`,
		`{"k":"\\\ud83d\ude00"}`:       `\😀`,
		`{"k":"literal ` + "\ufffd\"}": "literal \ufffd", // a replacement character in the input is data
		`{"k":"\ufffd"}`:               "\ufffd",
	} {
		prof, err := DecodeProfile([]byte(line))
		require.NoError(t, err, line)
		assert.Equal(t, want, prof["k"], line)
	}
}

// Other syntax errors are still reported as such, not as UTF-8 problems.
func TestDecodeProfileSyntaxErrorsWithInvalidBytes(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"\xff{}", `{"a":1,` + "\xff" + `}`, `{"a":"\u12"}`, `{"a":"x\`} {
		_, err := DecodeProfile([]byte(line))
		require.Error(t, err, line)
	}
}

// Issue 12, item 1: library users are protected too.
func TestContactValidateRejectsInvalidUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		c     Contact
		parts []string
	}{
		{"key", Contact{Key: "M\xfcller-1"}, []string{"contact key", `"M\xfcller-1"`, "0xfc"}},
		{"set name", Contact{Key: "K", Attributes: []AttributeValue{{"Email Demo\xe4", "First Name", "x"}}}, []string{"attribute set name", `\xe4`}},
		{"attribute name", Contact{Key: "K", Attributes: []AttributeValue{{"S", "Na\xffme", "x"}}}, []string{"attribute name", `"S.Na\xffme"`}},
		{"string value", Contact{Key: "K", Attributes: []AttributeValue{{"S", "A", "ok"}, {"S", "Last", "M\xe4ller"}}}, []string{`"S.Last"`, "value", "0xe4"}},
		{"named string value", Contact{Key: "K", Attributes: []AttributeValue{{"S", "N", namedString("\xc3")}}}, []string{`"S.N"`}},
		{"surrogate half", Contact{Key: "K", Attributes: []AttributeValue{{"S", "A", "\xed\xa0\x80"}}}, []string{`"S.A"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			require.ErrorIs(t, err, ErrInvalidContact)
			require.ErrorIs(t, err, ErrInvalidUTF8)
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
			body, encErr := contactBody(tt.c)
			require.ErrorIs(t, encErr, ErrInvalidContact)
			assert.Empty(t, body)
		})
	}
	require.NoError(t, Contact{Key: "Müller 😀", Attributes: []AttributeValue{{"Sät", "Näme", "Wert \ufffd"}}}.Validate())
}

// The encoder refuses invalid UTF-8 instead of writing U+FFFD, and keeps
// valid text exactly (U+FFFD itself, U+2028, HTML characters).
func TestContactBodyRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a\xffb", "\xed\xa0\x80", "\xe2\x82", "M\xfcller"} {
		got, err := contactBody(Contact{Key: "K", Attributes: []AttributeValue{{"S", "A", s}}})
		require.ErrorIs(t, err, ErrInvalidUTF8, "%q", s)
		assert.Empty(t, got, "nothing encoded for %q", s)
	}
	got, err := contactBody(Contact{Key: "K", Attributes: []AttributeValue{{"S", "A", "Müller \ufffd \u2028 <b>&"}}})
	require.NoError(t, err)
	assert.Contains(t, string(got), "\"Müller \ufffd \\u2028 <b>&\"", "U+FFFD kept, U+2028 escaped, HTML as it is")
}

// Issue 12, item 7: a key is never changed; surrounding whitespace is a
// record error.
func TestProfileMapperKeyWhitespace(t *testing.T) {
	t.Parallel()
	pm := compileDesign(t, 10)
	email := `,"personalEmail":{"address":"k@example.com"}`
	for _, key := range []string{`"  K 16  "`, `" K"`, `"K "`, `"K\t"`, `"\nK"`, `"K\u00a0"`, `"   "`, `[{"id":" K","primary":true}]`} {
		prof, err := DecodeProfile([]byte(`{"identityMap":{"contactKey":` + key + `}` + email + `}`))
		require.NoError(t, err, key)
		c, _, err := pm.Map(prof)
		require.Error(t, err, "key %s became %q", key, c.Key)
		assert.ErrorIs(t, err, ErrKeyWhitespace, key)
		var re *RecordError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "identityMap.contactKey", re.Field)
		assert.Contains(t, err.Error(), "whitespace")
	}
	for _, key := range []string{"K 16", "K\t16", "Ä-1"} {
		b, _ := json.Marshal(key)
		prof, err := DecodeProfile([]byte(`{"identityMap":{"contactKey":` + string(b) + `}` + email + `}`))
		require.NoError(t, err)
		c, _, err := pm.Map(prof)
		require.NoError(t, err, key)
		assert.Equal(t, key, c.Key, "the key is kept as it is")
	}
}
