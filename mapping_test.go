package sfmc

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const designMapping = `{
  "identity": "identityMap.contactKey",
  "attributes": [
    {"source": "person.name.firstName", "target": "Email Demographics.First Name"},
    {"source": "personalEmail.address", "target": "Email Addresses.Email Address"}
  ],
  "segments": [{"id": "seg-1", "mappingId": "salesforce_mc_segment_1"}]
}`

func TestLoadMapping(t *testing.T) {
	t.Parallel()
	m, err := LoadMapping(strings.NewReader(designMapping))
	require.NoError(t, err)
	assert.Equal(t, &Mapping{
		Identity: "identityMap.contactKey",
		Attributes: []AttributeMapping{
			{Source: "person.name.firstName", Target: "Email Demographics.First Name"},
			{Source: "personalEmail.address", Target: "Email Addresses.Email Address"},
		},
		Segments: []SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}},
	}, m)

	tests := []struct {
		name  string
		in    string
		parts []string
		isInv bool
	}{
		{"unknown top-level field", `{"identity":"a","atributes":[]}`, []string{`"atributes"`}, false},
		{"unknown nested field", `{"identity":"a","segments":[{"id":"s","mapping_id":"m"}]}`, []string{`"mapping_id"`}, false},
		{"empty identity", `{"identity":"  ","attributes":[]}`, []string{"identity is empty"}, true},
		{"missing identity", `{}`, []string{"identity is empty"}, true},
		{"empty source and id", `{"identity":"a","attributes":[{"source":"","target":"T.x"}],"segments":[{"id":"s"}]}`, []string{"attributes[0]", "segments[0]"}, true},
		{"not JSON", `identity: a`, []string{"reading mapping"}, false},
		{"trailing data", `{"identity":"a"} {}`, []string{"unexpected data"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := LoadMapping(strings.NewReader(tt.in))
			assert.Nil(t, m)
			require.Error(t, err)
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
			assert.Equal(t, tt.isInv, errors.Is(err, ErrInvalidMapping))
		})
	}
}

func TestReadMappingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "mapping.json")
	require.NoError(t, os.WriteFile(p, []byte(designMapping), 0o600))
	m, err := ReadMappingFile(p)
	require.NoError(t, err)
	assert.Equal(t, "identityMap.contactKey", m.Identity)

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"identity":"x","extra":1}`), 0o600))
	_, err = ReadMappingFile(bad)
	assert.ErrorContains(t, err, "bad.json")
	assert.ErrorContains(t, err, `"extra"`)

	_, err = ReadMappingFile(filepath.Join(dir, "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestMappingValidate(t *testing.T) {
	t.Parallel()
	cat := testCatalog(false)
	good, err := LoadMapping(strings.NewReader(designMapping))
	require.NoError(t, err)
	require.NoError(t, good.Validate(cat))

	bad := &Mapping{
		Identity: "",
		Attributes: []AttributeMapping{
			{Source: "a", Target: "Email Demographics.first name"},
			{Source: "b", Target: "Email Demographics.salesforce_mc_segment_1"},
		},
		Segments: []SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}, {SegmentID: "seg-2", MappingID: "num_seg"}},
	}
	err = bad.Validate(cat)
	probs := validationProblems(t, err)
	joined := strings.Join(probs, "\n")
	assert.Contains(t, joined, "identity is empty")
	assert.Contains(t, joined, `did you mean "Email Demographics.First Name"`)
	assert.Contains(t, joined, `no attribute is mapped to "Email Addresses.Email Address"`)
	assert.Contains(t, joined, `Mapping ID "num_seg"`)
	assert.Contains(t, joined, `Mapping ID "salesforce_mc_segment_1" (segment "seg-1") is also the target of source "b"`)
	assert.Len(t, probs, 5, "%q", probs)
}

func compileDesign(t *testing.T, maxFirstName int) *ProfileMapper {
	t.Helper()
	cat := testCatalog(false)
	a, _ := cat.Lookup("Email Demographics.First Name")
	a.Length = maxFirstName
	m := &Mapping{
		Identity: "identityMap.contactKey",
		Attributes: []AttributeMapping{
			{Source: "person.name.firstName", Target: "Email Demographics.First Name"},
			{Source: "personalEmail.address", Target: "Email Addresses.Email Address"},
			{Source: "loyalty.score", Target: "Email Demographics.v1.2 Score"},
			{Source: "flags.vip", Target: "Email Demographics.Last Name"},
		},
		Segments: []SegmentMapping{
			{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"},
			{SegmentID: "seg-2", MappingID: "salesforce_mc_segment_1"},
			{SegmentID: "seg-3", MappingID: "Segment_Two"},
		},
	}
	pm, err := m.Compile(cat)
	require.NoError(t, err)
	return pm
}

func TestCompileRefusesInvalidMapping(t *testing.T) {
	t.Parallel()
	m := &Mapping{Identity: "k", Attributes: []AttributeMapping{{Source: "a", Target: "Email Demographics.Nope"}}}
	pm, err := m.Compile(testCatalog(false))
	assert.Nil(t, pm)
	assert.ErrorIs(t, err, ErrInvalidMapping)
}

func TestProfileMapperMap(t *testing.T) {
	t.Parallel()
	pm := compileDesign(t, 10)
	ed := func(name string, v any) AttributeValue {
		return AttributeValue{Set: SetEmailDemographics, Name: name, Value: v}
	}
	email := func(v string) AttributeValue {
		return AttributeValue{Set: SetEmailAddresses, Name: AttrEmailAddress, Value: v}
	}
	tests := []struct {
		name     string
		profile  string
		key      string
		attrs    []AttributeValue
		statuses map[string]SegmentStatus
	}{
		{
			name:     "design example",
			profile:  `{"identityMap":{"contactKey":[{"id":"K-1","primary":true}]},"person":{"name":{"firstName":"Ann"}},"personalEmail":{"address":"ann@example.com"},"segmentMembership":{"ups":{"seg-1":{"status":"realized"}}}}`,
			key:      "K-1",
			attrs:    []AttributeValue{ed("First Name", "Ann"), email("ann@example.com"), ed("salesforce_mc_segment_1", "realized")},
			statuses: map[string]SegmentStatus{"seg-1": StatusRealized},
		},
		{
			name:    "primary identity not first",
			profile: `{"identityMap":{"contactKey":[{"id":"K-A"},{"id":"K-B","primary":true}]},"personalEmail":{"address":"b@example.com"}}`,
			key:     "K-B",
			attrs:   []AttributeValue{email("b@example.com")},
		},
		{
			name:    "no primary takes first",
			profile: `{"identityMap":{"contactKey":[{"id":"K-A","primary":false},{"id":"K-B"}]},"personalEmail":{"address":"a@example.com"}}`,
			key:     "K-A",
			attrs:   []AttributeValue{email("a@example.com")},
		},
		{
			name:    "identity as plain string",
			profile: `{"identityMap":{"contactKey":"K-S"},"personalEmail":{"address":"s@example.com"}}`,
			key:     "K-S",
			attrs:   []AttributeValue{email("s@example.com")},
		},
		{
			name:    "null fields skipped",
			profile: `{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":null}},"personalEmail":{"address":"k@example.com"},"loyalty":{"score":null},"flags":{"vip":null}}`,
			key:     "K",
			attrs:   []AttributeValue{email("k@example.com")},
		},
		{
			name:    "missing fields and nulls skipped, numbers and bools kept",
			profile: `{"identityMap":{"contactKey":"K"},"person":{"name":null},"personalEmail":{"address":"k@example.com","other":null},"loyalty":{"score":12.5},"flags":{"vip":true}}`,
			key:     "K",
			attrs:   []AttributeValue{email("k@example.com"), ed("v1.2 Score", json.Number("12.5")), ed("Last Name", true)},
		},
		{
			name:     "shared Mapping ID writes the strongest status; unmapped segments ignored",
			profile:  `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":"k@example.com"},"segmentMembership":{"ups":{"seg-1":{"status":"exited"},"seg-2":{"status":"existing"},"seg-3":{"status":"exited"},"other":{"status":"bogus"}}}}`,
			key:      "K",
			attrs:    []AttributeValue{email("k@example.com"), ed("salesforce_mc_segment_1", "existing"), ed("Segment_Two", "exited")},
			statuses: map[string]SegmentStatus{"seg-1": StatusExited, "seg-2": StatusExisting, "seg-3": StatusExited},
		},
		{
			name:    "attribute source that is an array of {id, primary}",
			profile: `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":[{"id":"old@example.com"},{"id":"new@example.com","primary":true}]}}`,
			key:     "K",
			attrs:   []AttributeValue{email("new@example.com")},
		},
		{
			name:    "exactly the target length is fine (runes, not bytes)",
			profile: `{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":"Åsa-Öberg!"}},"personalEmail":{"address":"k@example.com"}}`,
			key:     "K",
			attrs:   []AttributeValue{ed("First Name", "Åsa-Öberg!"), email("k@example.com")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prof, err := DecodeProfile([]byte(tt.profile))
			require.NoError(t, err)
			c, st, err := pm.Map(prof)
			require.NoError(t, err)
			assert.Equal(t, tt.key, c.Key)
			assert.Equal(t, tt.attrs, c.Attributes)
			assert.Equal(t, tt.statuses, st)
			require.NoError(t, c.Validate())
		})
	}
}

