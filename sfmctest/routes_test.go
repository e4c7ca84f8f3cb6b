package sfmctest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListDefinitionsPagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      []ServerOption
		query     string
		wantPage  int
		wantSize  int
		wantCount int
		wantNames []string
		wantNext  bool
	}{
		{"defaults", nil, "", 1, 50, 2, []string{"Email Addresses", "Email Demographics"}, false},
		{"page size 1 page 2", nil, "?$page=2&$pageSize=1", 2, 1, 2, []string{"Email Demographics"}, false},
		{"page size 1 page 1 has next", nil, "?$page=1&$pageSize=1", 1, 1, 2, []string{"Email Addresses"}, true},
		{"beyond the end", nil, "?$page=3&$pageSize=1", 3, 1, 2, []string{}, false},
		{"far beyond the end", nil, "?$page=9223372036854775807&$pageSize=2000", 9223372036854775807, 2000, 2, []string{}, false},
		{"exact multiple", []ServerOption{WithLeadingSets(2)}, "?$page=2&$pageSize=2", 2, 2, 4,
			[]string{"Email Addresses", "Email Demographics"}, false},
		{"exact multiple next page empty", []ServerOption{WithLeadingSets(2)}, "?$page=3&$pageSize=2", 3, 2, 4, []string{}, false},
		{"leading sets push demographics off page one", []ServerOption{WithLeadingSets(3)}, "?$pageSize=3", 1, 3, 5,
			[]string{"Filler Set 0001", "Filler Set 0002", "Filler Set 0003"}, true},
		{"size above cap", []ServerOption{WithPageSizeCap(1)}, "?$pageSize=5000", 1, 1, 2, []string{"Email Addresses"}, true},
		{"default cap", nil, "?$pageSize=5000", 1, 2000, 2, []string{"Email Addresses", "Email Demographics"}, false},
		{"case-insensitive names", nil, "?$Page=2&$pagesize=1", 2, 1, 2, []string{"Email Demographics"}, false},
		{"custom set last", []ServerOption{WithAttributes("Custom", Attribute{Name: "A"})}, "?$page=3&$pageSize=1", 3, 1, 3, []string{"Custom"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tt.opts...)
			status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions"+tt.query, token(t, s), nil)
			require.Equal(t, 200, status, "%s", body)
			m := decode(t, body)
			assert.Equal(t, float64(tt.wantPage), m["page"])
			assert.Equal(t, float64(tt.wantSize), m["pageSize"])
			assert.Equal(t, float64(tt.wantCount), m["count"])
			names := []string{}
			for _, it := range m["items"].([]any) {
				names = append(names, it.(map[string]any)["name"].(map[string]any)["value"].(string))
			}
			assert.Equal(t, tt.wantNames, names)
			links := m["links"].(map[string]any)
			assert.Contains(t, links, "self")
			_, hasNext := links["next"]
			assert.Equal(t, tt.wantNext, hasNext)
			assert.Equal(t, []any{}, m["resultMessages"])
			assert.NotEmpty(t, m["requestServiceMessageID"])
		})
	}
}

func TestListDefinitionsBadParams(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	for _, q := range []string{"?$page=0", "?$page=-1", "?$page=x", "?$pageSize=0", "?$pageSize=abc", "?$pageSize=1.5", "?$page=%zz"} {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions"+q, tok, nil)
			require.Equal(t, 400, status)
			assert.Equal(t, float64(10005), decode(t, body)["errorcode"])
		})
	}
	status, body := do(t, http.MethodPost, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, "{}")
	require.Equal(t, 400, status)
	assert.Equal(t, float64(30001), decode(t, body)["errorcode"])
}

