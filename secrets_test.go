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
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	leakSecret = "SECRET-5ecr3t-QQQ"
	leakToken  = "TOKEN-t0k3n-QQQ"
	leakPII    = "pii-ann@example.com"
)

// scriptedURL is the base URL of the in-memory tenants of newScripted.
const scriptedURL = "https://tenant.example.com"

// scripted is an in-memory fake tenant at scriptedURL: the token endpoint
// and the REST API answer as the test's handlers say. It needs no socket,
// so it also serves inside a testing/synctest bubble.
type scripted struct {
	token, rest http.HandlerFunc
}

// tokenOK answers a token request with leakToken and rest_instance_url url.
func tokenOK(url string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":1080,"rest_instance_url":%q}`, leakToken, url+"/")
	}
}

// newScripted returns a tenant whose token endpoint answers with token and
// whose REST routes answer with rest (nil: a contact upserted).
func newScripted(token, rest http.HandlerFunc) *scripted {
	if rest == nil {
		rest = testutil.JSONHandler(200, `{"operationStatus":"OK","contactKey":"K","rowsAffected":1}`)
	}
	return &scripted{token: token, rest: rest}
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if r.URL.Path == "/v2/token" {
		s.token(w, r)
		return
	}
	s.rest(w, r)
}

// options points a client at s, in memory.
func (s *scripted) options() []sfmc.Option {
	return []sfmc.Option{sfmc.WithAuthURL(scriptedURL), sfmc.WithHTTPClient(&http.Client{Transport: testutil.InMemory(s)})}
}

// restOK is a tenant answering every token request with leakToken and
// every REST request with rest.
func restOK(rest http.HandlerFunc) *scripted { return newScripted(tokenOK(scriptedURL), rest) }

func piiContact(key string) sfmc.Contact {
	return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: leakPII},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann " + leakPII},
	}}
}