func TestProfileMapperFloat64Numbers(t *testing.T) {
	t.Parallel()
	pm := compileDesign(t, 10)
	var prof map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"identityMap":{"contactKey":[{"id":"K","primary":true}]},"personalEmail":{"address":"k@example.com"},"loyalty":{"score":3}}`), &prof))
	c, _, err := pm.Map(prof)
	require.NoError(t, err)
	assert.Equal(t, []AttributeValue{{Set: SetEmailAddresses, Name: AttrEmailAddress, Value: "k@example.com"}, {Set: SetEmailDemographics, Name: "v1.2 Score", Value: float64(3)}}, c.Attributes)
	body, err := contactBody(c)
	require.NoError(t, err)
	assert.Contains(t, string(body), `{"name":"v1.2 Score","value":3}`)
}

func TestProfileMapperRecordErrors(t *testing.T) {
	t.Parallel()
	pm := compileDesign(t, 10)
	tests := []struct {
		name    string
		profile string
		field   string
		target  string
		is      error
		parts   []string
	}{
		{"missing identity", `{"person":{}}`, "identityMap.contactKey", "", ErrMissingIdentity, nil},
		{"empty identity", `{"identityMap":{"contactKey":""}}`, "identityMap.contactKey", "", ErrMissingIdentity, nil},
		{"empty identity array", `{"identityMap":{"contactKey":[]}}`, "identityMap.contactKey", "", ErrMissingIdentity, nil},
		{"identity object", `{"identityMap":{"contactKey":{"id":"x"}}}`, "identityMap.contactKey", "", nil, []string{"object"}},
		{"too long", `{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":"Bartholomew"}}}`, "person.name.firstName", "Email Demographics.First Name", ErrValueTooLong, []string{"11 characters", "holds 10"}},
		{"object value", `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":"k@example.com"},"loyalty":{"score":{"v":1}}}`, "loyalty.score", "Email Demographics.v1.2 Score", nil, []string{"object"}},
		{"array of scalars", `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":"k@example.com"},"loyalty":{"score":[1,2]}}`, "loyalty.score", "Email Demographics.v1.2 Score", nil, []string{"array"}},
		{"unknown status", `{"identityMap":{"contactKey":"K"},"segmentMembership":{"ups":{"seg-3":{"status":"entered"}}}}`, "segmentMembership.ups.seg-3.status", "", nil, []string{`"entered"`}},
		{"missing email", `{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":"Ann"}}}`, "personalEmail.address", "Email Addresses.Email Address", ErrMissingEmail, nil},
		{"bad email", `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":"ann at example.com"}}`, "personalEmail.address", "Email Addresses.Email Address", ErrInvalidValue, []string{`"ann at example.com"`, "EmailAddress"}},
		{"fraction into a Decimal of scale 2", `{"identityMap":{"contactKey":"K"},"personalEmail":{"address":"k@example.com"},"loyalty":{"score":1.125}}`, "loyalty.score", "Email Demographics.v1.2 Score", ErrInvalidValue, []string{"1.125", "Decimal", "3 digits after the point"}},
		{"number too long for Text", `{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":12345678901}}}`, "person.name.firstName", "Email Demographics.First Name", ErrValueTooLong, []string{"12345678901", "11 characters"}},
		{"status not a string", `{"identityMap":{"contactKey":"K"},"segmentMembership":{"ups":{"seg-1":{"status":1}}}}`, "segmentMembership.ups.seg-1.status", "", nil, []string{"number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prof, err := DecodeProfile([]byte(tt.profile))
			require.NoError(t, err)
			_, _, err = pm.Map(prof)
			var re *RecordError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.field, re.Field)
			assert.Equal(t, tt.target, re.Target)
			assert.Contains(t, err.Error(), tt.field)
			if tt.target != "" {
				assert.Contains(t, err.Error(), tt.target)
			}
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestDecodeProfile(t *testing.T) {
	t.Parallel()
	p, err := DecodeProfile([]byte(`{"n":12345678901234567890}`))
	require.NoError(t, err)
	assert.Equal(t, json.Number("12345678901234567890"), p["n"])
	for _, bad := range []string{`null`, `[1]`, `{"a":`, ``, `{"a":1} {}`} {
		_, err := DecodeProfile([]byte(bad))
		assert.Error(t, err, bad)
	}
}
