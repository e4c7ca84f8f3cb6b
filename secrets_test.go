package sfmc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	leakSecret = "SECRET-5ecr3t-QQQ"
	leakToken  = "TOKEN-t0k3n-QQQ"
	leakPII    = "pii-ann@example.com"
)

// lockedBuffer is a log sink safe for the client's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// settle waits until nothing has been logged for 50 ms (the token source
// logs a refresh just after publishing its result), at most 2 s.
func (b *lockedBuffer) settle() {
	last, stable := -1, 0
	for i := 0; i < 200 && stable < 5; i++ {
		n := len(b.String())
		if n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
		time.Sleep(10 * time.Millisecond)
	}
}

// scripted is a fake tenant: the token endpoint and the REST API answer as
// the test's functions say. Tokens are always leakToken.
type scripted struct {
	srv   *httptest.Server
	token func(w http.ResponseWriter, r *http.Request)
	rest  func(w http.ResponseWriter, r *http.Request)
}

func tokenOK(url string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":1080,"rest_instance_url":%q}`, leakToken, url+"/")
	}
}

func jsonAnswer(status int, body string, hdr ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newScripted(t *testing.T, token, rest func(url string) func(http.ResponseWriter, *http.Request)) *scripted {
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v2/token" {
			s.token(w, r)
			return
		}
		s.rest(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.token = token(s.srv.URL)
	if rest != nil {
		s.rest = rest(s.srv.URL)
	} else {
		s.rest = jsonAnswer(200, `{"operationStatus":"OK","contactKey":"K","rowsAffected":1}`)
	}
	return s
}

func always(f func(http.ResponseWriter, *http.Request)) func(string) func(http.ResponseWriter, *http.Request) {
	return func(string) func(http.ResponseWriter, *http.Request) { return f }
}

func piiContact(key string) sfmc.Contact {
	return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: leakPII},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann " + leakPII},
	}}
}

