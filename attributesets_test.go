package sfmc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const officialListPage = `{
  "page": 1, "pageSize": 50, "count": 1,
  "items": [{
    "id": "043e290e-01ad-e611-80d5-1402ec6b95bc", "key": "MobileSubscriptions",
    "name": {"value": "MobileConnect Subscriptions"}, "fullyQualifiedName": "MobileConnect Subscriptions",
    "storageLogicalType": "DataExtension", "isRoot": false, "isSendable": false, "categoryID": 639167,
    "isShared": false, "isEvent": false, "relationships": [],
    "attributes": [{
      "id": "15052214-01ad-e611-80d5-1402ec6b95bc", "key": "SubscriptionDefinitionID",
      "name": {"value": "Keyword"}, "storageName": "_SubscriptionDefinitionID", "dataType": "Text",
      "isPrimaryKey": true, "isNullable": false, "isReadOnly": false, "displayOrder": 3, "ranges": [],
      "description": "", "length": 200, "dataSourceID": 3,
      "fullyQualifiedName": "MobileConnect Subscriptions.Keyword", "parentId": "043e290e-01ad-e611-80d5-1402ec6b95bc",
      "isSystemDefined": true, "isIdentityValue": false, "isHidden": false, "isUpdateable": false,
      "parentType": "Set", "dataSourceName": {}, "links": {}, "objectState": "Created"
    }],
    "canAddValues": false, "isSystemDefined": true, "canRemove": false, "canModify": false, "isReadOnly": false,
    "applicationID": "e25893f9-08f3-480f-8def-7f8ab0583611", "applicationKey": "com.exacttarget.mobileconnect",
    "links": {}, "objectState": "Created"
  }],
  "links": {"self": {"href": "/v1/attributeSetDefinitions"}},
  "requestServiceMessageID": "c9ff", "resultMessages": [], "serviceMessageID": "2099"
}`

func TestListDecodesOfficialShape(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var q string
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		q = r.URL.RawQuery
		return httpmock.NewStringResponse(200, officialListPage), nil
	})
	p, err := c.AttributeSets.List(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, q, "nil options leave the page to SFMC")
	assert.Equal(t, 1, p.Page)
	assert.Equal(t, 50, p.PageSize)
	assert.Equal(t, 1, p.Count)
	require.Len(t, p.Items, 1)
	want := &AttributeSetDefinition{
		ID: "043e290e-01ad-e611-80d5-1402ec6b95bc", Key: "MobileSubscriptions", Name: "MobileConnect Subscriptions",
		FullyQualifiedName: "MobileConnect Subscriptions", StorageLogicalType: "DataExtension", CategoryID: 639167,
		IsSystemDefined: true, ApplicationID: "e25893f9-08f3-480f-8def-7f8ab0583611", ApplicationKey: "com.exacttarget.mobileconnect",
		Attributes: []*AttributeDefinition{{
			ID: "15052214-01ad-e611-80d5-1402ec6b95bc", Key: "SubscriptionDefinitionID", Name: "Keyword",
			FullyQualifiedName: "MobileConnect Subscriptions.Keyword", DataType: "Text", StorageName: "_SubscriptionDefinitionID",
			Length: 200, IsPrimaryKey: true, IsSystemDefined: true, DisplayOrder: 3,
		}},
	}
	assert.Equal(t, want, p.Items[0])
}

func TestListOptions(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var got []string
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.Query().Get("$page")+"/"+r.URL.Query().Get("$pageSize"))
		return httpmock.NewStringResponse(200, `{"page":3,"pageSize":10,"count":0,"items":[]}`), nil
	})
	ctx := context.Background()
	_, err := c.AttributeSets.List(ctx, &ListOptions{Page: 3, PageSize: 10})
	require.NoError(t, err)
	_, err = c.AttributeSets.List(ctx, &ListOptions{PageSize: 7})
	require.NoError(t, err)
	assert.Equal(t, []string{"3/10", "/7"}, got)
	for _, o := range []ListOptions{{Page: -1}, {PageSize: -5}} {
		_, err = c.AttributeSets.List(ctx, &o)
		assert.ErrorContains(t, err, "negative")
	}
	assert.Len(t, got, 2, "negative options send nothing")
}

