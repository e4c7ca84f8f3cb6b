package sfmctest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContactWriteOK(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	url := s.URL() + "/contacts/v1/contacts"

	status, body := do(t, http.MethodPatch, url, tok, contactBody("K1", map[string]map[string]any{
		"Email Addresses":    {"Email Address": "a@example.com", "HTML Enabled": true},
		"Email Demographics": {"First Name": "Ann"},
	}))
	require.Equal(t, 200, status)
	m := decode(t, body)
	assert.Equal(t, "OK", m["operationStatus"])
	assert.Equal(t, float64(1), m["rowsAffected"])
	assert.Equal(t, "K1", m["contactKey"])
	assert.Equal(t, float64(1), m["contactID"])
	assert.Equal(t, float64(0), m["contactTypeID"])
	assert.Equal(t, true, m["isNewContactKey"])
	assert.Equal(t, false, m["hasErrors"])
	assert.Equal(t, []any{}, m["resultMessages"])
	assert.NotEmpty(t, m["requestServiceMessageID"])
	assert.NotEmpty(t, m["serviceMessageID"])
	_, err := time.Parse(time.RFC3339Nano, m["responseDateTime"].(string))
	assert.NoError(t, err)

	// Update merges, later values win per attribute.
	status, body = do(t, http.MethodPatch, url, tok, contactBody("K1", map[string]map[string]any{
		"Email Demographics": {"Last Name": "Lee", "First Name": "Anne"},
		"Email Addresses":    {"HTML Enabled": "false"},
	}))
	require.Equal(t, 200, status)
	m = decode(t, body)
	assert.Equal(t, false, m["isNewContactKey"])
	assert.Equal(t, float64(1), m["contactID"])

	// POST creates a second contact with the next id.
	status, body = do(t, http.MethodPost, url, tok, contactBody("K2", nil))
	require.Equal(t, 200, status)
	m = decode(t, body)
	assert.Equal(t, "OK", m["operationStatus"])
	assert.Equal(t, float64(2), m["contactID"])

	c, ok := s.Contact("K1")
	require.True(t, ok)
	assert.Equal(t, Contact{Key: "K1", ID: 1, Sets: map[string]map[string]any{
		"Email Addresses":    {"Email Address": "a@example.com", "HTML Enabled": "false"},
		"Email Demographics": {"First Name": "Anne", "Last Name": "Lee"},
	}}, c)
	// Deep copy: changing it does not change the server.
	c.Sets["Email Demographics"]["First Name"] = "X"
	c2, _ := s.Contact("K1")
	assert.Equal(t, "Anne", c2.Sets["Email Demographics"]["First Name"])

	all := s.Contacts()
	require.Len(t, all, 2)
	assert.Equal(t, "K1", all[0].Key)
	assert.Equal(t, "K2", all[1].Key)
	_, ok = s.Contact("nope")
	assert.False(t, ok)
	assert.Equal(t, int64(3), s.Stats().Writes)
}

func TestContactNumberValuesUseNumber(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithAttributes("Email Demographics", Attribute{Name: "Score", DataType: "Decimal"}))
	tok := token(t, s)
	status, body := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok,
		`{"contactKey":"N","attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"Score","value":12345678901234567890}]}]}]}`)
	require.Equal(t, 200, status, "%s", body)
	c, ok := s.Contact("N")
	require.True(t, ok)
	assert.Equal(t, json.Number("12345678901234567890"), c.Sets["Email Demographics"]["Score"])
}

func TestContactByID(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	url := s.URL() + "/contacts/v1/contacts"
	status, _ := do(t, http.MethodPatch, url, tok, contactBody("K", nil))
	require.Equal(t, 200, status)
	status, body := do(t, http.MethodPatch, url, tok,
		`{"contactID":1,"attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Z"}]}]}]}`)
	require.Equal(t, 200, status)
	assert.Equal(t, "K", decode(t, body)["contactKey"])
	c, _ := s.Contact("K")
	assert.Equal(t, "Z", c.Sets["Email Demographics"]["First Name"])

	status, body = do(t, http.MethodPatch, url, tok, `{"contactID":"99","attributeSets":[]}`)
	require.Equal(t, 200, status)
	m := decode(t, body)
	assert.Equal(t, "FAIL", m["operationStatus"])
	assert.Equal(t, ResultContactNotFound, m["resultMessages"].([]any)[0].(map[string]any)["resultCode"])
}

