package sfmc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The replay suite decodes answers shaped like those recorded from real
// tenants (testdata/replay, see its README) with the real client, through a
// per-test httpmock transport on the real *.marketingcloudapis.com hosts:
// no WithAuthURL or WithRESTURL, so the auth URL comes from the subdomain
// and the REST URL from the token answer, under the client's host rules.

const (
	replaySubdomain = "mc7t0k2x9q4w8e1r5y3u6i0o2p4a"
	replayAuthURL   = "https://" + replaySubdomain + ".auth.marketingcloudapis.com"
	replayRESTURL   = "https://" + replaySubdomain + ".rest.marketingcloudapis.com"
	replaySecret    = "replay-SECRET-value"
)

// replayFixture is one recorded-style answer.
type replayFixture struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   json.RawMessage   `json:"body"`
}

func loadReplay(t *testing.T, name string) replayFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "replay", name))
	require.NoError(t, err)
	var f replayFixture
	require.NoError(t, json.Unmarshal(b, &f), name)
	require.NotZero(t, f.Status, name)
	return f
}

// replayResponder answers with the fixture name, counting the calls.
func replayResponder(t *testing.T, name string, calls *atomic.Int64) httpmock.Responder {
	f := loadReplay(t, name)
	return func(*http.Request) (*http.Response, error) {
		if calls != nil {
			calls.Add(1)
		}
		resp := httpmock.NewBytesResponse(f.Status, f.Body)
		resp.Header.Set("Content-Type", "application/json")
		for k, v := range f.Header {
			resp.Header.Set(k, v)
		}
		return resp, nil
	}
}

// replayClient returns a client whose token endpoint answers with the
// fixture token, and its transport for REST responders.
func replayClient(t *testing.T, token string) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, replayAuthURL+"/v2/token", replayResponder(t, token, nil))
	c, err := NewClient(Config{Subdomain: replaySubdomain, ClientID: "replay-client", ClientSecret: replaySecret},
		WithHTTPClient(&http.Client{Transport: mt}), WithRetry(0, 0, 0), WithRateLimit(1e5, 100))
	require.NoError(t, err)
	return c, mt
}

func TestReplayToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture   string
		expiresIn int64
	}{
		{"token.json", 1079},          // recorded: scheme and trailing slash
		{"token_doc_form.json", 1080}, // documented: no scheme, no slash
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			c, mt := replayClient(t, tt.fixture)
			ctx := context.Background()
			require.NoError(t, c.Verify(ctx))
			u, err := c.RESTURL(ctx)
			require.NoError(t, err)
			assert.Equal(t, replayRESTURL, u, "scheme added, trailing slash trimmed")
			tok, err := c.TokenSource().Token()
			require.NoError(t, err)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, tt.expiresIn, tok.ExpiresIn)
			assert.WithinDuration(t, time.Now().Add(time.Duration(tt.expiresIn)*time.Second), tok.Expiry, 5*time.Second)
			assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+replayAuthURL+"/v2/token"])

			// REST calls go to the recorded host, with a single slash.
			var path string
			mt.RegisterResponder(http.MethodPatch, replayRESTURL+"/contacts/v1/contacts", func(r *http.Request) (*http.Response, error) {
				path = r.URL.Path
				return replayResponder(t, "contact_patch.json", nil)(r)
			})
			_, err = c.Contacts.Upsert(ctx, Contact{Key: "replay-contact-1"})
			require.NoError(t, err)
			assert.Equal(t, "/contacts/v1/contacts", path)
		})
	}
}

func TestReplayTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		is      []error
		not     []error
		parts   []string
	}{
		{"token_invalid_client_id.json", []error{ErrInvalidCredentials}, []error{ErrIPNotAllowlisted},
			[]string{"HTTP 401 invalid_client", "Invalid client ID. Use the client ID in Marketing Cloud Installed Packages."}},
		{"token_client_auth_failed.json", []error{ErrInvalidCredentials}, []error{ErrIPNotAllowlisted},
			[]string{"Client authentication failed"}},
		{"token_ip_not_allowlisted.json", []error{ErrIPNotAllowlisted}, []error{ErrInvalidCredentials},
			[]string{"invalid_grant", "The client's IP address is unauthorized for this account", "allowlist"}},
		{"token_blocked.json", []error{ErrRateLimited, ErrBlocked}, []error{ErrInvalidCredentials},
			[]string{"HTTP 429 errorcode 50200", "Your requests are temporarily blocked."}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			c, _ := replayClient(t, tt.fixture)
			err := c.Verify(context.Background())
			require.Error(t, err)
			for _, s := range tt.is {
				assert.ErrorIs(t, err, s)
			}
			for _, s := range tt.not {
				assert.NotErrorIs(t, err, s)
			}
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
			assert.NotContains(t, err.Error(), replaySecret)
		})
	}
}

