package sfmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the facts issue 13 lists from answers recorded on real tenants
// (the replay suite in replay_test.go decodes whole recorded-style answers).

// realCatalog is shaped like a real business unit: Email Demographics
// holds the system primary key Contacts ID, Email Addresses holds the
// hidden read-only keys List ID and Member ID next to Email Address (a
// primary key that is not updateable) and HTML Enabled, in a set that is
// read-only at set level.
func realCatalog() *Catalog {
	return NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, IsReadOnly: true, IsSystemDefined: true, Attributes: []*AttributeDefinition{
			{Name: "List ID", DataType: "Number", IsPrimaryKey: true, IsHidden: true, IsReadOnly: true, IsSystemDefined: true, DisplayOrder: 1},
			{Name: "Member ID", DataType: "Number", IsPrimaryKey: true, IsHidden: true, IsReadOnly: true, IsSystemDefined: true, DisplayOrder: 2},
			{Name: AttrEmailAddress, DataType: "EmailAddress", IsPrimaryKey: true, IsSystemDefined: true, DisplayOrder: 3},
			{Name: AttrHTMLEnabled, DataType: "Boolean", IsSystemDefined: true, IsUpdateable: true, IsNullable: true, DisplayOrder: 4},
		}},
		{Name: SetEmailDemographics, IsSystemDefined: true, Attributes: []*AttributeDefinition{
			{Name: "Contacts ID", DataType: "LongNumber", IsPrimaryKey: true, IsSystemDefined: true, DisplayOrder: 1},
			{Name: "First Name", DataType: "Text", Length: 50, IsUpdateable: true, IsNullable: true, DisplayOrder: 2},
			{Name: "Notes", DataType: "Text", Length: -1, IsUpdateable: true, IsNullable: true, DisplayOrder: 3},
			{Name: "Secret Score", DataType: "Number", IsHidden: true, DisplayOrder: 4},
			{Name: "Computed", DataType: "Text", Length: 100, IsReadOnly: true, DisplayOrder: 5},
			{Name: "Balance", DataType: "Decimal", Length: 18, Scale: 2, DisplayOrder: 6},
		}},
	}, false)
}

func TestTargetsExcludeWhatAWriteMustNotSet(t *testing.T) {
	t.Parallel()
	var names []string
	for _, tg := range realCatalog().Targets() {
		names = append(names, tg.String())
	}
	assert.Equal(t, []string{
		"Email Addresses.Email Address",
		"Email Addresses.HTML Enabled",
		"Email Demographics.First Name",
		"Email Demographics.Notes",
		"Email Demographics.Balance",
	}, names)
}

func TestValidateTargetsRefusesSystemAttributes(t *testing.T) {
	t.Parallel()
	cat := realCatalog()
	tests := []struct {
		target string
		reason string
	}{
		{"Email Demographics.Contacts ID", "Email Demographics.Contacts ID is the set's system primary key"},
		{"Email Addresses.List ID", "Email Addresses.List ID is the set's system primary key"},
		{"Email Addresses.Member ID", "Email Addresses.Member ID is the set's system primary key"},
		{"Email Demographics.Secret Score", "Email Demographics.Secret Score is hidden"},
		{"Email Demographics.Computed", "Email Demographics.Computed is read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			err := ValidateTargets(cat, []string{tt.target})
			probs := validationProblems(t, err)
			require.Len(t, probs, 1)
			assert.Contains(t, probs[0], tt.reason)
		})
	}
	// Email Address and HTML Enabled stay mappable although both are
	// system-defined, Email Address is a primary key that is not
	// updateable and the set is read-only.
	require.NoError(t, ValidateTargets(cat, []string{"Email Addresses.Email Address", "Email Addresses.HTML Enabled",
		"Email Demographics.First Name", "Email Demographics.Notes", "Email Demographics.Balance"}))
}

func TestMappingValidateRefusesContactsID(t *testing.T) {
	t.Parallel()
	m := &Mapping{Identity: "k", Attributes: []AttributeMapping{
		{Source: "email", Target: "Email Addresses.Email Address"},
		{Source: "id", Target: "Email Demographics.Contacts ID"},
	}}
	probs := validationProblems(t, m.Validate(realCatalog()))
	require.Len(t, probs, 1, "%q", probs)
	assert.Contains(t, probs[0], "Email Demographics.Contacts ID is the set's system primary key")
}

// A non-2xx answer whose body holds only resultMessages keeps the
// tenant's text.
func TestAPIErrorResultMessagesOnly(t *testing.T) {
	t.Parallel()
	c, mt, _ := newMockClient(t, nil, WithRetry(0, 0, 0))
	mt.RegisterResponder(http.MethodGet, testRESTURL, jsonResponder(400,
		`{"resultMessages":[{"resultType":"Error","resultClass":"Validation","resultCode":"CustomObjectNotFound","message":"Custom object 'Loyalty' was not found."}]}`))
	_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.StatusCode)
	assert.Contains(t, err.Error(), "Custom object 'Loyalty' was not found.")
	assert.Contains(t, err.Error(), "CustomObjectNotFound")
}

