package sfmc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
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
// array, and the sets by id with their attributes (the set with id
// forbidden answers 403); it counts the gets.
func listWithoutAttributes(t *testing.T, mt *httpmock.MockTransport, pageSize int, forbidden string) *atomic.Int64 {
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
		if id == forbidden {
			return httpmock.NewStringResponse(403, `{"message":"Insufficient privileges","errorcode":20002}`), nil
		}
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
			gets := listWithoutAttributes(t, mt, CatalogPageSize, "")
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

// unknownPatterns: recognised by code or by text; anything else keeps its
// raw text and is no unknown attribute.
func TestUnknownPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    ResultMessage
		want []AttributeRef
	}{
		{"simulator set code", ResultMessage{Code: "AttributeSetNotFound", Message: "Attribute set 'L' does not exist."}, []AttributeRef{{Set: "L"}}},
		{"simulator attribute code", ResultMessage{Code: "AttributeNotFound", Message: "Attribute 'A' does not exist in attribute set 'S'."}, []AttributeRef{{Set: "S", Name: "A"}}},
		{"recorded code names a set", ResultMessage{Code: "CustomObjectNotFound", Message: "'Loyalty' not found"}, []AttributeRef{{Set: "Loyalty"}}},
		{"code with separators and case", ResultMessage{Code: "custom_object-not found", Message: "'X'"}, []AttributeRef{{Set: "X"}}},
		{"code without names", ResultMessage{Code: "UnknownAttribute", Message: "no names here"}, []AttributeRef{{Set: "(unnamed)"}}},
		{"text: custom object", ResultMessage{Code: "E1", Message: "Custom object 'Loyalty' was not found."}, []AttributeRef{{Set: "Loyalty"}}},
		{"text: attribute does not exist", ResultMessage{Message: "Attribute 'Tier' does not exist in set 'Loyalty'"}, []AttributeRef{{Set: "Loyalty", Name: "Tier"}}},
		{"text: dotted name", ResultMessage{Message: `Unknown attribute "Email Demographics.Shoe Size"`}, []AttributeRef{{Set: "Email Demographics", Name: "Shoe Size"}}},
		{"text without names", ResultMessage{Message: "Invalid attribute in request"}, []AttributeRef{{Set: "(unnamed)"}}},
		{"never: value too long whatever the text", ResultMessage{Code: "ValueTooLong", Message: "Attribute 'A' not found"}, nil},
		{"never: invalid value", ResultMessage{Code: "InvalidValue", Message: "Unknown attribute 'A'"}, nil},
		{"no match", ResultMessage{Code: "SomethingElse", Message: "The tenant said no."}, nil},
		{"empty", ResultMessage{}, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, unknownRefs(tt.m), tt.name)
	}
	for _, p := range unknownPatterns {
		assert.True(t, (p.code == "") != (len(p.words) == 0), "a rule has a code or words: %+v", p)
		assert.Equal(t, strings.ToLower(p.code), p.code)
	}
}