func TestDefinitionShape(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.AddAttribute("Email Demographics", Attribute{Name: "Segment One", DataType: "Text", Length: 20, IsHidden: true, IsReadOnly: true})
	tok := token(t, s)
	status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	items := decode(t, body)["items"].([]any)
	require.Len(t, items, 2)
	ea := items[0].(map[string]any)
	assert.Equal(t, "EmailAddresses", ea["key"])
	assert.Equal(t, "Email Addresses", ea["fullyQualifiedName"])
	assert.Equal(t, true, ea["isSystemDefined"])
	assert.Equal(t, true, ea["isReadOnly"], "Email Addresses is read-only at set level, as on real tenants")
	for _, k := range []string{"isHidden", "canAddValues", "canChangeValues"} {
		assert.Contains(t, ea, k)
	}
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, ea["id"])
	attrs := ea["attributes"].([]any)
	require.Len(t, attrs, 4)
	flags := func(a map[string]any) map[string]any {
		out := map[string]any{}
		for _, k := range []string{"dataType", "isPrimaryKey", "isSystemDefined", "isHidden", "isReadOnly", "isUpdateable", "isNullable"} {
			out[k] = a[k]
		}
		return out
	}
	for _, name := range []string{"List ID", "Member ID"} {
		a := attrs[map[string]int{"List ID": 0, "Member ID": 1}[name]].(map[string]any)
		assert.Equal(t, map[string]any{"value": name}, a["name"])
		assert.Equal(t, map[string]any{"dataType": "Number", "isPrimaryKey": true, "isSystemDefined": true, "isHidden": true,
			"isReadOnly": true, "isUpdateable": false, "isNullable": false}, flags(a), name)
	}
	email := attrs[2].(map[string]any)
	assert.Equal(t, map[string]any{"value": "Email Address"}, email["name"])
	assert.Equal(t, "EmailAddress", email["key"])
	assert.Equal(t, map[string]any{"dataType": "EmailAddress", "isPrimaryKey": true, "isSystemDefined": true, "isHidden": false,
		"isReadOnly": false, "isUpdateable": false, "isNullable": false}, flags(email))
	assert.NotContains(t, email, "length", "Email Address has no length")
	assert.Equal(t, "Email Addresses.Email Address", email["fullyQualifiedName"])
	assert.Equal(t, ea["id"], email["parentId"])
	assert.Equal(t, float64(3), email["displayOrder"])
	html := attrs[3].(map[string]any)
	assert.Equal(t, map[string]any{"dataType": "Boolean", "isPrimaryKey": false, "isSystemDefined": true, "isHidden": false,
		"isReadOnly": false, "isUpdateable": true, "isNullable": true}, flags(html))
	assert.NotContains(t, html, "length", "length omitted when 0")

	demo := items[1].(map[string]any)
	assert.Equal(t, false, demo["isReadOnly"])
	assert.Equal(t, true, demo["canAddValues"])
	dattrs := demo["attributes"].([]any)
	require.Len(t, dattrs, 4)
	cid := dattrs[0].(map[string]any)
	assert.Equal(t, map[string]any{"value": "Contacts ID"}, cid["name"])
	assert.Equal(t, map[string]any{"dataType": "LongNumber", "isPrimaryKey": true, "isSystemDefined": true, "isHidden": false,
		"isReadOnly": false, "isUpdateable": false, "isNullable": false}, flags(cid))
	first := dattrs[1].(map[string]any)
	assert.Equal(t, false, first["isSystemDefined"])
	seg := dattrs[3].(map[string]any)
	assert.Equal(t, "Email Demographics.Segment One", seg["fullyQualifiedName"])
	assert.Equal(t, float64(20), seg["length"])
	assert.Equal(t, true, seg["isHidden"])
	assert.Equal(t, true, seg["isReadOnly"])
	assert.Equal(t, false, seg["isUpdateable"])
	assert.Equal(t, float64(4), seg["displayOrder"])

	// By id.
	status, body = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions/"+demo["id"].(string), tok, nil)
	require.Equal(t, 200, status)
	item := decode(t, body)["item"].(map[string]any)
	assert.Equal(t, demo, item)

	status, body = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions/00000000-0000-0000-0000-000000000000", tok, nil)
	require.Equal(t, 404, status)
	assert.Equal(t, float64(30003), decode(t, body)["errorcode"])
}

