package sfmc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSegmentStatus(t *testing.T) {
	t.Parallel()
	for _, s := range []SegmentStatus{StatusRealized, StatusExisting, StatusExited} {
		got, err := ParseSegmentStatus(string(s))
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	for _, bad := range []string{"", "Realized", "entered", " realized", "exit"} {
		_, err := ParseSegmentStatus(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), `"`+bad+`"`)
	}
}

func TestNewSegmentMapperErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []SegmentMapping
		parts []string
	}{
		{"empty segment id", []SegmentMapping{{"", "m1"}}, []string{"segment mapping 0", `"m1"`}},
		{"empty mapping id", []SegmentMapping{{"s1", "m1"}, {"s2", ""}}, []string{"segment mapping 1", `"s2"`}},
		{"segment twice", []SegmentMapping{{"s1", "m1"}, {"s1", "m2"}}, []string{`segment "s1" is mapped more than once`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := NewSegmentMapper(tt.in)
			assert.Nil(t, m)
			require.ErrorIs(t, err, ErrInvalidMapping)
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestSegmentMapperAttributes(t *testing.T) {
	t.Parallel()
	m, err := NewSegmentMapper([]SegmentMapping{
		{"seg-a", "attr_1"},
		{"seg-b", "attr_2"},
		{"seg-c", "attr_1"}, // shares attr_1 with seg-a
		{"seg-d", "attr_3"},
	})
	require.NoError(t, err)
	ed := func(name string, st SegmentStatus) AttributeValue {
		return AttributeValue{Set: SetEmailDemographics, Name: name, Value: string(st)}
	}
	tests := []struct {
		name string
		in   map[string]SegmentStatus
		want []AttributeValue
	}{
		{"none", nil, nil},
		{"unmapped only", map[string]SegmentStatus{"other": StatusRealized}, nil},
		{"order of mappings", map[string]SegmentStatus{"seg-d": StatusExited, "seg-b": StatusExisting, "seg-a": StatusRealized},
			[]AttributeValue{ed("attr_1", StatusRealized), ed("attr_2", StatusExisting), ed("attr_3", StatusExited)}},
		{"realized beats existing", map[string]SegmentStatus{"seg-a": StatusExisting, "seg-c": StatusRealized}, []AttributeValue{ed("attr_1", StatusRealized)}},
		{"existing beats exited", map[string]SegmentStatus{"seg-a": StatusExisting, "seg-c": StatusExited}, []AttributeValue{ed("attr_1", StatusExisting)}},
		{"exited alone", map[string]SegmentStatus{"seg-c": StatusExited}, []AttributeValue{ed("attr_1", StatusExited)}},
		{"invalid status ignored", map[string]SegmentStatus{"seg-a": "bogus", "seg-c": StatusExited}, []AttributeValue{ed("attr_1", StatusExited)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Map iteration order is random: repeat to catch order dependence.
			for range 20 {
				assert.Equal(t, tt.want, m.Attributes(tt.in))
			}
		})
	}
	assert.Len(t, m.Mappings(), 4)
}

func TestSegmentMapperManyMappingIDs(t *testing.T) {
	t.Parallel()
	var ms []SegmentMapping
	in := map[string]SegmentStatus{}
	for i := range 12 {
		id := string(rune('a' + i))
		ms = append(ms, SegmentMapping{SegmentID: "s" + id, MappingID: "m" + id})
		in["s"+id] = StatusExisting
	}
	m, err := NewSegmentMapper(ms)
	require.NoError(t, err)
	got := m.Attributes(in)
	require.Len(t, got, 12)
	assert.Equal(t, "ma", got[0].Name)
	assert.Equal(t, "ml", got[11].Name)
}

func validationProblems(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, ErrInvalidMapping)
	return ve.Problems
}

func TestValidateMappings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		truncated bool
		in        []SegmentMapping
		want      [][]string // substrings per problem, in order
	}{
		{"valid", false, []SegmentMapping{{"s1", "salesforce_mc_segment_1"}, {"s2", "salesforce_mc_segment_1"}, {"s3", "unlimited_seg"}}, nil},
		{"missing", false, []SegmentMapping{{"s1", "no_such_attr"}}, [][]string{{`Mapping ID "no_such_attr"`, `segment "s1"`, "does not exist", "create a Text attribute", "Contact Builder", "Email Demographics"}}},
		{"wrong case", false, []SegmentMapping{{"s1", "segment_two"}}, [][]string{{`Mapping ID "segment_two"`, `did you mean "Email Demographics.Segment_Two"`}}},
		{"non-Text", false, []SegmentMapping{{"s1", "num_seg"}}, [][]string{{`Mapping ID "num_seg"`, "Number attribute", "Text"}}},
		{"too short", false, []SegmentMapping{{"s1", "short_seg"}}, [][]string{{`Mapping ID "short_seg"`, "length 5", `"realized"`, "8 or more"}}},
		{"truncated catalog", true, []SegmentMapping{{"s1", "later_page_attr"}}, [][]string{{`Mapping ID "later_page_attr"`, "later page", "read all pages"}}},
		{"every problem at once", false, []SegmentMapping{
			{"s1", "no_such_attr"}, {"s2", "num_seg"}, {"s3", "short_seg"}, {"s1", "salesforce_mc_segment_1"}, {"", "x"}, {"s5", ""},
		}, [][]string{
			{`"no_such_attr"`}, {`"num_seg"`}, {`"short_seg"`}, {`segment "s1" is mapped more than once`}, {"has no segment id"}, {`segment "s5" has no Mapping ID`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateMappings(testCatalog(tt.truncated), tt.in)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			probs := validationProblems(t, err)
			require.Len(t, probs, len(tt.want), "%q", probs)
			for i, parts := range tt.want {
				for _, p := range parts {
					assert.Contains(t, probs[i], p)
				}
				assert.Contains(t, err.Error(), probs[i])
			}
			if !tt.truncated {
				assert.NotContains(t, err.Error(), "later page")
			}
		})
	}
}

func TestValidateTargets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		truncated bool
		in        []string
		want      [][]string
	}{
		{"valid", false, []string{"Email Demographics.First Name", "Email Addresses.Email Address", "Email Addresses.HTML Enabled", "Email Demographics.v1.2 Score"}, nil},
		{"not mappable", false, []string{"MobileConnect Demographics.Mobile Number"}, [][]string{
			{`"MobileConnect Demographics.Mobile Number"`, "cannot be mapped", "Email Addresses.HTML Enabled can be mapped"}}},
		{"missing attribute", false, []string{"Email Demographics.Shoe Size"}, [][]string{{`"Email Demographics.Shoe Size"`, "does not exist", "create the attribute"}}},
		{"wrong case", false, []string{"Email Demographics.first name"}, [][]string{{`did you mean "Email Demographics.First Name"`}}},
		{"wrong case set", false, []string{"email demographics.First Name"}, [][]string{{`attribute set "email demographics" does not exist`, `did you mean "Email Demographics.First Name"`}}},
		{"no dot", false, []string{"First Name"}, [][]string{{`"First Name"`, "Set.Attribute"}}},
		{"duplicate and empty", false, []string{"Email Demographics.First Name", "Email Demographics.First Name", ""}, [][]string{{"more than once"}, {"empty target"}}},
		{"truncated", true, []string{"Email Demographics.Later"}, [][]string{{"later page"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateTargets(testCatalog(tt.truncated), tt.in)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			probs := validationProblems(t, err)
			require.Len(t, probs, len(tt.want), "%q", probs)
			for i, parts := range tt.want {
				for _, p := range parts {
					assert.Contains(t, probs[i], p)
				}
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	e := &ValidationError{Problems: []string{"a", "b"}}
	assert.Equal(t, "sfmc: invalid mapping: 2 problems:\n  - a\n  - b", e.Error())
	assert.True(t, errors.Is(e, ErrInvalidMapping))
	assert.False(t, errors.Is(e, ErrInvalidContact))
	assert.Equal(t, "sfmc: invalid mapping: 1 problem:\n  - a", (&ValidationError{Problems: []string{"a"}}).Error())
}
