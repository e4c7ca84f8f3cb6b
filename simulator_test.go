package sfmc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// The tests below run the services against the sfmctest simulator, end to
// end over loopback.

// simClient starts a simulator and a client of it whose pace starts at a
// ceiling far above what the tests send, instead of in slow start.
func simClient(t *testing.T, opts ...sfmctest.ServerOption) (*sfmc.Client, *sfmctest.Server) {
	t.Helper()
	srv := sfmctest.NewServer(opts...)
	t.Cleanup(srv.Close)
	client, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithRateLimit(1e5, 100))...)
	require.NoError(t, err)
	return client, srv
}

func TestSimulatorContacts(t *testing.T) {
	t.Parallel()
	client, srv := simClient(t, sfmctest.WithAttributes("Email Demographics",
		sfmctest.Attribute{Name: "Score", DataType: "Decimal", Length: 18, Scale: 2},
		sfmctest.Attribute{Name: "seg_1", DataType: "Text", Length: 8}))
	ctx := context.Background()

	c := sfmc.Contact{Key: "K-1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: "ann@example.com"},
		{Set: "Email Addresses", Name: "HTML Enabled", Value: true},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann \"the\" <Admin>"},
		{Set: "Email Demographics", Name: "Score", Value: 12.5},
		{Set: "Email Demographics", Name: "seg_1", Value: "realized"},
	}}
	res, err := client.Contacts.Upsert(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, "OK", res.OperationStatus)
	assert.Equal(t, "K-1", res.ContactKey)
	assert.NotZero(t, res.ContactID)
	stored, ok := srv.Contact("K-1")
	require.True(t, ok)
	assert.Equal(t, "Ann \"the\" <Admin>", stored.Sets["Email Demographics"]["First Name"])
	assert.Equal(t, json.Number("12.5"), stored.Sets["Email Demographics"]["Score"])
	assert.Equal(t, true, stored.Sets["Email Addresses"]["HTML Enabled"])

	// Unknown set and unknown attribute in one request.
	_, err = client.Contacts.Upsert(ctx, sfmc.Contact{Key: "K-1", Attributes: []sfmc.AttributeValue{
		{Set: "Loyalty", Name: "Tier", Value: "gold"},
		{Set: "Email Demographics", Name: "Shoe Size", Value: 42},
	}})
	require.ErrorIs(t, err, sfmc.ErrUnknownAttribute)
	var ce *sfmc.ContactError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []sfmc.AttributeRef{{Set: "Loyalty"}, {Set: "Email Demographics", Name: "Shoe Size"}}, ce.Unknown)
	assert.Contains(t, err.Error(), "Shoe Size")
	assert.Contains(t, err.Error(), "Email Demographics")

	// Too long and wrong type: refused, but not unknown attributes.
	_, err = client.Contacts.Upsert(ctx, sfmc.Contact{Key: "K-1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "seg_1", Value: "much too long"},
		{Set: "Email Demographics", Name: "Score", Value: "high"},
	}})
	require.ErrorAs(t, err, &ce)
	assert.NotErrorIs(t, err, sfmc.ErrUnknownAttribute)
	require.Len(t, ce.Messages, 2)
	assert.Equal(t, "ValueTooLong", ce.Messages[0].Code)
	assert.Equal(t, "InvalidValue", ce.Messages[1].Code)

	// Create on an existing key.
	_, err = client.Contacts.Create(ctx, sfmc.Contact{Key: "K-1", Attributes: c.Attributes[:1]})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ContactKeyExists", ce.Messages[0].Code)
	assert.NotErrorIs(t, err, sfmc.ErrUnknownAttribute)

	keys, err := client.Contacts.SearchByEmail(ctx, []string{"ann@example.com", "nobody@example.com"})
	require.NoError(t, err)
	assert.Equal(t, []string{"K-1"}, keys["ann@example.com"])
	assert.NotContains(t, keys, "nobody@example.com")

	op, err := client.Contacts.Delete(ctx, []string{"K-1"})
	require.NoError(t, err)
	assert.True(t, op.OperationInitiated)
	st, err := client.Contacts.DeleteStatus(ctx, op.OperationID)
	require.NoError(t, err)
	assert.Equal(t, op.OperationID, st.OperationID)
	assert.NotEmpty(t, st.Status)
}