// TestPublicAPIHidesCredentialsAndPII drives the public API's error paths
// with a recognisable secret, token and PII value and a debug-level JSON
// logger: token endpoint and REST failures, bad options and config fields,
// Upserter callbacks that panic with the error text and its alerts, and a
// run through the simulator with faults. Neither the secret nor the token
// appears in any error text, alert or log record, nor in the printed Config
// and Client; the PII appears in no log record above debug level.
// (TestPipelineAndConfigHideCredentials covers the pipeline from inside.)
func TestPublicAPIHidesCredentialsAndPII(t *testing.T) {
	t.Parallel()
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := sfmc.Config{Subdomain: "mcq4jrssqdlyc4lph19nnqgzzs84", ClientID: "client-id", ClientSecret: leakSecret, AccountID: "123", Scopes: []string{"a", "b"}}
	var texts []string
	var textsMu sync.Mutex
	record := func(t *testing.T, what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		textsMu.Lock()
		texts = append(texts, what+": "+fmt.Sprintf("%v | %+v | %s | %q", err, err, err, err))
		textsMu.Unlock()
	}

	// The scripted tenants serve in memory, on a bubble's clock: the
	// bubble ends when every goroutine has (the token source logs a refresh
	// just after publishing it), so every log record is in when it returns.
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		newClient := func(s *scripted, opts ...sfmc.Option) *sfmc.Client {
			all := append(s.options(), sfmc.WithLogger(logger), sfmc.WithRetry(1, time.Millisecond, 5*time.Millisecond))
			c, err := sfmc.NewClient(cfg, append(all, opts...)...)
			require.NoError(t, err)
			return c
		}

		// Token endpoint failures.
		tokenCases := map[string]http.HandlerFunc{
			"bad credentials": testutil.JSONHandler(401, `{"error":"invalid_client","error_description":"Client authentication failed.","error_uri":"https://developer.salesforce.com/docs"}`),
			"IP block":        testutil.JSONHandler(400, `{"error":"invalid_grant","error_description":"The client's IP address is unauthorized for this account."}`),
			"token 500":       testutil.JSONHandler(500, `{"message":"boom"}`),
			"token 429":       testutil.JSONHandler(429, `{"message":"slow","errorcode":50100}`, "Retry-After", "1"),
			"token oversized": testutil.JSONHandler(200, `{"access_token":"`+strings.Repeat("A", 2<<20)+`"}`),
			"token not JSON":  testutil.JSONHandler(200, `<html>`+leakPII+`</html>`),
		}
		for name, h := range tokenCases {
			c := newClient(newScripted(h, nil), sfmc.WithMaxResponseBytes(1<<20))
			record(t, name+" (Verify)", c.Verify(ctx))
			_, err := c.Contacts.Upsert(ctx, piiContact("K1"))
			record(t, name+" (Upsert)", err)
		}

		// REST failures with a good token.
		restCases := map[string]http.HandlerFunc{
			"REST 401":      testutil.JSONHandler(401, `{"message":"Not Authorized","errorcode":0}`),
			"REST 403":      testutil.JSONHandler(403, `{"message":"Insufficient privileges"}`),
			"REST 500":      testutil.JSONHandler(500, `{"message":"An internal server error occurred."}`),
			"REST 503":      testutil.JSONHandler(503, `{"message":"Service Unavailable","errorcode":50300,"retryAfter":0.001}`, "Retry-After", "0.001"),
			"REST 429":      testutil.JSONHandler(429, `{"message":"Rate limit exceeded","errorcode":50100}`, "Retry-After", "0.001"),
			"REST 50200":    testutil.JSONHandler(429, `{"message":"Your requests are temporarily blocked.","errorcode":50200}`),
			"REST oversize": testutil.JSONHandler(200, `{"operationStatus":"OK","x":"`+strings.Repeat("B", 2<<20)+`"}`),
			"REST FAIL":     testutil.JSONHandler(200, `{"operationStatus":"FAIL","hasErrors":true,"resultMessages":[{"resultCode":"AttributeNotFound","resultMessage":"Attribute 'Nope' does not exist in attribute set 'Email Demographics'."}]}`),
			"REST garbage":  testutil.JSONHandler(200, `not json`),
		}
		for name, h := range restCases {
			s := restOK(h)
			// A client per call: a 50200 pauses the client that got it.
			fresh := func() *sfmc.Client { return newClient(s, sfmc.WithMaxResponseBytes(1<<20)) }
			_, err := fresh().Contacts.Upsert(ctx, piiContact("K1"))
			record(t, name+" (Upsert)", err)
			// A contacts FAIL answer is a valid (empty) page or delete answer.
			if _, err = fresh().AttributeSets.List(ctx, &sfmc.ListOptions{Page: 1, PageSize: 5}); err != nil || name != "REST FAIL" {
				record(t, name+" (List)", err)
			}
			if _, err = fresh().Contacts.Delete(ctx, []string{"K1"}); err != nil || name != "REST FAIL" {
				record(t, name+" (Delete)", err)
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
			record(t, "option", err)
		}
		for _, bad := range []sfmc.Config{
			{Subdomain: "evil.com/", ClientID: "id", ClientSecret: leakSecret},
			{Subdomain: "x", ClientID: "", ClientSecret: leakSecret},
			{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret, AccountID: "12a"},
			{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret, Scopes: []string{"a b"}},
		} {
			_, err := sfmc.NewClient(bad)
			record(t, "config", err)
		}

		// Upserter: callbacks panicking with the error text, and a fatal alert.
		for name, s := range map[string]*scripted{
			"upserter REST 500":      restOK(testutil.JSONHandler(500, `{"message":"boom"}`)),
			"upserter bad password":  newScripted(tokenCases["bad credentials"], nil),
			"upserter REST 50200":    restOK(testutil.JSONHandler(429, `{"message":"blocked","errorcode":50200}`)),
			"upserter REST FAIL":     restOK(restCases["REST FAIL"]),
			"upserter REST 401 only": restOK(restCases["REST 401"]),
		} {
			c := newClient(s)
			var alerts []sfmc.Alert
			var mu sync.Mutex
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, MaxAttempts: 2, FailOnBlock: true,
				RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
				OnResult: func(o sfmc.Outcome) {
					if o.Err != nil {
						record(t, name+" outcome", o.Err)
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
					record(t, name+" Add", err)
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
	})

	// A run through the simulator with faults, and successes, for the
	// debug and info records of a normal day.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := sfmctest.NewServer(sfmctest.WithCredentials("client-id", leakSecret), sfmctest.WithSeed(4),
		sfmctest.WithFaultRate(sfmctest.Fault500, 0.1), sfmctest.WithFaultRate(sfmctest.Fault429, 0.05),
		sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.05), sfmctest.WithRetryAfter(time.Millisecond))
	t.Cleanup(srv.Close)
	c, err := sfmc.NewClient(cfg, append(srv.ClientOptions(), sfmc.WithLogger(logger), sfmc.WithRateLimit(1e5, 100),
		sfmc.WithRetry(1, time.Millisecond, 5*time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, c.Verify(ctx))
	// The token source logs the token just after handing it over: wait for
	// that record, so that the checks below read it.
	require.True(t, testutil.WaitFor(5*time.Second, time.Millisecond, func() bool { return strings.Contains(logs.String(), "sfmc: token obtained") }))
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
	assert.Equal(t, int64(1), srv.Stats().TokenRequests, "no second token: no refresh logged after the wait above")

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

// TestOptionURLErrorsHideCredentials: the error of a WithAuthURL or
// WithRESTURL value that is refused shows neither the user info of a URL
// that does not parse nor its query or fragment, which may hold a password
// or a token.
func TestOptionURLErrorsHideCredentials(t *testing.T) {
	t.Parallel()
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

// TestTokenSourcePrintsNoSecret: printing Client.TokenSource with any verb
// shows the token URL, never the token request body with the secret.
func TestTokenSourcePrintsNoSecret(t *testing.T) {
	t.Parallel()
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: leakSecret})
	require.NoError(t, err)
	ts := c.TokenSource()
	printed := fmt.Sprintf("%s %v %+v %#v", ts, ts, ts, ts)
	assert.NotContains(t, printed, leakSecret)
	assert.Contains(t, printed, "https://x.auth.marketingcloudapis.com/v2/token")
}