func TestContactWriteFail(t *testing.T) {
	t.Parallel()
	extra := WithAttributes("Email Demographics",
		Attribute{Name: "Score", DataType: "Number"},
		Attribute{Name: "Opt", DataType: "Boolean"},
		Attribute{Name: "Code", DataType: "Text", Length: 3},
		Attribute{Name: "Big", DataType: "LongNumber"},
		Attribute{Name: "Level", DataType: "Byte"},
		Attribute{Name: "Balance", DataType: "Decimal", Length: 18, Scale: 2},
		Attribute{Name: "Born", DataType: "Date"},
		Attribute{Name: "Mobile", DataType: "Phone"})
	vals := func(set string, nv ...any) string {
		var parts []string
		for i := 0; i < len(nv); i += 2 {
			b, _ := json.Marshal(nv[i+1])
			parts = append(parts, fmt.Sprintf(`{"name":%q,"value":%s}`, nv[i], b))
		}
		return fmt.Sprintf(`{"contactKey":"F","attributeSets":[{"name":%q,"items":[{"values":[%s]}]}]}`, set, strings.Join(parts, ","))
	}
	tests := []struct {
		name  string
		body  string
		codes []string
		msgs  []string
	}{
		{"unknown set", vals("Nope", "A", "x"), []string{"AttributeSetNotFound"},
			[]string{"Attribute set 'Nope' does not exist."}},
		{"unknown attribute", vals("Email Demographics", "Middle", "x"), []string{"AttributeNotFound"},
			[]string{"Attribute 'Middle' does not exist in attribute set 'Email Demographics'."}},
		{"too long", vals("Email Demographics", "Code", "abcd"), []string{"ValueTooLong"},
			[]string{"Value for attribute 'Code' in attribute set 'Email Demographics' is longer than its maximum length of 3."}},
		{"number wrong type", vals("Email Demographics", "Score", true), []string{"InvalidValue"}, nil},
		{"number not numeric", vals("Email Demographics", "Score", "abc"), []string{"InvalidValue"}, nil},
		{"boolean wrong", vals("Email Demographics", "Opt", "yes"), []string{"InvalidValue"}, nil},
		{"boolean number", vals("Email Demographics", "Opt", 2), []string{"InvalidValue"}, nil},
		{"number with a fraction", vals("Email Demographics", "Score", json.Number("12.5")), []string{"InvalidValue"}, nil},
		{"number out of range", vals("Email Demographics", "Score", json.Number("2147483648")), []string{"InvalidValue"}, nil},
		{"long number out of range", vals("Email Demographics", "Big", json.Number("9223372036854775808")), []string{"InvalidValue"}, nil},
		{"byte out of range", vals("Email Demographics", "Level", 256), []string{"InvalidValue"}, nil},
		{"decimal scale", vals("Email Demographics", "Balance", json.Number("1.234")), []string{"InvalidValue"}, nil},
		{"decimal precision", vals("Email Demographics", "Balance", json.Number("1e17")), []string{"InvalidValue"}, nil},
		{"date malformed", vals("Email Demographics", "Born", "31.05.2024"), []string{"InvalidValue"}, nil},
		{"date a number", vals("Email Demographics", "Born", 20240531), []string{"InvalidValue"}, nil},
		{"email malformed", vals("Email Addresses", "Email Address", "ann at example.com"), []string{"InvalidValue"}, nil},
		{"email without dotted domain", vals("Email Addresses", "Email Address", "ann@localhost"), []string{"InvalidValue"}, nil},
		{"phone letters", vals("Email Demographics", "Mobile", "call me"), []string{"InvalidValue"}, nil},
		{"number into Text too long", vals("Email Demographics", "Code", json.Number("1e308")), []string{"ValueTooLong"}, nil},
		{"text object", vals("Email Demographics", "First Name", map[string]any{"a": 1}), []string{"InvalidValue"}, nil},
		{"several problems, valid one not stored",
			vals("Email Demographics", "First Name", "ok", "Middle", "x", "Code", "abcdef", "Opt", "maybe"),
			[]string{"AttributeNotFound", "ValueTooLong", "InvalidValue"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, extra)
			tok := token(t, s)
			status, body := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, tt.body)
			require.Equal(t, 200, status)
			m := decode(t, body)
			assert.Equal(t, "FAIL", m["operationStatus"])
			assert.Equal(t, true, m["hasErrors"])
			assert.Equal(t, float64(0), m["rowsAffected"])
			rms := m["resultMessages"].([]any)
			require.Len(t, rms, len(tt.codes))
			for i, rm := range rms {
				r := rm.(map[string]any)
				assert.Equal(t, "Error", r["resultType"])
				assert.Equal(t, "Validation", r["resultClass"])
				assert.Equal(t, tt.codes[i], r["resultCode"])
				if i < len(tt.msgs) {
					assert.Equal(t, tt.msgs[i], r["resultMessage"])
				} else {
					assert.NotEmpty(t, r["resultMessage"])
				}
			}
			assert.Empty(t, s.Contacts(), "nothing stored")
			assert.Zero(t, s.Stats().Writes)
		})
	}
}

