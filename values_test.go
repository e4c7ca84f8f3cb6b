package sfmc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typedCatalog has an attribute of every data type a real tenant shows.
func typedCatalog() *Catalog {
	return NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, Attributes: []*AttributeDefinition{
			{Name: AttrEmailAddress, DataType: "EmailAddress"},
			{Name: "HTML Enabled", DataType: "Boolean"},
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
			{Name: "Balance", DataType: "Decimal", Length: 18},
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