// TestSecretsNeverLeak drives the error paths with a recognisable secret,
// token and PII value, a debug-level JSON logger, and checks that neither
// the secret nor the token appears in any error text or log record, nor in
// the printed Config and Client, and that the PII appears in no log record
// above debug level.
func TestSecretsNeverLeak(t *testing.T) {
	// Not parallel: about a second of CPU that would disturb the
	// timing-sensitive parallel tests (TestUpserterRateEfficiency).
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := sfmc.Config{Subdomain: "mcq4jrssqdlyc4lph19nnqgzzs84", ClientID: "client-id", ClientSecret: leakSecret, AccountID: "123", Scopes: []string{"a", "b"}}
	var texts []string
	var textsMu sync.Mutex
	record := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		textsMu.Lock()
		texts = append(texts, what+": "+fmt.Sprintf("%v | %+v | %s | %q", err, err, err, err))
		textsMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newClient := func(s *scripted, opts ...sfmc.Option) *sfmc.Client {
		// A ceiling far above what the test sends: the pace starts there,
		// so servers that fail everything do not slow the test down.
		all := append([]sfmc.Option{sfmc.WithAuthURL(s.srv.URL), sfmc.WithLogger(logger), sfmc.WithRateLimit(1e5, 100),
			sfmc.WithRetry(1, time.Millisecond, 5*time.Millisecond), sfmc.WithHTTPClient(s.srv.Client())}, opts...)
		c, err := sfmc.NewClient(cfg, all...)
		require.NoError(t, err)
		return c
	}

	// Token endpoint failures.
	tokenCases := map[string]func(http.ResponseWriter, *http.Request){
		"bad credentials": jsonAnswer(401, `{"error":"invalid_client","error_description":"Client authentication failed.","error_uri":"https://developer.salesforce.com/docs"}`),
		"IP block":        jsonAnswer(400, `{"error":"invalid_grant","error_description":"The client's IP address is unauthorized for this account."}`),
		"token 500":       jsonAnswer(500, `{"message":"boom"}`),
		"token 429":       jsonAnswer(429, `{"message":"slow","errorcode":50100}`, "Retry-After", "1"),
		"token oversized": jsonAnswer(200, `{"access_token":"`+strings.Repeat("A", 2<<20)+`"}`),
		"token not JSON":  jsonAnswer(200, `<html>`+leakPII+`</html>`),
	}
	for name, h := range tokenCases {
		s := newScripted(t, always(h), nil)
		c := newClient(s, sfmc.WithMaxResponseBytes(1<<20))
		record(name+" (Verify)", c.Verify(ctx))
		_, err := c.Contacts.Upsert(ctx, piiContact("K1"))
		record(name+" (Upsert)", err)
	}

	// REST failures with a good token.
	restCases := map[string]func(http.ResponseWriter, *http.Request){
		"REST 401":      jsonAnswer(401, `{"message":"Not Authorized","errorcode":0}`),
		"REST 403":      jsonAnswer(403, `{"message":"Insufficient privileges"}`),
		"REST 500":      jsonAnswer(500, `{"message":"An internal server error occurred."}`),
		"REST 503":      jsonAnswer(503, `{"message":"Service Unavailable","errorcode":50300,"retryAfter":0.001}`, "Retry-After", "0.001"),
		"REST 429":      jsonAnswer(429, `{"message":"Rate limit exceeded","errorcode":50100}`, "Retry-After", "0.001"),
		"REST 50200":    jsonAnswer(429, `{"message":"Your requests are temporarily blocked.","errorcode":50200}`),
		"REST oversize": jsonAnswer(200, `{"operationStatus":"OK","x":"`+strings.Repeat("B", 2<<20)+`"}`),
		"REST FAIL":     jsonAnswer(200, `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultCode":"AttributeNotFound","resultMessage":"Attribute 'Nope' does not exist in attribute set 'Email Demographics'."}]}`),
		"REST garbage":  jsonAnswer(200, `not json`),
	}
	for name, h := range restCases {
		s := newScripted(t, tokenOK, always(h))
		// A client per call: a 50200 pauses the client that got it.
		fresh := func() *sfmc.Client { return newClient(s, sfmc.WithMaxResponseBytes(1<<20)) }
		_, err := fresh().Contacts.Upsert(ctx, piiContact("K1"))
		record(name+" (Upsert)", err)
		// A contacts FAIL answer is a valid (empty) page or delete answer.
		if _, err = fresh().AttributeSets.List(ctx, &sfmc.ListOptions{Page: 1, PageSize: 5}); err != nil || name != "REST FAIL" {
			record(name+" (List)", err)
		}
		if _, err = fresh().Contacts.Delete(ctx, []string{"K1"}); err != nil || name != "REST FAIL" {
			record(name+" (Delete)", err)
		}
	}

	// Bad options and configuration: errors never echo the secret.
	for _, opt := range []sfmc.Option{
		sfmc.WithAuthURL("https://user:" + leakSecret + "@auth.example.com"),
		sfmc.WithRESTURL("https://user:" + leakSecret + "@rest.example.com"),
		sfmc.WithAuthURL("http://example.com"),
		sfmc.WithRESTURL("javascript:alert(1)"),
		sfmc.WithRetry(-1, 0, 0),
		sfmc.WithUserAgent("a\nb"),
	} {
		_, err := sfmc.NewClient(cfg, opt)
		record("option", err)
	}
	for _, bad := range []sfmc.Config{
		{Subdomain: "evil.com/", ClientID: "id", ClientSecret: leakSecret},
		{Subdomain: "x", ClientID: "", ClientSecret: leakSecret},
		{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret, AccountID: "12a"},
		{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret, Scopes: []string{"a b"}},
	} {
		_, err := sfmc.NewClient(bad)
		record("config", err)
	}

	// Upserter: callbacks panicking with the error text, and a fatal alert.
	for name, h := range map[string]func(string) func(http.ResponseWriter, *http.Request){
		"upserter REST 500":      always(jsonAnswer(500, `{"message":"boom"}`)),
		"upserter bad password":  nil,
		"upserter REST 50200":    always(jsonAnswer(429, `{"message":"blocked","errorcode":50200}`)),
		"upserter REST FAIL":     always(restCases["REST FAIL"]),
		"upserter REST 401 only": always(restCases["REST 401"]),
	} {
		tok := tokenOK
		if h == nil {
			tok = always(tokenCases["bad credentials"])
		}
		s := newScripted(t, tok, h)
		c := newClient(s)
		var alerts []sfmc.Alert
		var mu sync.Mutex
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, MaxAttempts: 2, FailOnBlock: true,
			RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
			OnResult: func(o sfmc.Outcome) {
				if o.Err != nil {
					record(name+" outcome", o.Err)
					panic("OnResult: " + o.Err.Error())
				}
			},
			OnAlert: func(a sfmc.Alert) {
				mu.Lock()
				alerts = append(alerts, a)
				mu.Unlock()
				panic("OnAlert: " + a.Message)
			}})
		require.NoError(t, err)
		for i := range 3 {
			if err := u.Add(ctx, piiContact(fmt.Sprint("U", i))); err != nil {
				record(name+" Add", err)
			}
		}
		require.NoError(t, u.Close(ctx), name)
		mu.Lock()
		for _, a := range alerts {
			textsMu.Lock()
			texts = append(texts, fmt.Sprintf("%s alert: %s %v %+v", name, a.Message, a.Err, a))
			textsMu.Unlock()
		}
		mu.Unlock()
	}

	// A run through the simulator with faults, and successes, for the
	// debug and info records of a normal day.
	srv := sfmctest.NewServer(sfmctest.WithCredentials("client-id", leakSecret), sfmctest.WithSeed(4),
		sfmctest.WithFaultRate(sfmctest.Fault500, 0.1), sfmctest.WithFaultRate(sfmctest.Fault429, 0.05),
		sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.05), sfmctest.WithRetryAfter(time.Millisecond))
	t.Cleanup(srv.Close)
	c, err := sfmc.NewClient(cfg, append(srv.ClientOptions(), sfmc.WithLogger(logger), sfmc.WithRateLimit(1e5, 100),
		sfmc.WithRetry(1, time.Millisecond, 5*time.Millisecond))...)
	require.NoError(t, err)
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, u.Add(ctx, piiContact(fmt.Sprint("S", i))))
	}
	bad := piiContact("S-bad")
	bad.Attributes = append(bad.Attributes, sfmc.AttributeValue{Set: "Email Demographics", Name: "Nope", Value: leakPII})
	require.NoError(t, u.Add(ctx, bad))
	require.NoError(t, u.Close(ctx))
	assert.Positive(t, u.Stats().Succeeded)

	logs.settle()
	out := logs.String()
	require.NotEmpty(t, texts)
	require.Contains(t, out, `"level":"DEBUG"`, "debug records were logged")
	require.Contains(t, out, `"level":"INFO"`, "failures were logged")
	require.Contains(t, out, "OnResult panicked", "the callback panics were logged")
	for _, s := range texts {
		assert.NotContains(t, s, leakSecret)
		assert.NotContains(t, s, leakToken)
	}
	assert.NotContains(t, out, leakSecret, "log buffer")
	assert.NotContains(t, out, leakToken, "log buffer")

	// PII: no record above debug level holds an attribute value.
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	records := 0
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "log line %q", sc.Text())
		records++
		if rec["level"] != "DEBUG" {
			assert.NotContains(t, sc.Text(), leakPII, "PII in a %v record", rec["level"])
		}
	}
	require.NoError(t, sc.Err())
	assert.Greater(t, records, 10)

	// Printing the configuration and the client.
	for _, v := range []any{cfg, &cfg, c, struct{ C sfmc.Config }{cfg}, []sfmc.Config{cfg}} {
		s := fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v)
		assert.NotContains(t, s, leakSecret, "%T printed", v)
		assert.NotContains(t, s, leakToken, "%T printed", v)
	}
	var lb bytes.Buffer
	slog.New(slog.NewJSONHandler(&lb, nil)).Info("cfg", "cfg", cfg, "client", c)
	assert.NotContains(t, lb.String(), leakSecret)
	assert.True(t, errors.Is(sfmc.ValidateSubdomain("a/b"), sfmc.ErrInvalidConfig))
}