func TestGet(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var path string
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		path = r.URL.EscapedPath()
		if strings.HasSuffix(path, "missing") {
			return httpmock.NewStringResponse(404, `{"message":"Not found","errorcode":30003}`), nil
		}
		return httpmock.NewStringResponse(200, `{"item":{"id":"fab8","key":"Contact","name":{"value":"Contact"},"fullyQualifiedName":"Contact","attributes":[{"id":"497b","key":"ContactKey","name":{"value":"Contact Key"},"dataType":"Text"}]}}`), nil
	})
	ctx := context.Background()
	d, err := c.AttributeSets.Get(ctx, "a/b c")
	require.NoError(t, err)
	assert.Equal(t, "/contacts/v1/attributeSetDefinitions/a%2Fb%20c", path)
	assert.Equal(t, "Contact", d.Name)
	require.Len(t, d.Attributes, 1)
	assert.Equal(t, "Contact Key", d.Attributes[0].Name)
	a, ok := d.Attribute("Contact Key")
	assert.True(t, ok)
	assert.Equal(t, "497b", a.ID)

	_, err = c.AttributeSets.Get(ctx, "missing")
	assert.ErrorIs(t, err, ErrNotFound)

	before := mt.GetTotalCallCount()
	_, err = c.AttributeSets.Get(ctx, "")
	assert.ErrorContains(t, err, "empty attribute set id")
	assert.Equal(t, before, mt.GetTotalCallCount())
}

// pagedSets serves total sets named "Set N" in pages, honouring $page and
// $pageSize; failAt>0 makes that page answer 500. It counts REST calls.
func pagedSets(t *testing.T, mt *httpmock.MockTransport, total, failAt int, count func(total int) int) *atomic.Int64 {
	var calls atomic.Int64
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("$page"))
		size, _ := strconv.Atoi(r.URL.Query().Get("$pageSize"))
		if page == failAt {
			return httpmock.NewStringResponse(500, `{"message":"boom"}`), nil
		}
		type set struct {
			ID         string            `json:"id"`
			Name       map[string]string `json:"name"`
			Attributes []struct{}        `json:"attributes"`
		}
		items := []set{}
		for i := (page - 1) * size; i < page*size && i < total; i++ {
			items = append(items, set{ID: strconv.Itoa(i), Name: map[string]string{"value": "Set " + strconv.Itoa(i)}, Attributes: []struct{}{}})
		}
		b, err := json.Marshal(map[string]any{"page": page, "pageSize": size, "count": count(total), "items": items})
		require.NoError(t, err)
		return httpmock.NewBytesResponse(200, b), nil
	})
	return &calls
}

func exact(total int) int { return total }

func TestAllPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		total     int
		pageSize  int
		count     func(int) int
		wantCalls int64
	}{
		{"short last page", 5, 2, exact, 3},
		{"exact multiple stops on count", 6, 2, exact, 3},
		{"exact multiple without count needs an empty page", 6, 2, func(int) int { return 0 }, 4},
		{"empty", 0, 2, exact, 1},
		{"one short page", 1, 2000, exact, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			calls := pagedSets(t, mt, tt.total, 0, tt.count)
			var names []string
			for d, err := range c.AttributeSets.All(context.Background(), &ListOptions{PageSize: tt.pageSize}) {
				require.NoError(t, err)
				names = append(names, d.Name)
			}
			require.Len(t, names, tt.total)
			for i, n := range names {
				assert.Equal(t, "Set "+strconv.Itoa(i), n)
			}
			assert.Equal(t, tt.wantCalls, calls.Load())
		})
	}
}

func TestAllStartPageAndDefaultSize(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var sizes []string
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		sizes = append(sizes, r.URL.Query().Get("$page")+"/"+r.URL.Query().Get("$pageSize"))
		return httpmock.NewStringResponse(200, `{"items":[{"name":{"value":"A"}}]}`), nil
	})
	n := 0
	for _, err := range c.AttributeSets.All(context.Background(), &ListOptions{Page: 4}) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{"4/" + strconv.Itoa(CatalogPageSize)}, sizes)
}

