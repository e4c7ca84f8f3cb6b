package sfmc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	svcAuthURL = "https://auth.example.test"
	svcRESTURL = "https://rest.example.test"
)

// newServiceMockClient returns a client whose requests go to a per-test httpmock
// transport answering the token endpoint.
func newServiceMockClient(tb testing.TB) (*Client, *httpmock.MockTransport) {
	tb.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, svcAuthURL+"/v2/token",
		httpmock.NewStringResponder(200, `{"access_token":"t","expires_in":1080,"token_type":"Bearer","rest_instance_url":"https://rest.example.test/"}`))
	c, err := NewClient(Config{Subdomain: "mctest", ClientID: "id", ClientSecret: "secret"},
		WithHTTPClient(&http.Client{Transport: mt}),
		WithAuthURL(svcAuthURL),
		WithRESTURL(svcRESTURL),
		WithRetry(1, time.Millisecond, 2*time.Millisecond),
		WithRateLimit(1e5, 100), // the pace starts there, not in slow start
	)
	require.NoError(tb, err)
	return c, mt
}

type namedInt int
type namedString string
type namedFloat float64

func TestAppendContactJSONGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Contact
		want string
	}{
		{
			name: "no attributes",
			c:    Contact{Key: "K-1"},
			want: `{"contactKey":"K-1","attributeSets":[]}`,
		},
		{
			name: "grouped by set in order of first appearance",
			c: Contact{Key: "ann@example.com", Attributes: []AttributeValue{
				{"Email Addresses", "Email Address", "ann@example.com"},
				{"Email Demographics", "First Name", "Ann"},
				{"Email Addresses", "HTML Enabled", true},
				{"Email Demographics", "Age", 42},
			}},
			want: `{"contactKey":"ann@example.com","attributeSets":[` +
				`{"name":"Email Addresses","items":[{"values":[{"name":"Email Address","value":"ann@example.com"},{"name":"HTML Enabled","value":true}]}]},` +
				`{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Ann"},{"name":"Age","value":42}]}]}]}`,
		},
		{
			name: "repeated attribute keeps last value at first position",
			c: Contact{Key: "k", Attributes: []AttributeValue{
				{"S", "A", "first"},
				{"S", "B", 1},
				{"S", "A", "last"},
				{"T", "A", "other set"},
			}},
			want: `{"contactKey":"k","attributeSets":[{"name":"S","items":[{"values":[{"name":"A","value":"last"},{"name":"B","value":1}]}]},` +
				`{"name":"T","items":[{"values":[{"name":"A","value":"other set"}]}]}]}`,
		},
		{
			name: "escaping",
			c: Contact{Key: "q\"b\\s/<>&", Attributes: []AttributeValue{
				{"S", "ctl", "a\nb\rc\td\x00e\x1f\bf\fg"},
				{"S", "utf8", "héllo 世界 \u2028\u2029"},
			}},
			want: `{"contactKey":"q\"b\\s/<>&","attributeSets":[{"name":"S","items":[{"values":[` +
				`{"name":"ctl","value":"a\nb\rc\td\u0000e\u001f\bf\fg"},` +
				`{"name":"utf8","value":"héllo 世界 \u2028\u2029"}]}]}]}`,
		},
		{
			name: "numbers and bools",
			c: Contact{Key: "n", Attributes: []AttributeValue{
				{"S", "i8", int8(-8)}, {"S", "i64", int64(math.MinInt64)}, {"S", "u64", uint64(math.MaxUint64)},
				{"S", "u8", uint8(255)}, {"S", "f", 0.1}, {"S", "f32", float32(0.1)}, {"S", "big", 1e21},
				{"S", "small", 1e-7}, {"S", "int-ish", 3.0}, {"S", "neg", -2.5}, {"S", "num", json.Number("12.50")},
				{"S", "f", false}, {"S", "ni", namedInt(7)}, {"S", "ns", namedString("x")}, {"S", "nf", namedFloat(1.5)},
			}},
			want: `{"contactKey":"n","attributeSets":[{"name":"S","items":[{"values":[` +
				`{"name":"i8","value":-8},{"name":"i64","value":-9223372036854775808},{"name":"u64","value":18446744073709551615},` +
				`{"name":"u8","value":255},{"name":"f","value":false},{"name":"f32","value":0.1},{"name":"big","value":1e+21},` +
				`{"name":"small","value":1e-7},{"name":"int-ish","value":3},{"name":"neg","value":-2.5},{"name":"num","value":12.50},` +
				`{"name":"ni","value":7},{"name":"ns","value":"x"},{"name":"nf","value":1.5}]}]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := contactBody(tt.c)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			assert.True(t, json.Valid(got))
		})
	}
}

// refContactJSON is a slow, obviously-correct reference encoder built on
// encoding/json and maps.
func refContactJSON(t testing.TB, c Contact) []byte {
	type val struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
	type item struct {
		Values []val `json:"values"`
	}
	type set struct {
		Name  string `json:"name"`
		Items []item `json:"items"`
	}
	var sets []set
	setIdx := map[string]int{}
	valIdx := map[[2]string]int{}
	for _, a := range c.Attributes {
		si, ok := setIdx[a.Set]
		if !ok {
			si = len(sets)
			setIdx[a.Set] = si
			sets = append(sets, set{Name: a.Set, Items: []item{{Values: []val{}}}})
		}
		k := [2]string{a.Set, a.Name}
		if vi, ok := valIdx[k]; ok {
			sets[si].Items[0].Values[vi].Value = a.Value
			continue
		}
		valIdx[k] = len(sets[si].Items[0].Values)
		sets[si].Items[0].Values = append(sets[si].Items[0].Values, val{a.Name, a.Value})
	}
	if sets == nil {
		sets = []set{}
	}
	b, err := json.Marshal(struct {
		Key  string `json:"contactKey"`
		Sets []set  `json:"attributeSets"`
	}{c.Key, sets})
	require.NoError(t, err)
	return b
}

// decodeAny decodes b keeping numbers exact.
func decodeAny(t testing.TB, b []byte) any {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return normalizeNumbers(v)
}

// normalizeNumbers replaces json.Number by a canonical float64 text or the
// integer text, so 0.1 and 1e-1 compare equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return strconv.FormatUint(u, 10)
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v
}

func randString(r *rand.Rand) string {
	alphabet := []string{"a", "Z", " ", ".", "\"", "\\", "\n", "\x00", "\x1f", "\x7f", "é", "世", "\u2028", "<", "&", "\xff", "\xc3", "😀", "/"}
	n := r.IntN(8)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randValue(r *rand.Rand) any {
	switch r.IntN(9) {
	case 0:
		return randString(r)
	case 1:
		return r.IntN(2) == 0
	case 2:
		return int64(r.Uint64())
	case 3:
		return r.Uint64()
	case 4:
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(2046)+1)<<52) // finite
	case 5:
		return float32(r.NormFloat64() * 1e6)
	case 6:
		return json.Number(strconv.Itoa(r.IntN(1000)) + ".5e" + strconv.Itoa(r.IntN(20)-10))
	case 7:
		return int32(r.Int32())
	default:
		return r.Float64() * 1e-9
	}
}

// contactTextValid reports whether every string of c is valid UTF-8.
func contactTextValid(c Contact) bool {
	if !utf8.ValidString(c.Key) {
		return false
	}
	for _, a := range c.Attributes {
		if s, ok := a.Value.(string); ok && !utf8.ValidString(s) || !utf8.ValidString(a.Set) || !utf8.ValidString(a.Name) {
			return false
		}
	}
	return true
}

// TestAppendContactJSONProperty checks on random contacts (small and large,
// with duplicates and hostile strings) that the output is valid JSON equal
// to the reference encoder's once decoded.
func TestAppendContactJSONProperty(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	sets := []string{"Email Addresses", "Email Demographics", "S.with.dots", "\"q\"", "\xff"}
	for i := range 3000 {
		n := r.IntN(12)
		if i%10 == 0 {
			n = 33 + r.IntN(40) // large path (maps)
		}
		c := Contact{Key: "k" + randString(r)}
		for range n {
			name := []string{"A", "B", "C", "D", randString(r) + "x"}[r.IntN(5)]
			c.Attributes = append(c.Attributes, AttributeValue{Set: sets[r.IntN(len(sets))], Name: name, Value: randValue(r)})
		}
		got, err := contactBody(c)
		if !contactTextValid(c) {
			// Invalid UTF-8 is refused, never replaced by U+FFFD.
			require.ErrorIs(t, err, ErrInvalidUTF8, "contact %#v", c)
			require.Empty(t, got)
			continue
		}
		require.NoError(t, err)
		require.True(t, json.Valid(got), "invalid JSON: %q", got)
		want := refContactJSON(t, c)
		require.Equal(t, decodeAny(t, want), decodeAny(t, got), "contact %#v\ngot  %s\nwant %s", c, got, want)
	}
}

func FuzzContactBodyString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\", "\x00\x01\x1f\x7f", "a\xffb", "\xed\xa0\x80", "\u2028\u2029", "<>&", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := contactBody(Contact{Key: "K", Attributes: []AttributeValue{{"S", "A", s}}})
		if !utf8.ValidString(s) {
			// Never replaced by U+FFFD: refused, nothing encoded.
			if !errors.Is(err, ErrInvalidUTF8) || len(got) != 0 {
				t.Fatalf("invalid UTF-8 %q: got %q, %v", s, got, err)
			}
			return
		}
		if err != nil || !json.Valid(got) {
			t.Fatalf("invalid JSON for %q: %s (%v)", s, got, err)
		}
		var back struct {
			AttributeSets []struct {
				Items []struct {
					Values []struct {
						Value string `json:"value"`
					} `json:"values"`
				} `json:"items"`
			} `json:"attributeSets"`
		}
		if err := json.Unmarshal(got, &back); err != nil || back.AttributeSets[0].Items[0].Values[0].Value != s {
			t.Fatalf("%q does not round-trip: %s", s, got)
		}
	})
}

func TestContactValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		c     Contact
		parts []string // substrings of the error; nil = valid
	}{
		{"valid", Contact{Key: "k", Attributes: []AttributeValue{{"S", "A", "x"}, {"S", "B", namedInt(1)}}}, nil},
		{"empty key", Contact{Key: ""}, []string{"empty contact key"}},
		{"empty set", Contact{Key: "k", Attributes: []AttributeValue{{"", "First Name", "x"}}}, []string{"empty attribute set", "First Name"}},
		{"empty name", Contact{Key: "k", Attributes: []AttributeValue{{"Email Demographics", "", "x"}}}, []string{"empty name", "Email Demographics"}},
		{"slice value", Contact{Key: "k", Attributes: []AttributeValue{{"S", "Tags", []string{"a"}}}}, []string{"S.Tags", "[]string"}},
		{"struct value", Contact{Key: "k", Attributes: []AttributeValue{{"S", "When", time.Time{}}}}, []string{"S.When", "time.Time"}},
		{"nil value", Contact{Key: "k", Attributes: []AttributeValue{{"S", "N", nil}}}, []string{"S.N", "<nil>"}},
		{"NaN", Contact{Key: "k", Attributes: []AttributeValue{{"S", "F", math.NaN()}}}, []string{"S.F", "NaN"}},
		{"+Inf", Contact{Key: "k", Attributes: []AttributeValue{{"S", "F", math.Inf(1)}}}, []string{"S.F", "+Inf"}},
		{"float32 -Inf", Contact{Key: "k", Attributes: []AttributeValue{{"S", "F", float32(math.Inf(-1))}}}, []string{"S.F", "-Inf"}},
		{"named NaN", Contact{Key: "k", Attributes: []AttributeValue{{"S", "F", namedFloat(math.NaN())}}}, []string{"S.F", "NaN"}},
		{"bad json.Number", Contact{Key: "k", Attributes: []AttributeValue{{"S", "N", json.Number("1e")}}}, []string{"S.N", `"1e"`}},
		{"empty json.Number", Contact{Key: "k", Attributes: []AttributeValue{{"S", "N", json.Number("")}}}, []string{"S.N"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			_, encErr := contactBody(tt.c)
			if tt.parts == nil {
				require.NoError(t, err)
				require.NoError(t, encErr)
				return
			}
			require.ErrorIs(t, err, ErrInvalidContact)
			require.ErrorIs(t, encErr, ErrInvalidContact)
			for _, p := range tt.parts {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestValidJSONNumber(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "1e5": true, "1E+5": true, "-1.25e-3": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "1e": false, "+1": false, "0x1": false, "NaN": false, "1 ": false,
	} {
		assert.Equal(t, want, validJSONNumber(s), s)
		if strings.TrimSpace(s) == s {
			assert.Equal(t, want, json.Valid([]byte(s)), "reference for %q", s)
		}
	}
}

func TestDecodeContactResultOK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want ContactResult
	}{
		{
			name: "documented example with typos",
			body: `{"operationStatus":"OK","rowsAffetcted":1,"contactKey":"acruz@example.com","contactId":12345678,"contactTypeID":0,"isNewContactKey":false,"requestServiceMessageID":"8b51","hasErrors":false,"resultMessages":[],"serviceMessageID":"8067"}`,
			want: ContactResult{OperationStatus: "OK", RowsAffected: 1, ContactKey: "acruz@example.com", ContactID: 12345678, RequestServiceMessageID: "8b51", ServiceMessageID: "8067"},
		},
		{
			name: "real spelling and time with zone",
			body: `{"operationStatus":"OK","rowsAffected":2,"contactKey":"k","contactID":9,"contactTypeID":3,"isNewContactKey":true,"responseDateTime":"2019-07-02T14:27:42.9189678-04:00"}`,
			want: ContactResult{OperationStatus: "OK", RowsAffected: 2, ContactKey: "k", ContactID: 9, ContactTypeID: 3, IsNewContactKey: true,
				ResponseDateTime: time.Date(2019, 7, 2, 14, 27, 42, 918967800, time.FixedZone("", -4*3600))},
		},
		{
			name: "time without zone, key missing in answer",
			body: `{"operationStatus":"OK","responseDateTime":"2016-06-14T16:01:58.107"}`,
			want: ContactResult{OperationStatus: "OK", ContactKey: "sent-key", ResponseDateTime: time.Date(2016, 6, 14, 16, 1, 58, 107000000, time.UTC)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeContactResult("sent-key", []byte(tt.body))
			require.NoError(t, err)
			assert.True(t, tt.want.ResponseDateTime.Equal(got.ResponseDateTime), "time %v", got.ResponseDateTime)
			got.ResponseDateTime, tt.want.ResponseDateTime = time.Time{}, time.Time{}
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestDecodeContactResultFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		unknown     []AttributeRef
		msgs        int
		code        string
		errContains []string
	}{
		{
			name:        "unknown attribute set",
			body:        `{"operationStatus":"FAIL","hasErrors":true,"contactKey":"k","requestServiceMessageID":"r-1","resultMessages":[{"resultType":"Error","resultCode":"AttributeSetNotFound","resultClass":"Validation","resultMessage":"Attribute set 'Loyalty' does not exist."}]}`,
			unknown:     []AttributeRef{{Set: "Loyalty"}},
			msgs:        1,
			code:        "AttributeSetNotFound",
			errContains: []string{`"k"`, "FAIL", `attribute set "Loyalty"`},
		},
		{
			name:        "unknown attribute",
			body:        `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultType":"Error","resultCode":"AttributeNotFound","resultClass":"Validation","resultMessage":"Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'."}]}`,
			unknown:     []AttributeRef{{Set: "Email Demographics", Name: "Shoe Size"}},
			msgs:        1,
			code:        "AttributeNotFound",
			errContains: []string{`attribute "Shoe Size" in set "Email Demographics"`},
		},
		{
			name:        "value too long is not unknown",
			body:        `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultType":"Error","resultCode":"ValueTooLong","resultClass":"Validation","resultMessage":"Value for attribute 'First Name' in attribute set 'Email Demographics' is too long (max 10)."}]}`,
			msgs:        1,
			code:        "ValueTooLong",
			errContains: []string{"too long"},
		},
		{
			name: "invalid value is not unknown",
			body: `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultCode":"InvalidValue","resultMessage":"Invalid value for attribute 'Age'."}]}`,
			msgs: 1, code: "InvalidValue", errContains: []string{"Invalid value"},
		},
		{
			name: "contact key exists",
			body: `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultType":"Error","resultCode":"ContactKeyExists","resultClass":"Validation","resultMessage":"Contact key 'k' already exists."}]}`,
			msgs: 1, code: "ContactKeyExists", errContains: []string{"already exists"},
		},
		{
			name:    "numeric code, text under message, detected by text",
			body:    `{"operationStatus":"FAIL","resultMessages":[{"resultCode":30003,"message":"Unknown attribute \"Email Demographics.Shoe Size\""}]}`,
			unknown: []AttributeRef{{Set: "Email Demographics", Name: "Shoe Size"}},
			msgs:    1, code: "30003",
		},
		{
			name:    "text: attribute not found in set",
			body:    `{"operationStatus":"FAIL","resultMessages":[{"resultCode":"12","resultMessage":"The attribute 'Tier' was not found in set 'Loyalty'"}]}`,
			unknown: []AttributeRef{{Set: "Loyalty", Name: "Tier"}},
			msgs:    1, code: "12",
		},
		{
			name:    "hasErrors with OK status and two messages",
			body:    `{"operationStatus":"OK","hasErrors":true,"resultMessages":[{"resultCode":"AttributeNotFound","resultMessage":"Attribute 'A' does not exist in attribute set 'S'."},{"resultCode":"AttributeNotFound","resultMessage":"Attribute 'B' does not exist in attribute set 'S'."},{"resultCode":"AttributeNotFound","resultMessage":"Attribute 'A' does not exist in attribute set 'S'."}]}`,
			unknown: []AttributeRef{{Set: "S", Name: "A"}, {Set: "S", Name: "B"}},
			msgs:    3, code: "AttributeNotFound",
		},
		{
			name: "FAIL without messages",
			body: `{"operationStatus":"FAIL"}`,
			msgs: 0, errContains: []string{"without result messages"},
		},
		{
			name: "message that is a plain string",
			body: `{"operationStatus":"FAIL","resultMessages":["something broke"]}`,
			msgs: 1, errContains: []string{"something broke"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := decodeContactResult("k", []byte(tt.body))
			require.Nil(t, res)
			var ce *ContactError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "k", ce.Key)
			assert.NotEmpty(t, ce.OperationStatus)
			assert.Len(t, ce.Messages, tt.msgs)
			if tt.code != "" {
				assert.Equal(t, tt.code, ce.Messages[0].Code)
				assert.NotEmpty(t, ce.Messages[0].Raw)
			}
			assert.Equal(t, tt.unknown, ce.Unknown)
			assert.Equal(t, len(tt.unknown) > 0, errors.Is(err, ErrUnknownAttribute))
			for _, p := range tt.errContains {
				assert.Contains(t, err.Error(), p)
			}
		})
	}
}