func TestSimulatorCatalogPages(t *testing.T) {
	t.Parallel()
	client, _ := simClient(t,
		sfmctest.WithPageSizeCap(10),
		sfmctest.WithLeadingSets(25),
		sfmctest.WithAttributes("Email Demographics", sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 4000}))
	ctx := context.Background()

	first, err := client.AttributeSets.FirstPage(ctx)
	require.NoError(t, err)
	assert.True(t, first.Truncated)
	assert.Len(t, first.Sets(), 10)
	err = sfmc.ValidateMappings(first, []sfmc.SegmentMapping{{SegmentID: "s1", MappingID: "salesforce_mc_segment_1"}})
	require.ErrorIs(t, err, sfmc.ErrInvalidMapping)
	assert.Contains(t, err.Error(), "later page")

	all, err := client.AttributeSets.Catalog(ctx)
	require.NoError(t, err)
	assert.False(t, all.Truncated)
	assert.Len(t, all.Sets(), 27)
	require.NoError(t, sfmc.ValidateMappings(all, []sfmc.SegmentMapping{{SegmentID: "s1", MappingID: "salesforce_mc_segment_1"}}))
	a, ok := all.Lookup("Email Demographics.First Name")
	require.True(t, ok)
	assert.Equal(t, "Text", a.DataType)
	assert.Equal(t, 100, a.Length)

	set, ok := all.Set("Email Demographics")
	require.True(t, ok)
	got, err := client.AttributeSets.Get(ctx, set.ID)
	require.NoError(t, err)
	assert.Equal(t, "Email Demographics", got.Name)

	n := 0
	for _, err := range client.AttributeSets.All(ctx, &sfmc.ListOptions{PageSize: 7}) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 27, n)
}

// A tenant whose list omits the sets' attributes: FirstPage and Catalog
// read those sets by id, so mappings validate and contacts flow.
func TestSimulatorListWithoutAttributes(t *testing.T) {
	t.Parallel()
	client, srv := simClient(t, sfmctest.WithListWithoutAttributes(), sfmctest.WithLeadingSets(3), sfmctest.WithPageSizeCap(3),
		sfmctest.WithAttributes("Email Demographics", sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 20}))
	ctx := context.Background()
	p, err := client.AttributeSets.List(ctx, &sfmc.ListOptions{Page: 2, PageSize: 3})
	require.NoError(t, err)
	require.NotEmpty(t, p.Items)
	for _, d := range p.Items {
		assert.True(t, d.AttributesOmitted, d.Name)
		assert.Empty(t, d.Attributes, "List returns the sets as listed")
	}

	first, err := client.AttributeSets.FirstPage(ctx)
	require.NoError(t, err)
	assert.True(t, first.Truncated, "FirstPage keeps the one-page semantics")
	assert.Len(t, first.Sets(), 3)
	for _, d := range first.Sets() {
		assert.False(t, d.AttributesOmitted)
		assert.Len(t, d.Attributes, 2, d.Name)
	}
	before := srv.Stats().RESTRequests
	cat, err := client.AttributeSets.Catalog(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2+5), srv.Stats().RESTRequests-before, "two list pages and one get per set")
	m := &sfmc.Mapping{Identity: "k",
		Attributes: []sfmc.AttributeMapping{{Source: "email", Target: "Email Addresses.Email Address"}, {Source: "first", Target: "Email Demographics.First Name"}},
		Constants:  map[string]any{"Email Addresses.HTML Enabled": true},
		Segments:   []sfmc.SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}},
	}
	pm, err := m.Compile(cat)
	require.NoError(t, err)
	assert.Empty(t, m.Warnings(cat))
	prof, err := sfmc.DecodeProfile([]byte(`{"k":"K-1","email":"ann@example.com","first":"Ann","segmentMembership":{"ups":{"seg-1":{"status":"realized"}}}}`))
	require.NoError(t, err)
	c, _, err := pm.Map(prof)
	require.NoError(t, err)
	_, err = client.Contacts.Upsert(ctx, c)
	require.NoError(t, err)
	stored, ok := srv.Contact("K-1")
	require.True(t, ok)
	assert.Equal(t, map[string]map[string]any{
		"Email Addresses":    {"Email Address": "ann@example.com", "HTML Enabled": true},
		"Email Demographics": {"First Name": "Ann", "salesforce_mc_segment_1": "realized"},
	}, stored.Sets)
}