func TestReplayContactPatch(t *testing.T) {
	t.Parallel()
	c, mt := replayClient(t, "token.json")
	var body string
	mt.RegisterResponder(http.MethodPatch, replayRESTURL+"/contacts/v1/contacts", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		return replayResponder(t, "contact_patch.json", nil)(r)
	})
	res, err := c.Contacts.Upsert(context.Background(), Contact{Key: "replay-contact-1", Attributes: []AttributeValue{
		{Set: SetEmailAddresses, Name: AttrEmailAddress, Value: "ann@example.com"},
		{Set: SetEmailAddresses, Name: AttrHTMLEnabled, Value: true},
		{Set: SetEmailDemographics, Name: "First Name", Value: "Ann"},
	}})
	require.NoError(t, err)
	want := time.Date(2024, 5, 31, 8, 15, 42, 629080700, time.FixedZone("", -6*3600))
	assert.True(t, want.Equal(res.ResponseDateTime), "responseDateTime %v", res.ResponseDateTime)
	res.ResponseDateTime = time.Time{}
	assert.Equal(t, &ContactResult{OperationStatus: "OK", ContactKey: "replay-contact-1", ContactID: 84651239, IsNewContactKey: true, RowsAffected: 1,
		RequestServiceMessageID: "3c0f6d1e-8b7a-4f2e-9a51-0c7d2e6b4a10", ServiceMessageID: "9e2b7c44-1d3f-4a8e-b6c0-5f1a2d3e4b5c"}, res)
	// The request body has the documented shape.
	assert.JSONEq(t, `{"contactKey":"replay-contact-1","attributeSets":[
		{"name":"Email Addresses","items":[{"values":[{"name":"Email Address","value":"ann@example.com"},{"name":"HTML Enabled","value":true}]}]},
		{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Ann"}]}]}]}`, body)
}

func TestReplayErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		check   func(t *testing.T, err error)
	}{
		{"error_not_authorized.json", func(t *testing.T, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, APIError{StatusCode: 401, Message: "Not Authorized", Method: http.MethodPatch, URL: replayRESTURL + "/contacts/v1/contacts",
				Documentation: "https://developer.salesforce.com/docs/atlas.en-us.mc-apis.meta/mc-apis/error-handling.htm"}, *ae)
			assert.ErrorIs(t, err, ErrUnauthorized)
		}},
		{"error_insufficient_privileges.json", func(t *testing.T, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 20002, ae.Code)
			assert.ErrorIs(t, err, ErrForbidden)
			assert.Contains(t, err.Error(), "HTTP 403 errorcode 20002: Insufficient privileges")
		}},
		{"error_aggregate.json", func(t *testing.T, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 10006, ae.Code)
			assert.Equal(t, []string{"contactKey is required.", "attributeSets[0].name is invalid."}, ae.AdditionalErrors)
			assert.Contains(t, err.Error(), "Check additionalErrors for detailed error messages.; contactKey is required.; attributeSets[0].name is invalid.")
			var ce *ContactError
			assert.False(t, errors.As(err, &ce), "no resultMessages: not a contact refusal")
		}},
		{"error_result_messages.json", func(t *testing.T, err error) {
			var ce *ContactError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "replay-contact-1", ce.Key)
			assert.Equal(t, []AttributeRef{{Set: "Loyalty Program"}}, ce.Unknown)
			assert.ErrorIs(t, err, ErrUnknownAttribute)
			require.Len(t, ce.Messages, 1)
			assert.Equal(t, ResultMessage{Type: "Error", Class: "Validation", Code: "CustomObjectNotFound", Message: "Custom object 'Loyalty Program' was not found.",
				Raw: ce.Messages[0].Raw}, ce.Messages[0])
			assert.Equal(t, `sfmc: contact "replay-contact-1" refused (HTTP 400): unknown attribute set "Loyalty Program": Custom object 'Loyalty Program' was not found.`, err.Error())
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 400, ae.StatusCode)
			assert.Equal(t, "Bad Request", ae.Message)
		}},
		{"contact_fail.json", func(t *testing.T, err error) {
			var ce *ContactError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "FAIL", ce.OperationStatus)
			assert.Nil(t, ce.API)
			assert.NotErrorIs(t, err, ErrUnknownAttribute, "the text names no unknown attribute")
			assert.Contains(t, err.Error(), "The value of 'Tier' could not be saved.", "the raw text is kept")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			c, mt := replayClient(t, "token.json")
			mt.RegisterResponder(http.MethodPatch, replayRESTURL+"/contacts/v1/contacts", replayResponder(t, tt.fixture, nil))
			_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "replay-contact-1", Attributes: []AttributeValue{
				{Set: "Loyalty Program", Name: "Tier", Value: "gold"}}})
			require.Error(t, err)
			tt.check(t, err)
			assert.NotContains(t, err.Error(), replaySecret)
		})
	}

	// The resultMessages-only body on another route keeps its text too.
	c, mt := replayClient(t, "token.json")
	mt.RegisterResponder(http.MethodGet, replayRESTURL+"/contacts/v1/attributeSetDefinitions", replayResponder(t, "error_result_messages.json", nil))
	_, err := c.AttributeSets.FirstPage(context.Background())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Contains(t, err.Error(), "HTTP 400: Bad Request; CustomObjectNotFound: Custom object 'Loyalty Program' was not found.")
}