// A contact write answered 400 with only resultMessages is a
// *ContactError, and an unknown set or attribute in it matches
// ErrUnknownAttribute.
func TestUpsertBadRequestWithResultMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		unknown []AttributeRef
	}{
		{"unknown set by code", `{"resultMessages":[{"resultType":"Error","resultClass":"Validation","resultCode":"CustomObjectNotFound","message":"Custom object 'Loyalty' was not found."}]}`,
			[]AttributeRef{{Set: "Loyalty"}}},
		{"unknown attribute by text", `{"resultMessages":[{"resultType":"Error","resultClass":"Validation","resultCode":"ValueDefinitionInvalid","message":"Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'."}]}`,
			[]AttributeRef{{Set: "Email Demographics", Name: "Shoe Size"}}},
		{"other refusal keeps the raw text", `{"resultMessages":[{"resultType":"Error","resultClass":"Validation","resultCode":"SomethingElse","message":"The tenant said no."}]}`,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(400, tt.body))
			_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "K-1", Attributes: []AttributeValue{{"Email Demographics", "Shoe Size", 42}}})
			var ce *ContactError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "K-1", ce.Key)
			assert.Equal(t, tt.unknown, ce.Unknown)
			assert.Equal(t, tt.unknown != nil, errors.Is(err, ErrUnknownAttribute))
			require.Len(t, ce.Messages, 1)
			assert.Contains(t, err.Error(), ce.Messages[0].Message)
			assert.Contains(t, err.Error(), "HTTP 400")
			var ae *APIError
			require.ErrorAs(t, err, &ae, "the HTTP answer stays reachable")
			assert.Equal(t, 400, ae.StatusCode)
			assert.Equal(t, 1, mt.GetTotalCallCount()-1, "a refused contact is not retried")
		})
	}
}

// listWithoutAttributes serves a list whose sets carry no attributes
// array, and the sets by id with their attributes; it counts the gets.
func listWithoutAttributes(t *testing.T, mt *httpmock.MockTransport, pageSize int) *atomic.Int64 {
	t.Helper()
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", httpmock.NewStringResponder(200, fmt.Sprintf(
		`{"page":1,"pageSize":%d,"count":3,"items":[`+
			`{"id":"ea","name":{"value":"Email Addresses"}},`+
			`{"id":"ed","name":{"value":"Email Demographics"},"attributes":null},`+
			`{"id":"empty","name":{"value":"Empty Set"},"attributes":[]}]}`, pageSize)))
	var gets atomic.Int64
	mt.RegisterRegexpResponder(http.MethodGet, regexp.MustCompile(`^`+regexp.QuoteMeta(svcRESTURL)+`/contacts/v1/attributeSetDefinitions/.+`), func(r *http.Request) (*http.Response, error) {
		gets.Add(1)
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		switch id {
		case "ea":
			return httpmock.NewStringResponse(200, `{"item":{"id":"ea","name":{"value":"Email Addresses"},"attributes":[`+
				`{"name":{"value":"Email Address"},"dataType":"EmailAddress","isPrimaryKey":true},{"name":{"value":"HTML Enabled"},"dataType":"Boolean"}]}}`), nil
		case "ed":
			return httpmock.NewStringResponse(200, `{"item":{"id":"ed","name":{"value":"Email Demographics"},"attributes":[`+
				`{"name":{"value":"First Name"},"dataType":"Text","length":100}]}}`), nil
		}
		return httpmock.NewStringResponse(404, `{"message":"Not Found","errorcode":30003}`), nil
	})
	return &gets
}

func TestCatalogFetchesSetsListedWithoutAttributes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"FirstPage", "Catalog"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			gets := listWithoutAttributes(t, mt, CatalogPageSize)
			read := c.AttributeSets.Catalog
			if name == "FirstPage" {
				read = c.AttributeSets.FirstPage
			}
			cat, err := read(context.Background())
			require.NoError(t, err)
			assert.False(t, cat.Truncated)
			assert.Equal(t, int64(2), gets.Load(), "only the sets listed without attributes are read by id")
			_, ok := cat.Lookup("Email Demographics.First Name")
			assert.True(t, ok)
			_, ok = cat.Lookup("Email Addresses.Email Address")
			assert.True(t, ok)
			m := &Mapping{Identity: "k", Attributes: []AttributeMapping{
				{Source: "email", Target: "Email Addresses.Email Address"},
				{Source: "first", Target: "Email Demographics.First Name"},
			}}
			require.NoError(t, m.Validate(cat))
		})
	}
}