func TestAPIErrorBodyShapes(t *testing.T) {
	t.Parallel()
	many := make([]string, 105)
	for i := range many {
		many[i] = fmt.Sprintf(`{"resultCode":"C%d","message":"m%d"}`, i, i)
	}
	tests := []struct {
		name   string
		status int
		body   string
		msgs   int
		parts  []string
	}{
		{"message and resultMessages", 400, `{"message":"Bad","errorcode":10005,"resultMessages":[{"resultCode":"X","message":"detail"}]}`, 1,
			[]string{"errorcode 10005: Bad; X: detail"}},
		{"resultMessages only on 404", 404, `{"resultMessages":[{"resultType":"Error","resultCode":"CustomObjectNotFound","message":"gone"}]}`, 1,
			[]string{"HTTP 404: Not Found; CustomObjectNotFound: gone"}},
		{"resultMessages only on 500", 500, `{"resultMessages":[{"message":"boom"}]}`, 1, []string{"HTTP 500: Internal Server Error; boom"}},
		{"entry without text keeps the raw entry", 400, `{"resultMessages":[{"resultType":"Error","resultClass":"Validation"}]}`, 1,
			[]string{`{"resultType":"Error","resultClass":"Validation"}`}},
		{"text under resultMessage", 400, `{"resultMessages":[{"resultCode":"C","resultMessage":"older shape"}]}`, 1, []string{"C: older shape"}},
		{"capped", 400, `{"resultMessages":[` + strings.Join(many, ",") + `]}`, 101, []string{"m0", "m99", "... and 5 more result messages"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt, _ := newMockClient(t, nil, WithRetry(0, 0, 0))
			mt.RegisterResponder(http.MethodGet, testRESTURL, jsonResponder(tt.status, tt.body))
			_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Len(t, ae.ResultMessages, tt.msgs)
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestContactRefusalStatuses(t *testing.T) {
	t.Parallel()
	body := `{"resultMessages":[{"resultCode":"CustomObjectNotFound","message":"Custom object 'L' was not found."}]}`
	tests := []struct {
		status  int
		contact bool
		is      []error
	}{
		{400, true, []error{ErrUnknownAttribute}},
		{404, true, []error{ErrUnknownAttribute, ErrNotFound}},
		{409, true, []error{ErrUnknownAttribute}},
		{401, false, []error{ErrUnauthorized}},
		{403, false, []error{ErrForbidden}},
		{429, false, []error{ErrRateLimited}},
		{500, false, []error{ErrServer}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(tt.status, body))
			_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "K"})
			var ce *ContactError
			assert.Equal(t, tt.contact, errors.As(err, &ce), "%v", err)
			for _, s := range tt.is {
				assert.ErrorIs(t, err, s)
			}
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			assert.Contains(t, err.Error(), "Custom object 'L' was not found.")
		})
	}
	// A 400 without resultMessages stays a plain *APIError.
	c, mt := newServiceMockClient(t)
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(400, `{"message":"contactKey is required","errorcode":10002}`))
	_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "K"})
	var ce *ContactError
	assert.False(t, errors.As(err, &ce))
	// The ErrOutcomeUnknown mark survives the conversion.
	marked := contactRefusal("K", fmt.Errorf("%w (%w)", &APIError{StatusCode: 400, ResultMessages: []ResultMessage{{Message: "x"}}}, ErrOutcomeUnknown))
	require.ErrorAs(t, marked, &ce)
	assert.ErrorIs(t, marked, ErrOutcomeUnknown)
	assert.Nil(t, (&ContactError{}).Unwrap(), "a 200 refusal unwraps to nothing")
}

func TestDefinitionFlagsDecoded(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", httpmock.NewStringResponder(200, `{"page":1,"pageSize":50,"count":1,"items":[
	  {"id":"s1","name":{"value":"S"},"isReadOnly":true,"isSystemDefined":true,"isHidden":true,"canAddValues":true,"canChangeValues":true,"attributes":[
	    {"name":{"value":"A"},"dataType":"Decimal","length":18,"scale":2,"isPrimaryKey":true,"isSystemDefined":true,"isReadOnly":true,
	     "isHidden":true,"isUpdateable":true,"isNullable":true,"isIdentityValue":true},
	    {"name":{"value":"T"},"dataType":"Text","length":-1}]}]}`))
	p, err := c.AttributeSets.List(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, p.Items, 1)
	s := p.Items[0]
	assert.Equal(t, &AttributeSetDefinition{ID: "s1", Name: "S", IsReadOnly: true, IsSystemDefined: true, IsHidden: true, CanAddValues: true, CanChangeValues: true,
		Attributes: []*AttributeDefinition{
			{Name: "A", DataType: "Decimal", Length: 18, Scale: 2, IsPrimaryKey: true, IsSystemDefined: true, IsReadOnly: true, IsHidden: true,
				IsUpdateable: true, IsNullable: true, IsIdentityValue: true},
			{Name: "T", DataType: "Text", Length: -1},
		}}, s)
}

// Sets listed without attributes are read by id, at most
// maxConcurrentGets at a time; FirstPage still reads one page.
func TestFillAttributesBoundedAndOnePage(t *testing.T) {
	t.Parallel()
	const n = 12
	c, mt := newServiceMockClient(t)
	var lists atomic.Int64
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		lists.Add(1)
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"id":"id-%d","name":{"value":"Set %d"}}`, i, i)
		}
		return httpmock.NewStringResponse(200, fmt.Sprintf(`{"page":1,"pageSize":2000,"count":%d,"items":[%s]}`, n+5, strings.Join(items, ","))), nil
	})
	var inFlight, peak, gets atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	mt.RegisterRegexpResponder(http.MethodGet, regexp.MustCompile(`/attributeSetDefinitions/id-`), func(r *http.Request) (*http.Response, error) {
		gets.Add(1)
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		if cur == maxConcurrentGets {
			once.Do(func() { close(release) }) // the bound is reached: let everyone go
		}
		<-release
		inFlight.Add(-1)
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '-')+1:]
		return httpmock.NewStringResponse(200, `{"item":{"id":"id-`+id+`","name":{"value":"Set `+id+`"},"attributes":[{"name":{"value":"A"},"dataType":"Text"}]}}`), nil
	})
	cat, err := c.AttributeSets.FirstPage(context.Background())
	require.NoError(t, err)
	assert.True(t, cat.Truncated)
	assert.Equal(t, int64(1), lists.Load(), "FirstPage reads one page")
	assert.Equal(t, int64(n), gets.Load())
	assert.Equal(t, int64(maxConcurrentGets), peak.Load())
	for i := range n {
		_, ok := cat.Lookup(fmt.Sprintf("Set %d.A", i))
		assert.True(t, ok, i)
	}
}