func TestContactLenientValues(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithAttributes("Email Demographics",
		Attribute{Name: "Score", DataType: "Number"}, Attribute{Name: "Opt", DataType: "Boolean"},
		Attribute{Name: "Big", DataType: "LongNumber"}, Attribute{Name: "Level", DataType: "Byte"},
		Attribute{Name: "Balance", DataType: "Decimal", Length: 18, Scale: 2},
		Attribute{Name: "Born", DataType: "Date"}, Attribute{Name: "Mobile", DataType: "Phone"},
		Attribute{Name: "Notes", DataType: "Text", Length: -1}))
	tok := token(t, s)
	for i, v := range []map[string]any{
		{"Score": "12", "Opt": "TRUE"},
		{"Score": 3, "Opt": false},
		{"Score": -2147483648, "Opt": 1, "Big": json.Number("9223372036854775807"), "Level": 255},
		{"Balance": json.Number("9999999999999999.99"), "Born": "2024-05-31", "Mobile": "+1 (317) 531-5555"},
		{"Balance": "12.50", "Born": "5/31/2024 1:45 PM", "Mobile": json.Number("3175315555")},
		{"Born": "2024-05-31T13:45:00.1234567-06:00", "Notes": strings.Repeat("n", 5000)},
		{"First Name": nil, "Last Name": 42},
	} {
		status, body := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok,
			contactBody(fmt.Sprint("L", i), map[string]map[string]any{"Email Demographics": v}))
		require.Equal(t, 200, status)
		assert.Equal(t, "OK", decode(t, body)["operationStatus"], "%v: %s", v, body)
	}
}

func TestContactCreateExisting(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	url := s.URL() + "/contacts/v1/contacts"
	status, _ := do(t, http.MethodPost, url, tok, contactBody("K", nil))
	require.Equal(t, 200, status)
	status, body := do(t, http.MethodPost, url, tok, contactBody("K", map[string]map[string]any{
		"Email Demographics": {"First Name": "X"},
	}))
	require.Equal(t, 200, status)
	m := decode(t, body)
	assert.Equal(t, "FAIL", m["operationStatus"])
	assert.Equal(t, float64(0), m["rowsAffected"])
	rm := m["resultMessages"].([]any)[0].(map[string]any)
	assert.Equal(t, ResultContactKeyExists, rm["resultCode"])
	assert.Equal(t, "Contact key 'K' already exists.", rm["resultMessage"])
	c, _ := s.Contact("K")
	assert.Empty(t, c.Sets["Email Demographics"], "failed create stores nothing")
}