func TestReplaySetsWithFlags(t *testing.T) {
	t.Parallel()
	c, mt := replayClient(t, "token.json")
	mt.RegisterResponder(http.MethodGet, replayRESTURL+"/contacts/v1/attributeSetDefinitions", replayResponder(t, "sets_with_flags.json", nil))
	cat, err := c.AttributeSets.FirstPage(context.Background())
	require.NoError(t, err)
	assert.False(t, cat.Truncated)
	require.Len(t, cat.Sets(), 3)

	ea, ok := cat.Set(SetEmailAddresses)
	require.True(t, ok)
	assert.True(t, ea.IsReadOnly)
	assert.True(t, ea.IsSystemDefined)
	assert.False(t, ea.IsHidden)
	assert.False(t, ea.CanAddValues)
	assert.True(t, ea.CanChangeValues)
	listID, _ := cat.Lookup("Email Addresses.List ID")
	assert.Equal(t, AttributeDefinition{DataType: "Number", IsPrimaryKey: true, IsHidden: true, IsReadOnly: true, IsSystemDefined: true},
		AttributeDefinition{DataType: listID.DataType, IsPrimaryKey: listID.IsPrimaryKey, IsHidden: listID.IsHidden, IsReadOnly: listID.IsReadOnly,
			IsSystemDefined: listID.IsSystemDefined, IsUpdateable: listID.IsUpdateable, IsNullable: listID.IsNullable})
	email, _ := cat.Lookup("Email Addresses.Email Address")
	assert.Equal(t, "EmailAddress", email.DataType)
	assert.Zero(t, email.Length, "Email Address has no length")
	assert.True(t, email.IsPrimaryKey)
	assert.False(t, email.IsUpdateable)
	cid, _ := cat.Lookup("Email Demographics.Contacts ID")
	assert.Equal(t, "LongNumber", cid.DataType)
	assert.True(t, cid.IsPrimaryKey && cid.IsSystemDefined)
	notes, _ := cat.Lookup("Email Demographics.Notes")
	assert.Equal(t, -1, notes.Length)
	bal, _ := cat.Lookup("Email Demographics.Balance")
	assert.Equal(t, [2]int{18, 2}, [2]int{bal.Length, bal.Scale})

	var targets []string
	for _, tg := range cat.Targets() {
		targets = append(targets, tg.String())
	}
	assert.Equal(t, []string{
		"Email Addresses.Email Address", "Email Addresses.HTML Enabled",
		"Email Demographics.First Name", "Email Demographics.Last Name", "Email Demographics.City", "Email Demographics.Notes",
		"Email Demographics.Balance", "Email Demographics.Birthday", "Email Demographics.Mobile Phone", "Email Demographics.Newsletter",
		"Email Demographics.Tier", "Email Demographics.Points", "Email Demographics.salesforce_mc_segment_1",
	}, targets, "Contacts ID, List ID and Member ID are left out")

	err = ValidateTargets(cat, []string{"Email Demographics.Contacts ID", "Email Addresses.Member ID"})
	assert.ErrorContains(t, err, "Email Demographics.Contacts ID is the set's system primary key")
	assert.ErrorContains(t, err, "Email Addresses.Member ID is the set's system primary key")

	// A mapping onto every data type, values checked before sending.
	m := &Mapping{Identity: "key",
		Attributes: []AttributeMapping{
			{Source: "email", Target: "Email Addresses.Email Address"},
			{Source: "first", Target: "Email Demographics.First Name"},
			{Source: "balance", Target: "Email Demographics.Balance"},
			{Source: "born", Target: "Email Demographics.Birthday"},
			{Source: "phone", Target: "Email Demographics.Mobile Phone"},
			{Source: "news", Target: "Email Demographics.Newsletter"},
			{Source: "tier", Target: "Email Demographics.Tier"},
			{Source: "points", Target: "Email Demographics.Points"},
		},
		Constants: map[string]any{"Email Addresses.HTML Enabled": true},
		Segments:  []SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}},
	}
	pm, err := m.Compile(cat)
	require.NoError(t, err)
	assert.Empty(t, m.Warnings(cat))
	prof, err := DecodeProfile([]byte(`{"key":"K","email":"ann@example.com","first":"Ann","balance":12.5,"born":"1990-04-01","phone":"+1 317 531 5555","news":true,"tier":3,"points":1200}`))
	require.NoError(t, err)
	ct, _, err := pm.Map(prof)
	require.NoError(t, err)
	assert.Len(t, ct.Attributes, 9)
	for _, bad := range []string{`"first":"` + strings.Repeat("x", 51) + `"`, `"points":1.5`, `"tier":256`, `"born":"01.04.1990"`, `"news":"yes"`, `"email":""`} {
		prof, err := DecodeProfile([]byte(`{"key":"K","email":"ann@example.com",` + bad + `}`))
		require.NoError(t, err)
		_, _, err = pm.Map(prof)
		var re *RecordError
		assert.ErrorAs(t, err, &re, bad)
	}
}

