package sfmc

// Fuzz tests of the decoders. Seed corpora are checked in under
// testdata/fuzz/FuzzXxx, so plain `go test` runs them; run one fuzzer with
//
//	go test -run '^$' -fuzz FuzzDecodeContactResult -fuzztime 30s .
//
// Common properties: no panic; garbage (input that is not JSON) is always
// an error, never a success; what a success returns is usable.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fzRestURL(raw string) (string, error) {
	rest, err := normalizeInstanceURL(raw, false)
	if err != nil {
		return "", err
	}
	if rest == "" {
		rest = "https://fz.rest.marketingcloudapis.com"
	}
	return rest, nil
}

func FuzzParseTokenAnswer(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"abc","token_type":"Bearer","expires_in":1079,"scope":"x","rest_instance_url":"https://mc1.rest.marketingcloudapis.com/","soap_instance_url":"https://mc1.soap.marketingcloudapis.com/"}`), "")
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"Client authentication failed.","error_uri":"https://developer.salesforce.com/docs"}`), "")
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"The client's IP address is unauthorized for this account."}`), "")
	f.Add(429, []byte(`{"message":"slow down","errorcode":50100,"retryAfter":2}`), "3")
	f.Add(200, []byte(`{"access_token":"abc","expires_in":"1080"}`), "")
	f.Add(200, []byte(`{"access_token":"abc","rest_instance_url":"http://evil.example.com"}`), "")
	f.Add(200, []byte(`[[[[`), "")
	f.Add(503, []byte(``), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		tok, rest, err := parseTokenAnswer(status, h, body, "https://fz.auth.marketingcloudapis.com/v2/token", fzNow, fzRestURL)
		if err != nil {
			if tok != nil || rest != "" {
				t.Fatalf("error %v with a token or REST URL", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("success from HTTP %d", status)
		}
		if !json.Valid(body) {
			t.Fatalf("success from a body that is not JSON: %q", body)
		}
		if tok == nil || tok.AccessToken == "" {
			t.Fatal("success without an access token")
		}
		if !tok.Expiry.After(fzNow) {
			t.Fatalf("token already expired: expiry %v, now %v (body %q)", tok.Expiry, fzNow, body)
		}
		if !strings.HasPrefix(rest, "https://") {
			t.Fatalf("REST base %q is not https", rest)
		}
		host := strings.ToLower(strings.TrimPrefix(rest, "https://"))
		host, _, _ = strings.Cut(host, "/")
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if host != "marketingcloudapis.com" && !strings.HasSuffix(host, ".marketingcloudapis.com") {
			t.Fatalf("token would be sent to %q, outside marketingcloudapis.com", rest)
		}
	})
}

func FuzzDecodeAPIError(f *testing.F) {
	f.Add(400, []byte(`{"message":"Bad request","errorcode":10006,"documentation":"https://x","additionalErrors":[{"message":"a"},"b",3]}`))
	f.Add(429, []byte(`{"message":"Rate limit exceeded","errorcode":"50100","retryAfter":1.5}`))
	f.Add(429, []byte(`{"message":"Your requests are temporarily blocked.","errorcode":50200}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(596, []byte(``))
	f.Add(401, []byte(`{"requestServiceMessageID":"r-1"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := decodeAPIError(status, http.MethodGet, "https://h/p", body, "", 0)
		if err == nil {
			t.Fatal("nil error")
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%T is not an *APIError", err)
		}
		if ae.StatusCode != status {
			t.Fatalf("status %d, want %d", ae.StatusCode, status)
		}
		var rl *RateLimitError
		if (status == 429) != errors.As(err, &rl) {
			t.Fatalf("HTTP %d: RateLimitError %v", status, errors.As(err, &rl))
		}
		if status == 429 && !errors.Is(err, ErrRateLimited) {
			t.Fatal("a 429 does not match ErrRateLimited")
		}
		if errors.Is(err, ErrBlocked) && (status != 429 || ae.Code != 50200) {
			t.Fatal("ErrBlocked without 429/50200")
		}
		if ae.Message == "" {
			t.Fatal("empty message")
		}
		if ae.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v", ae.RetryAfter)
		}
		// Message and additional errors are each kept to one bounded line
		// (the request id is not: TestAPIErrorRequestIDMultiLine).
		for _, m := range append([]string{ae.Message}, ae.AdditionalErrors...) {
			if l := oneLine(m); strings.ContainsAny(l, "\r\n") || len(l) > 600 {
				t.Fatalf("message not kept to one bounded line: %q", l)
			}
		}
		_ = err.Error()
	})
}

func FuzzDecodeContactResult(f *testing.F) {
	f.Add([]byte(`{"operationStatus":"OK","rowsAffected":1,"contactKey":"K1","contactID":42,"contactTypeID":0,"isNewContactKey":true,"requestServiceMessageID":"r","responseDateTime":"2026-01-02T03:04:05.1234567-06:00","hasErrors":false,"resultMessages":[],"serviceMessageID":"s"}`))
	f.Add([]byte(`{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultType":"Error","resultCode":"AttributeNotFound","resultClass":"Validation","resultMessage":"Attribute 'X' does not exist in attribute set 'Email Demographics'."}]}`))
	f.Add([]byte(`{"operationStatus":"OK","hasErrors":true,"resultMessages":["Attribute set 'Nope' does not exist.",7,null,{"code":12}]}`))
	f.Add([]byte(`{"rowsAffetcted":3}`))
	f.Add([]byte(`{"operationStatus":"fail"}`))
	f.Add([]byte(`garbage`))
	f.Add([]byte(``))
	f.Add([]byte(` { "OperationStatus" : "OK" , "contactId" : -7 , "rowsAffetcted" : 2 , "extra" : "x" , "n" : 12 , "b" : true , "resultMessages" : [ ] } `))
	f.Add([]byte(`{"operationStatus":"OK","contactKey":"K\u00e9","contactID":1.0,"rowsAffected":01}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := decodeContactResult("K", body)
		// The fast path, when it takes an answer, decodes it exactly as
		// encoding/json does.
		if fast, ok := fastContactResult("K", body); ok {
			slow, serr := slowContactResult("K", body)
			if serr != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("fast path %+v differs from encoding/json %+v (%v) for %q", fast, slow, serr, body)
			}
		}
		if err != nil {
			if res != nil {
				t.Fatal("error with a result")
			}
			var ce *ContactError
			if errors.As(err, &ce) {
				if ce.OperationStatus == "" {
					t.Fatal("ContactError without operationStatus")
				}
				if s := ce.Error(); strings.ContainsAny(s, "\r\n") {
					t.Fatalf("ContactError text is not one line: %q", s)
				}
			}
			return
		}
		if res == nil {
			t.Fatal("nil result without error")
		}
		if len(body) > 0 && !json.Valid(body) {
			t.Fatalf("success from garbage %q", body)
		}
		var w wireContactResult
		if len(body) > 0 {
			require.NoError(t, json.Unmarshal(body, &w))
		}
		if strings.EqualFold(w.OperationStatus, "FAIL") || w.HasErrors {
			t.Fatalf("success from a failure answer %q", body)
		}
		if res.ContactKey == "" {
			t.Fatal("success without contact key")
		}
		if res.RowsAffected < 0 {
			t.Fatalf("negative rowsAffected %d", res.RowsAffected)
		}
	})
}

// fzClient returns a client whose token endpoint and REST API are served in
// memory: REST requests get rest's answer.
func fzClient(tb testing.TB, rest func(*http.Request) (int, []byte)) *Client {
	tb.Helper()
	tr := testutil.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/v2/token" {
			return testutil.JSONResponse(r, 200, `{"access_token":"tok","token_type":"Bearer","expires_in":1080}`), nil
		}
		st, b := rest(r)
		return testutil.JSONResponse(r, st, string(b)), nil
	})
	c, err := NewClient(Config{Subdomain: "fz", ClientID: "id", ClientSecret: "secret"},
		WithHTTPClient(&http.Client{Transport: tr}), WithAuthURL("https://auth.fz.test"), WithRESTURL("https://rest.fz.test"),
		WithRetry(0, 0, 0), WithRateLimit(1e5, 100))
	require.NoError(tb, err)
	return c
}

// FuzzAttributeSetList fuzzes the page decoding of AttributeSetsService.List
// (inline in List) through an in-memory transport.
func FuzzAttributeSetList(f *testing.F) {
	f.Add([]byte(`{"count":2,"page":1,"pageSize":50,"items":[{"id":"1","key":"EmailDemographics","name":{"value":"Email Demographics"},"attributes":[{"id":"a","name":{"value":"First Name"},"dataType":"Text","length":100}]},{"id":"2","name":"Email Addresses","fullyQualifiedName":"Email Addresses"}]}`))
	f.Add([]byte(`{"items":[{"name":{"value":7}}]}`))
	f.Add([]byte(`{"items":null,"count":-1}`))
	f.Add([]byte(`{"items":[null,{}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fzClient(t, func(*http.Request) (int, []byte) { return 200, body })
		p, err := c.AttributeSets.List(context.Background(), &ListOptions{Page: 1, PageSize: 50})
		if err != nil {
			if p != nil {
				t.Fatal("error with a page")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("success from garbage %q", body)
		}
		for _, d := range p.Items {
			if d == nil {
				t.Fatal("nil definition in a page")
			}
			for _, a := range d.Attributes {
				if a == nil {
					t.Fatal("nil attribute in a definition")
				}
			}
		}
		_ = NewCatalog(p.Items, false).Targets()
	})
}

func FuzzLoadMapping(f *testing.F) {
	f.Add([]byte(`{"identity":"identityMap.contactKey","attributes":[{"source":"person.name.firstName","target":"Email Demographics.First Name"},{"source":"personalEmail.address","target":"Email Addresses.Email Address"}],"segments":[{"id":"seg-1","mappingId":"salesforce_mc_segment_1"}]}`))
	f.Add([]byte(`{"identity":" "}`))
	f.Add([]byte(`{"identity":"a","extra":1}`))
	f.Add([]byte(`{"identity":"a"} {}`))
	f.Add([]byte(`{"identity":"a","attributes":[{"source":"","target":"x"}],"segments":[{"id":"s"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadMapping(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatal("error with a mapping")
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("success from garbage %q", data)
		}
		if strings.TrimSpace(m.Identity) == "" {
			t.Fatal("mapping accepted with an empty identity")
		}
		for _, a := range m.Attributes {
			if a.Source == "" || a.Target == "" {
				t.Fatalf("attribute mapping accepted with an empty field: %+v", a)
			}
		}
		for _, s := range m.Segments {
			if s.SegmentID == "" || s.MappingID == "" {
				t.Fatalf("segment accepted with an empty field: %+v", s)
			}
		}
	})
}

// fzCatalog is a catalog like a tenant's, with short text attributes so
// that the length check is exercised.
func fzCatalog() *Catalog {
	return NewCatalog([]*AttributeSetDefinition{
		{Name: SetEmailAddresses, Attributes: []*AttributeDefinition{{Name: AttrEmailAddress, DataType: "EmailAddress", Length: 254}}},
		{Name: SetEmailDemographics, Attributes: []*AttributeDefinition{
			{Name: "First Name", DataType: "Text", Length: 10},
			{Name: "Age", DataType: "Number"},
			{Name: "Opt In", DataType: "Boolean"},
			{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 20},
		}},
	}, false)
}

func fzMapper(tb testing.TB) (*ProfileMapper, map[string]int) {
	m, err := LoadMapping(strings.NewReader(`{"identity":"identityMap.contactKey","attributes":[
		{"source":"person.name.firstName","target":"Email Demographics.First Name"},
		{"source":"person.age","target":"Email Demographics.Age"},
		{"source":"optIn","target":"Email Demographics.Opt In"},
		{"source":"personalEmail.address","target":"Email Addresses.Email Address"}],
		"segments":[{"id":"seg-1","mappingId":"salesforce_mc_segment_1"},{"id":"seg-2","mappingId":"salesforce_mc_segment_1"}]}`))
	require.NoError(tb, err)
	pm, err := m.Compile(fzCatalog())
	require.NoError(tb, err)
	return pm, map[string]int{"First Name": 10, "Email Address": 254, "salesforce_mc_segment_1": 20}
}

func FuzzProfile(f *testing.F) {
	f.Add([]byte(`{"identityMap":{"contactKey":[{"id":"K-1","primary":true}]},"person":{"name":{"firstName":"Ann"},"age":42},"personalEmail":{"address":"ann@example.com"},"segmentMembership":{"ups":{"seg-1":{"status":"realized"},"seg-2":{"status":"exited"}}}}`))
	f.Add([]byte(`{"identityMap":{"contactKey":[{"id":"K-2"},{"id":"K-3","primary":true}]},"person":{"name":{"firstName":"Bartholomew the Long"}}}`))
	f.Add([]byte(`{"identityMap":{"contactKey":12345678901234567890},"optIn":true,"person":{"age":1e400}}`))
	f.Add([]byte(`{"identityMap":{"contactKey":"  "}}`))
	f.Add([]byte(`{"identityMap":{"contactKey":"K"},"person":{"name":{"firstName":[{"id":[{"id":"x"}]}]}}}`))
	f.Add([]byte(`{"identityMap":{"contactKey":"K"},"segmentMembership":{"ups":{"seg-1":{"status":7}}}}`))
	f.Add([]byte(`{} trailing`))
	f.Add([]byte(`{"identityMap":{"contactKey":[{"id":"M` + "\xfc" + `ller","primary":true}]},"a":["\ud800",{"b\\":"\udc00"}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		pm, lengths := fzMapper(t)
		prof, err := DecodeProfile(line)
		if err != nil {
			if prof != nil {
				t.Fatal("error with a profile")
			}
			var re *RecordError
			if errors.Is(err, ErrInvalidUTF8) && !errors.As(err, &re) {
				t.Fatalf("invalid text error is not a *RecordError: %v", err)
			}
			return
		}
		if !utf8.Valid(line) {
			t.Fatalf("invalid UTF-8 decoded (it would become U+FFFD): %q", line)
		}
		if !json.Valid(line) || prof == nil {
			t.Fatalf("profile decoded from garbage %q", line)
		}
		c, statuses, err := pm.Map(prof)
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("Map error %T is not a *RecordError: %v", err, err)
			}
			return
		}
		// A mapped contact is always sendable.
		if err := c.Validate(); err != nil {
			t.Fatalf("mapped contact is invalid: %v (line %q)", err, line)
		}
		body, err := contactBody(c)
		if err != nil || !json.Valid(body) {
			t.Fatalf("mapped contact does not encode: %v %q", err, body)
		}
		for _, a := range c.Attributes {
			if s, ok := a.Value.(string); ok && lengths[a.Name] > 0 && utf8.RuneCountInString(s) > lengths[a.Name] {
				t.Fatalf("%s value %q longer than %d", a.Name, s, lengths[a.Name])
			}
		}
		for id, st := range statuses {
			if _, err := ParseSegmentStatus(string(st)); err != nil || (id != "seg-1" && id != "seg-2") {
				t.Fatalf("status %q for segment %q", st, id)
			}
		}
	})
}

// decoderCase feeds one input to one decoder and returns its error.
type decoderCase struct {
	name string
	run  func(tb testing.TB, in []byte) error
}

func decoderCases() []decoderCase {
	return []decoderCase{
		{"parseTokenAnswer", func(_ testing.TB, in []byte) error {
			_, _, err := parseTokenAnswer(200, http.Header{}, in, "https://a/v2/token", fzNow, fzRestURL)
			return err
		}},
		{"decodeAPIError", func(_ testing.TB, in []byte) error {
			err := decodeAPIError(500, "GET", "https://a/b", in, "", 0)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Message != "Internal Server Error" {
				return errors.New("garbage decoded as an error body")
			}
			return err
		}},
		{"decodeContactResult", func(_ testing.TB, in []byte) error {
			_, err := decodeContactResult("K", in)
			return err
		}},
		{"AttributeSets.List", func(tb testing.TB, in []byte) error {
			c := fzClient(tb, func(*http.Request) (int, []byte) { return 200, in })
			_, err := c.AttributeSets.List(context.Background(), nil)
			return err
		}},
		{"LoadMapping", func(_ testing.TB, in []byte) error {
			_, err := LoadMapping(bytes.NewReader(in))
			return err
		}},
		{"DecodeProfile", func(_ testing.TB, in []byte) error {
			_, err := DecodeProfile(in)
			return err
		}},
	}
}

// TestDecodersRejectDeepNesting: 100k nested arrays or objects are an
// error from every decoder, not a stack overflow.
func TestDecodersRejectDeepNesting(t *testing.T) {
	t.Parallel()
	inputs := map[string][]byte{
		"arrays":            bytes.Repeat([]byte("["), 100_000),
		"objects":           append(bytes.Repeat([]byte(`{"a":`), 100_000), '1'),
		"closed arrays":     append(bytes.Repeat([]byte("["), 100_000), bytes.Repeat([]byte("]"), 100_000)...),
		"nested in a field": append([]byte(`{"items":[{"attributes":`), bytes.Repeat([]byte("["), 100_000)...),
	}
	for _, dc := range decoderCases() {
		for name, in := range inputs {
			err := dc.run(t, in)
			assert.Error(t, err, "%s: %s", dc.name, name)
		}
	}
}

// TestDecodersBoundedAllocation: a 1 MiB input makes every decoder
// allocate at most a small multiple of its size.
func TestDecodersBoundedAllocation(t *testing.T) {
	// Sequential: it reads the process-wide allocation counter.
	const size = 1 << 20
	str := func(prefix, suffix string) []byte {
		return []byte(prefix + strings.Repeat("x", size-len(prefix)-len(suffix)) + suffix)
	}
	inputs := map[string][]byte{
		"long string field": str(`{"message":"`, `"}`),
		"garbage":           bytes.Repeat([]byte("\xff"), size),
		"deep arrays":       bytes.Repeat([]byte("["), size),
		"long number":       str(`{"expires_in":1`, `}`),
	}
	const factor = 8
	for _, dc := range decoderCases() {
		for name, in := range inputs {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_ = dc.run(t, in)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			assert.LessOrEqual(t, alloc, uint64(factor*size), "%s: %s allocated %d bytes for %d", dc.name, name, alloc, size)
		}
	}
}

// manySmallObjects is a 1 MiB JSON body whose array field holds ~350k
// empty objects: the cheapest input per decoded element.
func manySmallObjects(prefix, suffix string) []byte {
	return manySmallObjectsN(1<<20, prefix, suffix)
}

func manySmallObjectsN(size int, prefix, suffix string) []byte {
	n := (size - len(prefix) - len(suffix)) / 3
	return []byte(prefix + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + suffix)
}

func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeContactResultManyMessagesAllocation guards the fix in
// unknownRefs: it built a strings.Replacer (a 256-entry table) per result
// message, so a FAIL answer of empty resultMessages allocated about 2500
// times its size (2.6 GB for 1 MiB). Now ~280x remain, from decoding ~350k messages into
// ResultMessage values (see TestSmallObjectAmplification).
func TestDecodeContactResultManyMessagesAllocation(t *testing.T) {
	// Sequential: it reads the process-wide allocation counter. 128 KiB:
	// the amplification is the same as for 1 MiB, the heap 8x smaller.
	in := manySmallObjectsN(128<<10, `{"operationStatus":"FAIL","resultMessages":[`, `]}`)
	var err error
	alloc := allocated(func() { _, err = decodeContactResult("K", in) })
	require.Error(t, err)
	assert.Less(t, alloc, uint64(500*len(in)), "allocated %.0fx the input", float64(alloc)/float64(len(in)))
}

// TestSmallObjectAmplification: bodies made of many empty objects once
// allocated hundreds of times their size, each element decoding into a
// large struct (List items ~350x, additionalErrors ~130x, resultMessages
// ~280x): with the 32 MiB response limit, gigabytes. Answers are now
// walked with jsonArray and only a capped number of elements decoded.
func TestSmallObjectAmplification(t *testing.T) {
	// Sequential: it reads the process-wide allocation counter.
	cases := map[string]func() error{
		"List items": func() error {
			in := manySmallObjects(`{"items":[`, `]}`)
			c := fzClient(t, func(*http.Request) (int, []byte) { return 200, in })
			_, err := c.AttributeSets.List(context.Background(), nil)
			return err
		},
		"decodeAPIError additionalErrors": func() error {
			return decodeAPIError(400, "GET", "https://a/b", manySmallObjects(`{"additionalErrors":[`, `]}`), "", 0)
		},
		"decodeContactResult resultMessages": func() error {
			_, err := decodeContactResult("K", manySmallObjects(`{"operationStatus":"FAIL","resultMessages":[`, `]}`))
			return err
		},
	}
	for name, run := range cases {
		alloc := allocated(func() { _ = run() })
		assert.LessOrEqual(t, alloc, uint64(8<<20), "%s allocated %d bytes for a 1 MiB body", name, alloc)
	}
}

// TestTokenExpiresInOverflow: an expires_in beyond what a time.Duration
// holds (~292 years) is clamped to maxTokenLifetime, not overflowed into a
// token born expired (end to end: TestHugeExpiresInIsClamped).
func TestTokenExpiresInOverflow(t *testing.T) {
	t.Parallel()
	for _, v := range []string{`10000000000`, `1e300`, `"99999999999"`} {
		tok, _, err := parseTokenAnswer(200, http.Header{}, []byte(`{"access_token":"t","expires_in":`+v+`}`), "https://a/v2/token", fzNow, fzRestURL)
		require.NoError(t, err)
		assert.Equal(t, maxTokenLifetime, tok.Expiry.Sub(fzNow), "expires_in %s", v)
	}
}

// TestRetryAfterBodyOverflow: a body's retryAfter becomes a RetryAfter that
// is never negative, however huge (1e300), and keeps fractions (0.5 s).
func TestRetryAfterBodyOverflow(t *testing.T) {
	t.Parallel()
	var ae *APIError
	require.ErrorAs(t, decodeAPIError(429, "GET", "https://a/b", []byte(`{"retryAfter":1e300}`), "", 0), &ae)
	assert.GreaterOrEqual(t, ae.RetryAfter, time.Duration(0))
	require.ErrorAs(t, decodeAPIError(429, "GET", "https://a/b", []byte(`{"retryAfter":0.5}`), "", 0), &ae)
	assert.Equal(t, 500*time.Millisecond, ae.RetryAfter)
}

// TestAPIErrorRequestIDMultiLine: APIError.Error is one line even when the
// body's requestServiceMessageID holds a newline, so a server cannot inject
// lines into logs.
func TestAPIErrorRequestIDMultiLine(t *testing.T) {
	t.Parallel()
	err := decodeAPIError(400, "GET", "https://a/b", []byte(`{"message":"m","requestServiceMessageID":"r\nlevel=ERROR msg=forged"}`), "", 0)
	assert.NotContains(t, err.Error(), "\n")
}