func TestFillAttributesError(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	listWithoutAttributes(t, mt, CatalogPageSize, "ed")
	_, err := c.AttributeSets.Catalog(context.Background())
	require.ErrorIs(t, err, ErrForbidden)
	assert.ErrorContains(t, err, `"Email Demographics", listed without its attributes`)
	_, err = c.AttributeSets.FirstPage(context.Background())
	require.ErrorIs(t, err, ErrForbidden)
	n := 0
	for d, err := range c.AttributeSets.All(context.Background(), nil) {
		assert.Nil(t, d)
		assert.ErrorIs(t, err, ErrForbidden)
		n++
	}
	assert.Equal(t, 1, n)
}

// Email Address and HTML Enabled stay mappable whatever their flags and
// the set's say: the destination writes both.
func TestEmailTargetsStayMappable(t *testing.T) {
	t.Parallel()
	cat := NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, IsReadOnly: true, IsHidden: true, IsSystemDefined: true, Attributes: []*AttributeDefinition{
			{Name: AttrEmailAddress, DataType: "EmailAddress", IsPrimaryKey: true, IsSystemDefined: true, IsReadOnly: true, IsHidden: true},
			{Name: AttrHTMLEnabled, DataType: "Boolean", IsPrimaryKey: true, IsSystemDefined: true, IsReadOnly: true, IsHidden: true},
		}},
		{Name: SetEmailDemographics, IsReadOnly: true, IsSystemDefined: true, Attributes: []*AttributeDefinition{
			{Name: "First Name", DataType: "Text", IsSystemDefined: true, IsUpdateable: false},
		}},
	}, false)
	require.NoError(t, ValidateTargets(cat, []string{"Email Addresses.Email Address", "Email Addresses.HTML Enabled", "Email Demographics.First Name"}),
		"set-level flags, isSystemDefined and isUpdateable do not decide")
	assert.Len(t, cat.Targets(), 3)
}

func TestValidateMappingsRefusesUnwritableMappingIDs(t *testing.T) {
	t.Parallel()
	probs := validationProblems(t, ValidateMappings(realCatalog(), []SegmentMapping{{SegmentID: "s1", MappingID: "Computed"}, {SegmentID: "s2", MappingID: "Contacts ID"}}))
	require.Len(t, probs, 2, "%q", probs)
	assert.Contains(t, probs[0], `Mapping ID "Computed" (segment "s1") cannot receive segment statuses: Email Demographics.Computed is read-only`)
	assert.Contains(t, probs[1], `Mapping ID "Contacts ID" (segment "s2") is a LongNumber attribute`)
	require.NoError(t, ValidateMappings(realCatalog(), []SegmentMapping{{SegmentID: "s1", MappingID: "Notes"}}), "Text(-1) is unlimited")
}