// TestSecretInOptionURLErrors: client.go explicitURL echoes the raw
// value when url.Parse fails ("%q is not an absolute URL" with
// truncate(raw)), so a password in the URL lands in the error; and for a
// URL with a query it prints u.Redacted(), which keeps the query string
// (design §3: errors never contain query strings). Fix: never print raw;
// print the scheme and host only (u.Redacted() with RawQuery and Fragment
// cleared), or nothing but the option name when parsing fails.
func TestSecretInOptionURLErrors(t *testing.T) {
	cfg := sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret}
	for _, opt := range []sfmc.Option{
		sfmc.WithAuthURL("https://user:" + leakSecret + "@auth.example.com:port"),
		sfmc.WithRESTURL("https://rest.example.com/?access_token=" + leakToken),
		sfmc.WithAuthURL("https://auth.example.com/#" + leakToken),
	} {
		_, err := sfmc.NewClient(cfg, opt)
		require.ErrorIs(t, err, sfmc.ErrInvalidConfig)
		assert.NotContains(t, err.Error(), leakSecret)
		assert.NotContains(t, err.Error(), leakToken)
	}
}

// TestTokenSourcePrintsSecret: Client.TokenSource returns the
// internal *tokenSource, a struct without String/Format methods: printing
// it with %s shows the token request body, client_secret included, and
// %+v the same body as bytes. Fix: give tokenSource a Format/String that
// prints only the token URL (auth.go), or return a small wrapper type.
func TestTokenSourcePrintsSecret(t *testing.T) {
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret})
	require.NoError(t, err)
	ts := c.TokenSource()
	assert.NotContains(t, fmt.Sprintf("%s %v %+v %#v", ts, ts, ts, ts), leakSecret)
}
