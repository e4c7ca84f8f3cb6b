package sfmc

import (
	"encoding/json"
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fingerprints are FNV-1a over the documented texts: a plain string
// as a NUL and its bytes, other values as their JSON; an attribute as its
// set's length (8 bytes, little-endian), the set and the name.
func TestSentFingerprints(t *testing.T) {
	t.Parallel()
	fnv := func(s string) uint64 { h := fnv.New64a(); h.Write([]byte(s)); return h.Sum64() }
	type named string
	for _, tt := range []struct {
		v    any
		text string
	}{
		{"Ann", "\x00Ann"}, {"", "\x00"}, {`a"b<`, "\x00a\"b<"}, {1, `1`}, {json.Number("1.50"), `1.50`}, {true, `true`},
		{named("Ann"), `"Ann"`},
	} {
		got, err := valueFingerprint(tt.v)
		require.NoError(t, err)
		assert.Equal(t, fnv(tt.text), got, "%#v", tt.v)
	}
	fp := func(v any) uint64 { f, err := valueFingerprint(v); require.NoError(t, err); return f }
	assert.NotEqual(t, fp("1"), fp(1), `the string "1" and the number 1 differ`)
	assert.NotEqual(t, fp(`Ann"`), fp(named("Ann")), "no string reads as another value's JSON")
	assert.Equal(t, fnv("\x12\x00\x00\x00\x00\x00\x00\x00Email DemographicsFirst Name"), attrFingerprint("Email Demographics", "First Name"))
	assert.NotEqual(t, attrFingerprint("a\x00", "b"), attrFingerprint("a", "\x00b"), "no set and name pair reads as another")
	assert.NotEqual(t, attrFingerprint("ab", "c"), attrFingerprint("a", "bc"))
}