func TestReplaySetsWithoutAttributes(t *testing.T) {
	t.Parallel()
	for _, read := range []string{"FirstPage", "Catalog"} {
		t.Run(read, func(t *testing.T) {
			t.Parallel()
			c, mt := replayClient(t, "token.json")
			var lists, gets atomic.Int64
			mt.RegisterResponder(http.MethodGet, replayRESTURL+"/contacts/v1/attributeSetDefinitions", replayResponder(t, "sets_without_attributes.json", &lists))
			var page struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			require.NoError(t, json.Unmarshal(loadReplay(t, "sets_without_attributes.json").Body, &page))
			require.Len(t, page.Items, 2)
			for i, f := range []string{"set_email_addresses.json", "set_email_demographics.json"} {
				mt.RegisterResponder(http.MethodGet, replayRESTURL+"/contacts/v1/attributeSetDefinitions/"+page.Items[i].ID, replayResponder(t, f, &gets))
			}
			p, err := c.AttributeSets.List(context.Background(), nil)
			require.NoError(t, err)
			for _, d := range p.Items {
				assert.True(t, d.AttributesOmitted)
			}
			fn := c.AttributeSets.Catalog
			if read == "FirstPage" {
				fn = c.AttributeSets.FirstPage
			}
			cat, err := fn(context.Background())
			require.NoError(t, err)
			assert.Equal(t, int64(2), lists.Load())
			assert.Equal(t, int64(2), gets.Load())
			m := &Mapping{Identity: "key",
				Attributes: []AttributeMapping{{Source: "email", Target: "Email Addresses.Email Address"}, {Source: "first", Target: "Email Demographics.First Name"}},
				Constants:  map[string]any{"Email Addresses.HTML Enabled": true},
				Segments:   []SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}},
			}
			require.NoError(t, m.Validate(cat), "a tenant whose list omits attributes works")
		})
	}
}