// A tenant answering unknown sets and attributes with HTTP 400 and only
// resultMessages: the client reports a *ContactError that matches
// ErrUnknownAttribute, by code (CustomObjectNotFound) or by text.
func TestSimulatorUnknownAttributeBadRequest(t *testing.T) {
	t.Parallel()
	client, srv := simClient(t, sfmctest.WithUnknownAttributeBadRequest())
	ctx := context.Background()
	_, err := client.Contacts.Upsert(ctx, sfmc.Contact{Key: "K-1", Attributes: []sfmc.AttributeValue{
		{Set: "Loyalty", Name: "Tier", Value: "gold"},
		{Set: "Email Demographics", Name: "Shoe Size", Value: 42},
	}})
	require.ErrorIs(t, err, sfmc.ErrUnknownAttribute)
	var ce *sfmc.ContactError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "K-1", ce.Key)
	assert.Equal(t, []sfmc.AttributeRef{{Set: "Loyalty"}, {Set: "Email Demographics", Name: "Shoe Size"}}, ce.Unknown)
	require.Len(t, ce.Messages, 2)
	assert.Equal(t, "CustomObjectNotFound", ce.Messages[0].Code)
	assert.Equal(t, "Attribute set 'Loyalty' does not exist.", ce.Messages[0].Message)
	var ae *sfmc.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.StatusCode)
	assert.Contains(t, err.Error(), "HTTP 400")
	assert.Contains(t, err.Error(), "Shoe Size")
	assert.Empty(t, srv.Contacts())

	// Through the Upserter: one failure outcome, no retry.
	var outcomes []sfmc.Outcome
	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{Workers: 1, OnResult: func(o sfmc.Outcome) { outcomes = append(outcomes, o) }})
	require.NoError(t, err)
	before := srv.Stats().RESTRequests
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "K-2", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "Shoe Size", Value: 42}}}))
	require.NoError(t, u.Close(ctx))
	require.Len(t, outcomes, 1)
	assert.ErrorIs(t, outcomes[0].Err, sfmc.ErrUnknownAttribute)
	assert.Equal(t, int64(1), srv.Stats().RESTRequests-before, "a refused contact is not retried")
}

// BenchmarkUpsert is one Upsert call after another against the simulator
// on loopback (in this process, so the figures include the server's work).
func BenchmarkUpsert(b *testing.B) {
	srv := sfmctest.NewServer(sfmctest.WithAttributes("Email Demographics",
		sfmctest.Attribute{Name: "salesforce_mc_segment_1"}, sfmctest.Attribute{Name: "salesforce_mc_segment_2"}, sfmctest.Attribute{Name: "salesforce_mc_segment_3"}))
	defer srv.Close()
	// A ceiling far above loopback speed: the pace starts there (the
	// benchmark measures a call, not the slow start from 20/s).
	client, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithRateLimit(1e6, 1000))...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := sfmc.Contact{Key: "K-1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: "ann@example.com"},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
		{Set: "Email Demographics", Name: "Last Name", Value: "O'Neil"},
		{Set: "Email Demographics", Name: "salesforce_mc_segment_1", Value: "realized"},
		{Set: "Email Demographics", Name: "salesforce_mc_segment_2", Value: "existing"},
		{Set: "Email Demographics", Name: "salesforce_mc_segment_3", Value: "exited"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Contacts.Upsert(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