func TestAllEarlyBreak(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	calls := pagedSets(t, mt, 10, 0, exact)
	n := 0
	for d, err := range c.AttributeSets.All(context.Background(), &ListOptions{PageSize: 2}) {
		require.NoError(t, err)
		n++
		if d.Name == "Set 2" {
			break
		}
	}
	assert.Equal(t, 3, n)
	assert.Equal(t, int64(2), calls.Load(), "no page is read after the break")
}

func TestAllErrorMidwayYieldsOnce(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	calls := pagedSets(t, mt, 10, 2, exact)
	var names []string
	var errs []error
	for d, err := range c.AttributeSets.All(context.Background(), &ListOptions{PageSize: 3}) {
		if err != nil {
			assert.Nil(t, d)
			errs = append(errs, err)
			continue // the iterator must stop by itself
		}
		names = append(names, d.Name)
	}
	assert.Equal(t, []string{"Set 0", "Set 1", "Set 2"}, names)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrServer)
	assert.GreaterOrEqual(t, calls.Load(), int64(2))
}

func TestAllNegativeOptions(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	n := 0
	for d, err := range c.AttributeSets.All(context.Background(), &ListOptions{Page: -1}) {
		assert.Nil(t, d)
		assert.ErrorContains(t, err, "negative")
		n++
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestFirstPageTruncation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		truncated bool
		sets      int
	}{
		{"count above items", `{"page":1,"pageSize":2000,"count":2500,"items":[{"name":{"value":"A"}}]}`, true, 1},
		{"complete", `{"page":1,"pageSize":2000,"count":1,"items":[{"name":{"value":"A"}}]}`, false, 1},
		{"empty", `{"page":1,"pageSize":2000,"count":0,"items":[]}`, false, 0},
		{"full page (server capped at 2)", `{"page":1,"pageSize":2,"items":[{"name":{"value":"A"}},{"name":{"value":"B"}}]}`, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			var q string
			mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
				q = r.URL.Query().Get("$page") + "/" + r.URL.Query().Get("$pageSize")
				return httpmock.NewStringResponse(200, tt.body), nil
			})
			cat, err := c.AttributeSets.FirstPage(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "1/2000", q)
			assert.Equal(t, tt.truncated, cat.Truncated)
			assert.Len(t, cat.Sets(), tt.sets)
		})
	}
}

func TestCatalogReadsEveryPage(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	// The server caps the page size at 3 whatever is asked.
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", func(r *http.Request) (*http.Response, error) {
		page, _ := strconv.Atoi(r.URL.Query().Get("$page"))
		var items []string
		for i := (page - 1) * 3; i < page*3 && i < 7; i++ {
			items = append(items, fmt.Sprintf(`{"name":{"value":"Set %d"}}`, i))
		}
		return httpmock.NewStringResponse(200, fmt.Sprintf(`{"page":%d,"pageSize":3,"count":7,"items":[%s]}`, page, strings.Join(items, ","))), nil
	})
	cat, err := c.AttributeSets.Catalog(context.Background())
	require.NoError(t, err)
	assert.False(t, cat.Truncated)
	assert.Len(t, cat.Sets(), 7)
	_, ok := cat.Set("Set 6")
	assert.True(t, ok)
}

func TestCatalogError(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/attributeSetDefinitions", httpmock.NewStringResponder(403, `{"message":"Insufficient privileges","errorcode":20002}`))
	cat, err := c.AttributeSets.Catalog(context.Background())
	assert.Nil(t, cat)
	assert.ErrorIs(t, err, ErrForbidden)
}

