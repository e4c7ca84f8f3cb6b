package sfmc

import (
	"encoding/json"
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fingerprints are FNV-1a over the documented texts: a string as a
// quote and its bytes, other values as their JSON.
func TestSentFingerprints(t *testing.T) {
	t.Parallel()
	fnv := func(s string) uint64 { h := fnv.New64a(); h.Write([]byte(s)); return h.Sum64() }
	for _, tt := range []struct {
		v    any
		text string
	}{
		{"Ann", `"Ann`}, {"", `"`}, {"a\"b<", `"a"b<`}, {1, `1`}, {json.Number("1.50"), `1.50`}, {true, `true`}, {"1", `"1`},
	} {
		got, err := valueFingerprint(tt.v)
		require.NoError(t, err)
		assert.Equal(t, fnv(tt.text), got, "%#v", tt.v)
	}
	a, _ := valueFingerprint("1")
	b, _ := valueFingerprint(1)
	assert.NotEqual(t, a, b, `the string "1" and the number 1 differ`)
	assert.Equal(t, fnv("Email Demographics\x00First Name"), attrFingerprint("Email Demographics", "First Name"))
}