func TestEmailSearch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	for i, e := range []string{"Ann@Example.com", "ann@example.com", "bob@example.com"} {
		status, _ := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody(fmt.Sprint("K", i),
			map[string]map[string]any{"Email Addresses": {"Email Address": e}}))
		require.Equal(t, 200, status)
	}
	url := s.URL() + "/contacts/v1/addresses/email/search"
	tests := []struct {
		name string
		body string
		want map[string][]string
	}{
		{"camel default max 1", `{"channelAddressList":["ANN@example.com","none@example.com"]}`,
			map[string][]string{"ANN@example.com": {"K0"}, "none@example.com": {}}},
		{"pascal max 5", `{"ChannelAddressList":["ann@example.com","bob@example.com"],"MaximumCount":5}`,
			map[string][]string{"ann@example.com": {"K0", "K1"}, "bob@example.com": {"K2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := do(t, http.MethodPost, url, tok, tt.body)
			require.Equal(t, 200, status, "%s", body)
			got := map[string][]string{}
			for _, e := range decode(t, body)["channelAddressResponseEntities"].([]any) {
				em := e.(map[string]any)
				keys := []string{}
				for _, d := range em["contactKeyDetails"].([]any) {
					dm := d.(map[string]any)
					keys = append(keys, dm["contactKey"].(string))
					assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`, dm["createDate"])
				}
				got[em["channelAddress"].(string)] = keys
			}
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []struct {
		body string
		code float64
	}{{`{}`, 10002}, {`{"channelAddressList":[]}`, 10002}, {`{"channelAddressList":["a"],"maximumCount":0}`, 10005}, {`[`, 10003}} {
		status, body := do(t, http.MethodPost, url, tok, bad.body)
		require.Equal(t, 400, status)
		assert.Equal(t, bad.code, decode(t, body)["errorcode"])
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	for _, k := range []string{"A", "B", "C"} {
		status, _ := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody(k, nil))
		require.Equal(t, 200, status)
	}
	status, body := do(t, http.MethodPost, s.URL()+"/contacts/v1/contacts/actions/delete?type=keys", tok,
		`{"values":["A","C","missing"],"DeleteOperationType":"ContactAndAttributes"}`)
	require.Equal(t, 200, status, "%s", body)
	m := decode(t, body)
	assert.Equal(t, true, m["operationInitiated"])
	assert.Equal(t, float64(1), m["operationID"])
	all := s.Contacts()
	require.Len(t, all, 1)
	assert.Equal(t, "B", all[0].Key)

	status, body = do(t, http.MethodPost, s.URL()+"/contacts/v1/contacts/actions/delete?type=ids", tok,
		`{"values":[2],"deleteOperationType":"ContactAndAttributes"}`)
	require.Equal(t, 200, status, "%s", body)
	assert.Equal(t, float64(2), decode(t, body)["operationID"])
	assert.Empty(t, s.Contacts())

	status, body = do(t, http.MethodGet, s.URL()+"/contacts/v1/contacts/actions/delete/status?operationID=1", tok, nil)
	require.Equal(t, 200, status)
	op := decode(t, body)["operation"].(map[string]any)
	assert.Equal(t, float64(1), op["operationID"])
	assert.Equal(t, "Completed", op["status"])
	assert.Equal(t, "ContactAndAttributes", op["deleteType"])

	status, body = do(t, http.MethodGet, s.URL()+"/contacts/v1/contacts/actions/delete/status?operationID=99", tok, nil)
	require.Equal(t, 404, status)
	assert.Equal(t, float64(30003), decode(t, body)["errorcode"])

	for _, bad := range []struct {
		method, path, body string
		status             int
		code               float64
	}{
		{"POST", "/contacts/v1/contacts/actions/delete?type=keys", `{"values":[],"DeleteOperationType":"ContactAndAttributes"}`, 400, 10002},
		{"POST", "/contacts/v1/contacts/actions/delete?type=keys", `{"values":["A"]}`, 400, 10002},
		{"POST", "/contacts/v1/contacts/actions/delete?type=keys", `{"values":["A"],"DeleteOperationType":"AttributesOnly"}`, 400, 10005},
		{"POST", "/contacts/v1/contacts/actions/delete?type=keys", `{"values":[1],"DeleteOperationType":"ContactAndAttributes"}`, 400, 10001},
		{"POST", "/contacts/v1/contacts/actions/delete?type=ids", `{"values":["x"],"DeleteOperationType":"ContactAndAttributes"}`, 400, 10001},
		{"POST", "/contacts/v1/contacts/actions/delete?type=other", `{}`, 400, 10005},
		{"POST", "/contacts/v1/contacts/actions/delete?type=keys", `{`, 400, 10003},
		{"GET", "/contacts/v1/contacts/actions/delete/status", ``, 400, 10005},
		{"GET", "/contacts/v1/contacts/actions/delete/status?operationID=x", ``, 400, 10005},
		{"GET", "/contacts/v1/contacts/actions/delete", ``, 400, 30001},
	} {
		status, body := do(t, bad.method, s.URL()+bad.path, tok, bad.body)
		require.Equal(t, bad.status, status, "%s %s", bad.path, body)
		assert.Equal(t, bad.code, decode(t, body)["errorcode"], bad.path)
	}
}

func TestDefinitionLengthsAndScale(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithAttributes("Email Demographics",
		Attribute{Name: "Notes", DataType: "Text", Length: -1},
		Attribute{Name: "Odd", DataType: "Text", Length: -7},
		Attribute{Name: "Balance", DataType: "Decimal", Length: 18, Scale: 2}))
	tok := token(t, s)
	status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	byName := map[string]map[string]any{}
	for _, it := range decode(t, body)["items"].([]any) {
		for _, a := range it.(map[string]any)["attributes"].([]any) {
			m := a.(map[string]any)
			byName[m["fullyQualifiedName"].(string)] = m
		}
	}
	assert.Equal(t, float64(-1), byName["Email Demographics.Notes"]["length"], "-1 (unlimited) is reported as real tenants do")
	assert.Equal(t, float64(-1), byName["Email Demographics.Odd"]["length"])
	assert.Equal(t, float64(18), byName["Email Demographics.Balance"]["length"])
	assert.Equal(t, float64(2), byName["Email Demographics.Balance"]["scale"])
	assert.NotContains(t, byName["Email Demographics.Notes"], "scale")
}

func TestListWithoutAttributes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithListWithoutAttributes())
	tok := token(t, s)
	status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	items := decode(t, body)["items"].([]any)
	require.Len(t, items, 2)
	for _, it := range items {
		assert.NotContains(t, it.(map[string]any), "attributes")
	}
	status, body = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions/"+items[1].(map[string]any)["id"].(string), tok, nil)
	require.Equal(t, 200, status)
	item := decode(t, body)["item"].(map[string]any)
	assert.Equal(t, "Email Demographics", item["fullyQualifiedName"])
	assert.Len(t, item["attributes"].([]any), 3, "get by id still has the attributes")
}