// testCatalog is a small tenant: Email Addresses, Email Demographics (with a
// dotted attribute name and segment attributes), and a set whose name is a
// prefix of another.
func testCatalog(truncated bool) *Catalog {
	return NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, Attributes: []*AttributeDefinition{
			{Name: "HTML Enabled", DataType: "Boolean", DisplayOrder: 2},
			{Name: AttrEmailAddress, DataType: "EmailAddress", Length: 254, DisplayOrder: 1},
		}},
		{Name: SetEmailDemographics, Attributes: []*AttributeDefinition{
			{Name: "Last Name", DataType: "Text", Length: 100, DisplayOrder: 2},
			{Name: "First Name", DataType: "Text", Length: 10, DisplayOrder: 1},
			{Name: "v1.2 Score", DataType: "Decimal", Length: 18, Scale: 2, DisplayOrder: 3},
			{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 4000, DisplayOrder: 4},
			{Name: "Segment_Two", DataType: "Text", Length: 50, DisplayOrder: 4},
			{Name: "short_seg", DataType: "Text", Length: 5, DisplayOrder: 5},
			{Name: "num_seg", DataType: "Number", DisplayOrder: 6},
			{Name: "unlimited_seg", DataType: "Text", DisplayOrder: 7},
		}},
		{Name: "Email", Attributes: []*AttributeDefinition{{Name: "Demographics.Trap", DataType: "Text"}}},
		{Name: "MobileConnect Demographics", Attributes: []*AttributeDefinition{{Name: "Mobile Number", DataType: "Phone"}}},
		nil,
	}, truncated)
}

func TestCatalogLookup(t *testing.T) {
	t.Parallel()
	cat := testCatalog(false)
	tests := []struct {
		target string
		ok     bool
		typ    string
	}{
		{"Email Demographics.First Name", true, "Text"},
		{"Email Demographics.v1.2 Score", true, "Decimal"},
		{"Email.Demographics.Trap", true, "Text"},
		{"Email Addresses.Email Address", true, "EmailAddress"},
		{"email demographics.First Name", false, ""},
		{"Email Demographics.first name", false, ""},
		{"Email Demographics", false, ""},
		{"Nope.First Name", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		a, ok := cat.Lookup(tt.target)
		assert.Equal(t, tt.ok, ok, tt.target)
		if ok {
			assert.Equal(t, tt.typ, a.DataType, tt.target)
		}
	}
	s, ok := cat.Set(SetEmailDemographics)
	require.True(t, ok)
	assert.Len(t, s.Attributes, 8)
	_, ok = cat.Set("email demographics")
	assert.False(t, ok)
	assert.Len(t, cat.Sets(), 4, "nil entries are dropped")
	cat.Sets()[0] = nil
	assert.NotNil(t, cat.Sets()[0], "Sets returns a copy")
}

func TestCatalogTargets(t *testing.T) {
	t.Parallel()
	got := testCatalog(false).Targets()
	var names []string
	for _, tg := range got {
		names = append(names, tg.String())
	}
	assert.Equal(t, []string{
		"Email Addresses.Email Address",
		"Email Addresses.HTML Enabled",
		"Email Demographics.First Name",
		"Email Demographics.Last Name",
		"Email Demographics.v1.2 Score",
		"Email Demographics.Segment_Two",
		"Email Demographics.salesforce_mc_segment_1",
		"Email Demographics.short_seg",
		"Email Demographics.num_seg",
		"Email Demographics.unlimited_seg",
	}, names)
	assert.Equal(t, Target{Set: SetEmailDemographics, Name: "First Name", DataType: "Text", Length: 10}, got[2])
	assert.Empty(t, NewCatalog(nil, false).Targets())
}

func TestCatalogNearMisses(t *testing.T) {
	t.Parallel()
	cat := testCatalog(false)
	assert.Equal(t, []string{"Email Demographics.First Name"}, cat.NearMisses("email demographics.first_name"))
	assert.Equal(t, []string{"Email Demographics.Segment_Two"}, cat.NearMisses("Email Demographics.segment two"))
	assert.Empty(t, cat.NearMisses("Email Demographics.First Name"), "the exact name is not a near miss")
	assert.Empty(t, cat.NearMisses("Email Demographics.Middle Name"))
}