func TestContactBadRequests(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	tests := []struct {
		name   string
		method string
		body   string
		status int
		code   float64
	}{
		{"malformed json", http.MethodPatch, `{"contactKey":`, 400, 10003},
		{"empty body", http.MethodPatch, ``, 400, 10003},
		{"trailing garbage", http.MethodPatch, `{"contactKey":"a"} x`, 400, 10003},
		{"wrong shape", http.MethodPatch, `{"contactKey":"a","attributeSets":{}}`, 400, 10003},
		{"key not a string", http.MethodPost, `{"contactKey":5}`, 400, 10003},
		{"missing key", http.MethodPatch, `{"attributeSets":[]}`, 400, 10002},
		{"empty key", http.MethodPost, `{"contactKey":"","attributeSets":[]}`, 400, 10002},
		{"bad contact id", http.MethodPatch, `{"contactID":"x"}`, 400, 10003},
		{"negative contact id", http.MethodPatch, `{"contactID":-1}`, 400, 10005},
		{"too large", http.MethodPatch, `{"contactKey":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, 10000},
		{"wrong method", http.MethodGet, ``, 400, 30001},
		{"delete method", http.MethodDelete, ``, 400, 30001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := do(t, tt.method, s.URL()+"/contacts/v1/contacts", tok, tt.body)
			require.Equal(t, tt.status, status, "%s", body)
			m := decode(t, body)
			assert.Equal(t, tt.code, m["errorcode"])
			assert.NotEmpty(t, m["message"])
			assert.Equal(t, documentationURL, m["documentation"])
		})
	}
	t.Cleanup(func() { assert.Empty(t, s.Contacts()) })
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	status, body := do(t, http.MethodGet, s.URL()+"/contacts/v1/nope", tok, nil)
	require.Equal(t, 404, status)
	m := decode(t, body)
	assert.Equal(t, "Not Found", m["message"])
	assert.Equal(t, float64(30003), m["errorcode"])
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/nope", "", nil)
	assert.Equal(t, 401, status, "auth comes before routing")
}

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithLatency(5*time.Millisecond))
	tok := token(t, s)
	const workers, perWorker = 64, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				key := fmt.Sprintf("C%02d", w)
				resp, err := tryDo(http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok,
					contactBody(key, map[string]map[string]any{
						"Email Demographics": {"First Name": fmt.Sprint(i)},
						"Email Addresses":    {"Email Address": fmt.Sprintf("%s-%d@example.com", key, i)},
					}))
				if err != nil {
					errs <- err
					continue
				}
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	all := s.Contacts()
	require.Len(t, all, workers)
	ids := map[int64]bool{}
	for w, c := range all {
		assert.Equal(t, fmt.Sprintf("C%02d", w), c.Key)
		assert.Equal(t, fmt.Sprint(perWorker-1), c.Sets["Email Demographics"]["First Name"])
		ids[c.ID] = true
	}
	assert.Len(t, ids, workers, "contact ids are unique")
	st := s.Stats()
	assert.Equal(t, int64(workers*perWorker), st.Writes)
	assert.Equal(t, int64(workers*perWorker), st.RESTRequests)
	assert.Equal(t, int64(workers*perWorker+1), st.ByStatus[200])
	assert.Greater(t, st.MaxConcurrency, int64(1))
}

func TestUnknownAttributeBadRequest(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithUnknownAttributeBadRequest())
	tok := token(t, s)
	url := s.URL() + "/contacts/v1/contacts"
	status, body := do(t, http.MethodPatch, url, tok, contactBody("K", map[string]map[string]any{
		"Loyalty": {"Tier": "gold"}}))
	require.Equal(t, http.StatusBadRequest, status)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	assert.Equal(t, []string{"resultMessages"}, slices.Collect(maps.Keys(raw)), "the body holds only resultMessages: %s", body)
	var msgs []map[string]string
	require.NoError(t, json.Unmarshal(raw["resultMessages"], &msgs))
	require.Len(t, msgs, 1)
	assert.Equal(t, map[string]string{"resultType": "Error", "resultClass": "Validation", "resultCode": "CustomObjectNotFound",
		"message": "Attribute set 'Loyalty' does not exist."}, msgs[0])

	status, body = do(t, http.MethodPatch, url, tok, contactBody("K", map[string]map[string]any{
		"Email Demographics": {"Shoe Size": 42}}))
	require.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), `"resultCode":"ValueDefinitionNotFound"`)
	assert.Contains(t, string(body), `"message":"Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'."`)
	assert.Empty(t, s.Contacts())

	// Other refusals keep the 200 FAIL answer.
	status, body = do(t, http.MethodPatch, url, tok, contactBody("K", map[string]map[string]any{
		"Email Addresses": {"HTML Enabled": "maybe"}}))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "FAIL", decode(t, body)["operationStatus"])
}