func TestDecodeContactResultGarbage(t *testing.T) {
	t.Parallel()
	_, err := decodeContactResult("k", []byte(`<html>`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"k"`)
	var ce *ContactError
	assert.False(t, errors.As(err, &ce))
}

// --- REST tests (httpmock) ---

func TestUpsertSendsPatch(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var gotBody, gotMethod, gotAuth, gotCT string
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotMethod, gotAuth, gotCT = string(b), r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		return httpmock.NewStringResponse(200, `{"operationStatus":"OK","rowsAffected":1,"contactKey":"K-1","contactID":77,"isNewContactKey":true,"hasErrors":false,"resultMessages":[]}`), nil
	})
	contact := Contact{Key: "K-1", Attributes: []AttributeValue{
		{"Email Addresses", "Email Address", "ann@example.com"},
		{"Email Demographics", "First Name", "Ann"},
	}}
	res, err := c.Contacts.Upsert(context.Background(), contact)
	require.NoError(t, err)
	assert.Equal(t, &ContactResult{OperationStatus: "OK", ContactKey: "K-1", ContactID: 77, IsNewContactKey: true, RowsAffected: 1}, res)
	assert.Equal(t, http.MethodPatch, gotMethod)
	assert.Equal(t, "Bearer t", gotAuth)
	assert.Contains(t, gotCT, "application/json")
	want, _ := contactBody(contact)
	assert.JSONEq(t, string(want), gotBody)
}

func TestUpsertAndCreateMethods(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	ok := httpmock.NewStringResponder(200, `{"operationStatus":"OK","contactKey":"k"}`)
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", ok)
	mt.RegisterResponder(http.MethodPost, svcRESTURL+"/contacts/v1/contacts", ok)
	ctx := context.Background()
	_, err := c.Contacts.Upsert(ctx, Contact{Key: "k"})
	require.NoError(t, err)
	_, err = c.Contacts.Create(ctx, Contact{Key: "k"})
	require.NoError(t, err)
	info := mt.GetCallCountInfo()
	assert.Equal(t, 1, info["PATCH "+svcRESTURL+"/contacts/v1/contacts"])
	assert.Equal(t, 1, info["POST "+svcRESTURL+"/contacts/v1/contacts"])
}

func TestUpsertInvalidContactSendsNothing(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(200, `{"operationStatus":"OK"}`))
	_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "k", Attributes: []AttributeValue{{"S", "A", math.NaN()}}})
	require.ErrorIs(t, err, ErrInvalidContact)
	_, err = c.Contacts.Create(context.Background(), Contact{})
	require.ErrorIs(t, err, ErrInvalidContact)
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestUpsertFailUnknownAttribute(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(200,
		`{"operationStatus":"FAIL","hasErrors":true,"contactKey":"K-1","requestServiceMessageID":"req-9","resultMessages":[{"resultType":"Error","resultCode":"AttributeNotFound","resultClass":"Validation","resultMessage":"Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'."}]}`))
	_, err := c.Contacts.Upsert(context.Background(), Contact{Key: "K-1", Attributes: []AttributeValue{{"Email Demographics", "Shoe Size", 42}}})
	require.ErrorIs(t, err, ErrUnknownAttribute)
	var ce *ContactError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "K-1", ce.Key)
	assert.Equal(t, "FAIL", ce.OperationStatus)
	assert.Equal(t, "req-9", ce.RequestID)
	assert.Equal(t, []AttributeRef{{Set: "Email Demographics", Name: "Shoe Size"}}, ce.Unknown)
	assert.Contains(t, err.Error(), "Shoe Size")
	assert.Contains(t, err.Error(), "Email Demographics")
}

func TestContactsRESTErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		sentinel []error
		notIs    []error
		code     int
		rate     bool
	}{
		{"400 missing field", 400, `{"message":"contactKey is required","errorcode":10002,"documentation":""}`, nil, []error{ErrNotFound, ErrServer, ErrRateLimited}, 10002, false},
		{"401", 401, `{"documentation":"https://developer.salesforce.com/","errorcode":0,"message":"Not Authorized"}`, []error{ErrUnauthorized}, nil, 0, false},
		{"403", 403, `{"message":"Insufficient privileges","errorcode":20002}`, []error{ErrForbidden}, []error{ErrUnauthorized}, 20002, false},
		{"404", 404, `{"message":"Not found","errorcode":30003}`, []error{ErrNotFound}, nil, 30003, false},
		{"429 throttled", 429, `{"message":"Too many requests","errorcode":50100}`, []error{ErrRateLimited}, []error{ErrBlocked}, 50100, true},
		{"429 blocked", 429, `{"message":"temporarily blocked","errorcode":50200}`, []error{ErrRateLimited, ErrBlocked}, nil, 50200, true},
		{"500", 500, `{"message":"boom"}`, []error{ErrServer}, []error{ErrRateLimited}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newServiceMockClient(t)
			mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", httpmock.NewStringResponder(tt.status, tt.body))
			res, err := c.Contacts.Upsert(context.Background(), Contact{Key: "k"})
			require.Error(t, err)
			assert.Nil(t, res)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.code, ae.Code)
			for _, s := range tt.sentinel {
				assert.ErrorIs(t, err, s)
			}
			for _, s := range tt.notIs {
				assert.NotErrorIs(t, err, s)
			}
			var rl *RateLimitError
			assert.Equal(t, tt.rate, errors.As(err, &rl))
			var ce *ContactError
			assert.False(t, errors.As(err, &ce))
		})
	}
}

func TestSearchByEmail(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var body map[string]any
	mt.RegisterResponder(http.MethodPost, svcRESTURL+"/contacts/v1/addresses/email/search", func(r *http.Request) (*http.Response, error) {
		_ = json.NewDecoder(r.Body).Decode(&body)
		return httpmock.NewStringResponse(200, `{"channelAddressResponseEntities":[
			{"contactKeyDetails":[{"contactKey":"K-1","createDate":"2014-11-15T11:51:00"},{"contactKey":"K-2"}],"channelAddress":"ann@example.com"},
			{"contactKeyDetails":[],"channelAddress":"nobody@example.com"}],"resultMessages":[]}`), nil
	})
	got, err := c.Contacts.SearchByEmail(context.Background(), []string{"ann@example.com", "nobody@example.com"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"ann@example.com": {"K-1", "K-2"}}, got)
	assert.Equal(t, map[string]any{"channelAddressList": []any{"ann@example.com", "nobody@example.com"}, "maximumCount": float64(EmailSearchMaximumCount)}, body)
}

func TestContactsEmptyInputsSendNothing(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	ctx := context.Background()
	_, err := c.Contacts.SearchByEmail(ctx, nil)
	assert.ErrorContains(t, err, "no email")
	_, err = c.Contacts.SearchByEmail(ctx, []string{"a@example.com", " "})
	assert.ErrorContains(t, err, "email address 1 is empty")
	_, err = c.Contacts.Delete(ctx, nil)
	assert.ErrorContains(t, err, "no contact keys")
	_, err = c.Contacts.Delete(ctx, []string{""})
	assert.ErrorContains(t, err, "contact key 0 is empty")
	_, err = c.Contacts.DeleteStatus(ctx, 0)
	assert.ErrorContains(t, err, "invalid operation id 0")
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestDeleteAndStatus(t *testing.T) {
	t.Parallel()
	c, mt := newServiceMockClient(t)
	var body map[string]any
	var typ string
	mt.RegisterResponder(http.MethodPost, svcRESTURL+"/contacts/v1/contacts/actions/delete", func(r *http.Request) (*http.Response, error) {
		typ = r.URL.Query().Get("type")
		_ = json.NewDecoder(r.Body).Decode(&body)
		return httpmock.NewStringResponse(200, `{"operationInitiated":true,"operationID":2,"requestServiceMessageID":"21d0","resultMessages":[],"serviceMessageID":"acb8"}`), nil
	})
	var opID string
	mt.RegisterResponder(http.MethodGet, svcRESTURL+"/contacts/v1/contacts/actions/delete/status", func(r *http.Request) (*http.Response, error) {
		opID = r.URL.Query().Get("operationID")
		return httpmock.NewStringResponse(200, `{"operation":{"deleteType":"ContactAndAttributes","operationID":2,"status":"Completed","expectedListCount":2,"lastProcessedMilestone":"Completed"},
			"backgroundOperationsSummary":[{"backgroundOperationID":1,"createdDate":"2019-07-02T14:27:42.4039","backgroundOperationStatusID":"Processing"}],
			"numberofRestorableDays":14,"responseDateTime":"2019-07-02T14:27:42.9189678-04:00"}`), nil
	})
	ctx := context.Background()
	op, err := c.Contacts.Delete(ctx, []string{"K-1", "K-2"})
	require.NoError(t, err)
	assert.Equal(t, &DeleteOperation{OperationInitiated: true, OperationID: 2, RequestServiceMessageID: "21d0", ServiceMessageID: "acb8"}, op)
	assert.Equal(t, "keys", typ)
	assert.Equal(t, map[string]any{"values": []any{"K-1", "K-2"}, "DeleteOperationType": "ContactAndAttributes"}, body)

	st, err := c.Contacts.DeleteStatus(ctx, op.OperationID)
	require.NoError(t, err)
	assert.Equal(t, "2", opID)
	assert.Equal(t, int64(2), st.OperationID)
	assert.Equal(t, "Completed", st.Status)
	assert.Equal(t, 14, st.NumberOfRestorableDays)
	assert.Equal(t, int64(2), st.ExpectedListCount)
	require.Len(t, st.BackgroundOperations, 1)
	assert.Equal(t, "Processing", st.BackgroundOperations[0].Status)
	assert.False(t, st.Done(), "a background operation still processing")
	st.BackgroundOperations[0].Status = "Completed"
	assert.True(t, st.Done())
	st.Status = "Pending"
	assert.False(t, st.Done())
}

func realisticContact(i int) Contact {
	key := "K-" + strconv.Itoa(i)
	return Contact{Key: key, Attributes: []AttributeValue{
		{SetEmailAddresses, AttrEmailAddress, "ann.example" + strconv.Itoa(i) + "@example.com"},
		{SetEmailDemographics, "First Name", "Ann"},
		{SetEmailDemographics, "Last Name", "O'Neil-Ekström"},
		{SetEmailDemographics, "salesforce_mc_segment_1", "realized"},
		{SetEmailDemographics, "salesforce_mc_segment_2", "existing"},
		{SetEmailDemographics, "salesforce_mc_segment_3", "exited"},
	}}
}

func BenchmarkEncodeContact(b *testing.B) {
	c := realisticContact(1)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		buf, err := contactBody(c)
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	b.SetBytes(int64(n))
}

func BenchmarkDecodeContactResult(b *testing.B) {
	body := []byte(`{"operationStatus":"OK","rowsAffected":1,"contactKey":"K-1","contactID":12345678,"contactTypeID":0,"isNewContactKey":false,"requestServiceMessageID":"8b51b524-28c1-46fc-9a44-02fca5b0a08c","hasErrors":false,"resultMessages":[],"serviceMessageID":"80676c59-ceb9-48aa-ad35-81e150094a17"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeContactResult("K-1", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpsertMock(b *testing.B) {
	c, mt := newServiceMockClient(b)
	var calls atomic.Int64
	mt.RegisterResponder(http.MethodPatch, svcRESTURL+"/contacts/v1/contacts", func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		return httpmock.NewStringResponse(200, `{"operationStatus":"OK","rowsAffected":1,"contactKey":"K-1","contactID":12345678,"contactTypeID":0,"isNewContactKey":false,"requestServiceMessageID":"8b51b524-28c1-46fc-9a44-02fca5b0a08c","hasErrors":false,"resultMessages":[],"serviceMessageID":"80676c59-ceb9-48aa-ad35-81e150094a17"}`), nil
	})
	ctx := context.Background()
	contact := realisticContact(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Contacts.Upsert(ctx, contact); err != nil {
			b.Fatal(err)
		}
	}
	if calls.Load() == 0 {
		b.Fatal("no request reached the mock")
	}
}
