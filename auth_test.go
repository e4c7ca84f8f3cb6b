package sfmc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(*Config)
		want map[string]any
	}{
		{
			name: "minimal",
			cfg:  func(*Config) {},
			want: map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret},
		},
		{
			name: "account id",
			cfg:  func(c *Config) { c.AccountID = "12345" },
			want: map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret, "account_id": "12345"},
		},
		{
			name: "scopes space-joined",
			cfg:  func(c *Config) { c.Scopes = []string{"list_and_subscribers_read", "list_and_subscribers_write"} },
			want: map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret,
				"scope": "list_and_subscribers_read list_and_subscribers_write"},
		},
		{
			name: "everything",
			cfg:  func(c *Config) { c.AccountID = "7"; c.Scopes = []string{"a"} },
			want: map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret,
				"account_id": "7", "scope": "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm := newTokenMock()
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
			cfg := testConfig()
			tt.cfg(&cfg)
			c, err := NewClient(cfg, WithHTTPClient(&http.Client{Transport: mt}), WithUserAgent("ua-test/1"))
			require.NoError(t, err)
			require.Equal(t, 0, tm.count(), "NewClient must make no network call")
			require.NoError(t, c.Verify(context.Background()))
			require.Equal(t, 1, tm.count())
			assert.Equal(t, tt.want, tm.lastBody())
			tm.mu.Lock()
			req := tm.reqs[0]
			tm.mu.Unlock()
			assert.Equal(t, http.MethodPost, req.Method)
			assert.Equal(t, testTokenURL, req.URL.String())
			assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
			assert.Equal(t, "ua-test/1", req.Header.Get("User-Agent"))
			assert.Empty(t, req.Header.Get("Authorization"))
		})
	}
}

func TestTokenCached(t *testing.T) {
	t.Parallel()
	c, mt, tm := newMockClient(t, nil)
	rm := newRESTMock(jsonResponder(200, `{}`))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	ctx := context.Background()
	for range 20 {
		require.NoError(t, c.Verify(ctx))
		_, err := c.do(ctx, request{method: http.MethodGet, path: testPath})
		require.NoError(t, err)
		base, err := c.RESTURL(ctx)
		require.NoError(t, err)
		require.Equal(t, testRESTBase, base)
	}
	assert.Equal(t, 1, tm.count())
	assert.Equal(t, 20, rm.count())
	for _, a := range rm.authHeaders() {
		assert.Equal(t, "Bearer "+tokenN(1), a)
	}
	tok, err := c.TokenSource().Token()
	require.NoError(t, err)
	assert.Equal(t, tokenN(1), tok.AccessToken)
	assert.Equal(t, testRESTBase, tok.Extra(extraRESTURL))
	assert.Equal(t, 1, tm.count())
}

// A 4 s token with the default 60 s margin: the margin is clamped to half
// the lifetime, so calls within the first 2 s reuse the token.
func TestTokenMarginClampedToHalfLifetime(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.expiresIn = 4
	c, _, _ := newMockClient(t, tm)
	for range 50 {
		require.NoError(t, c.Verify(context.Background()))
	}
	assert.Equal(t, 1, tm.count())
}

// Inside the refresh margin the still-valid token is served while one new
// token is fetched in the background. With a 2 s token and a 1 s margin the
// refresh starts exactly 1 s after the first fetch (fake clock).
func TestTokenRefreshedWithinMargin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tm := newTokenMock()
		tm.expiresIn = 2
		c, _, _ := newMockClient(t, tm, WithTokenRefreshMargin(time.Second))
		ts := c.TokenSource()
		ctx := context.Background()
		start := time.Now()
		tok, err := ts.Token()
		require.NoError(t, err)
		require.Equal(t, tokenN(1), tok.AccessToken)
		time.Sleep(time.Second - time.Nanosecond) // just before the margin
		for range 10 {
			require.NoError(t, c.Verify(ctx))
		}
		require.Equal(t, 1, tm.count(), "no refresh before the margin")

		tm.gate = make(chan struct{}) // hold the refresh in flight
		time.Sleep(time.Nanosecond)   // expiry - margin
		for range 10 {
			tok, err := ts.Token()
			require.NoError(t, err)
			assert.Equal(t, tokenN(1), tok.AccessToken, "the still-valid token is served during the refresh")
		}
		synctest.Wait() // the refresh waits at the gate
		assert.Equal(t, 2, tm.count(), "one refresh, not one per call")
		close(tm.gate)
		synctest.Wait()
		tok, err = ts.Token()
		require.NoError(t, err)
		assert.Equal(t, tokenN(2), tok.AccessToken)
		assert.Equal(t, 2, tm.count())
		assert.Equal(t, []time.Duration{0, time.Second}, sinceStart(start, tm.arrivals()), "fetched at 0 and at expiry - margin")
	})
}

// sinceStart returns each time as its offset from start.
func sinceStart(start time.Time, times []time.Time) []time.Duration {
	out := make([]time.Duration, len(times))
	for i, at := range times {
		out[i] = at.Sub(start)
	}
	return out
}

func TestTokenSingleFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fail    httpmock.Responder
		wantErr bool
	}{
		{name: "success"},
		{name: "failing endpoint", fail: jsonResponder(500, `{"message":"boom"}`), wantErr: true},
		{name: "invalid client", fail: jsonResponder(401, `{"error":"invalid_client"}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tm := newTokenMock()
				tm.fail = tt.fail
				tm.gate = make(chan struct{})
				c, _, _ := newMockClient(t, tm)
				const n = 256
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() { errs[i] = c.Verify(context.Background()) })
				}
				synctest.Wait() // every caller waits: one request at the gate, the others for its result
				close(tm.gate)
				wg.Wait()
				assert.Equal(t, 1, tm.count(), "one token request for %d callers", n)
				for _, err := range errs {
					if tt.wantErr {
						require.Error(t, err)
					} else {
						require.NoError(t, err)
					}
				}
			})
		})
	}
}

// A failing token endpoint is asked at most once per failureSpacing
// (500 ms), however many goroutines keep asking: 16 goroutines calling
// every millisecond for 1.2 s (fake clock) cause exactly three attempts,
// at 0, 500 ms and 1 s; every other call shares the last failure.
func TestTokenFailureSpacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tm := newTokenMock()
		tm.fail = jsonResponder(503, `{"message":"down"}`)
		c, _, _ := newMockClient(t, tm)
		start := time.Now()
		stop := start.Add(1200 * time.Millisecond)
		var calls atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					calls.Add(1)
					if !assert.Error(t, c.Verify(context.Background())) {
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, []time.Duration{0, 500 * time.Millisecond, time.Second}, sinceStart(start, tm.arrivals()))
		assert.Equal(t, int64(16*1200), calls.Load(), "a call per goroutine and millisecond")
	})
}

// A caller giving up does not cancel the refresh others wait for.
func TestTokenRefreshSurvivesCancelledCaller(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tm := newTokenMock()
		tm.gate = make(chan struct{})
		c, _, _ := newMockClient(t, tm)
		ctx1, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.Verify(ctx1) }()
		synctest.Wait() // caller 1 waits for the refresh it started
		require.Equal(t, 1, tm.count())
		cancel()
		require.ErrorIs(t, testutil.Recv(t, errc, time.Minute, "caller 1 released by its cancelled context"), context.Canceled)
		close(tm.gate)
		tok, err := c.TokenSource().Token()
		require.NoError(t, err)
		assert.Equal(t, tokenN(1), tok.AccessToken)
		assert.Equal(t, 1, tm.count(), "caller 2 got the token of the refresh caller 1 started")
	})
}

func TestTokenAnswerVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr string
		wantExp time.Duration
	}{
		{name: "expires_in as string", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","expires_in":"1079","token_type":"Bearer"}`, wantExp: 1079 * time.Second},
		{name: "no expires_in", body: `{"access_token":"TOKEN-t0k3n-XYZ-a"}`, wantExp: defaultExpiresIn},
		{name: "expires_in zero", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","expires_in":0}`, wantExp: defaultExpiresIn},
		{name: "expires_in garbage", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","expires_in":"soon"}`, wantExp: defaultExpiresIn},
		{name: "expires_in absurd", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","expires_in":1e20}`, wantExp: maxTokenLifetime},
		{name: "no access_token", body: `{"expires_in":1080}`, wantErr: "no access_token"},
		{name: "token type mac", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","token_type":"mac"}`, wantErr: "token_type"},
		{name: "not json", body: `<html>`, wantErr: "not a token"},
		{name: "foreign rest url", body: `{"access_token":"TOKEN-t0k3n-XYZ-a","rest_instance_url":"https://evil.example.com/"}`, wantErr: "outside marketingcloudapis.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tm := newTokenMock()
				tm.fail = jsonResponder(200, tt.body)
				c, _, _ := newMockClient(t, tm)
				start := time.Now()
				tok, err := c.TokenSource().Token()
				if tt.wantErr != "" {
					require.ErrorContains(t, err, tt.wantErr)
					requireNoSecret(t, "error", err.Error())
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.wantExp, tok.Expiry.Sub(start), "lifetime")
				for range 20 {
					require.NoError(t, c.Verify(context.Background()))
				}
				assert.Equal(t, 1, tm.count(), "the token is reused")
				rest, err := c.RESTURL(context.Background())
				require.NoError(t, err)
				assert.Equal(t, testRESTBase, rest, "no rest_instance_url: the subdomain's REST host")
			})
		})
	}
}

// The token request never follows a redirect to another host: the secret
// would go with it.
func TestTokenRedirectRefused(t *testing.T) {
	t.Parallel()
	var bHits atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"TOKEN-t0k3n-XYZ-b","expires_in":1080}`))
	}))
	defer b.Close()
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer a.Close()
	c, err := NewClient(testConfig(), WithAuthURL(a.URL), WithRetry(0, 0, 0))
	require.NoError(t, err)
	err = c.Verify(context.Background())
	require.ErrorContains(t, err, "redirect")
	assert.Equal(t, int64(0), bHits.Load(), "the other host must not receive the token request")
	requireNoSecret(t, "error", err.Error())
}

func TestNormalizeInstanceURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw      string
		trustAny bool
		want     string
		wantErr  string
	}{
		{raw: "", want: ""},
		{raw: "mc1.rest.marketingcloudapis.com", want: "https://mc1.rest.marketingcloudapis.com"},
		{raw: "mc1.rest.marketingcloudapis.com/", want: "https://mc1.rest.marketingcloudapis.com"},
		{raw: "https://mc1.rest.marketingcloudapis.com/", want: "https://mc1.rest.marketingcloudapis.com"},
		{raw: "  https://MC1.rest.marketingcloudapis.com//  ", want: "https://MC1.rest.marketingcloudapis.com"},
		{raw: "https://mc1.rest.marketingcloudapis.com:8443/base/", want: "https://mc1.rest.marketingcloudapis.com:8443/base"},
		{raw: "https://evil.com/", wantErr: "outside marketingcloudapis.com"},
		{raw: "evil.com", wantErr: "outside marketingcloudapis.com"},
		{raw: "https://evilmarketingcloudapis.com", wantErr: "outside marketingcloudapis.com"},
		{raw: "https://marketingcloudapis.com.evil.com", wantErr: "outside marketingcloudapis.com"},
		{raw: "https://evil.com/x.marketingcloudapis.com", wantErr: "outside marketingcloudapis.com"},
		{raw: "https://x.marketingcloudapis.com@evil.com", wantErr: "unusable"},
		{raw: "http://mc1.rest.marketingcloudapis.com", wantErr: "plain-http"},
		{raw: "http://evil.com", trustAny: true, wantErr: "plain-http"},
		{raw: "ftp://mc1.rest.marketingcloudapis.com", wantErr: "unusable"},
		{raw: "https://mc1.rest.marketingcloudapis.com/?a=b", wantErr: "unusable"},
		{raw: "https://", wantErr: "unusable"},
		{raw: "https://rest.example.org/", trustAny: true, want: "https://rest.example.org"},
		{raw: "http://127.0.0.1:8080/", trustAny: true, want: "http://127.0.0.1:8080"},
		{raw: "http://localhost:8080", want: "", wantErr: "not https"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := normalizeInstanceURL(tt.raw, tt.trustAny)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// End to end, without explicit URLs: the token comes from the subdomain's
// auth host and its rest_instance_url is normalised and checked.
func TestInstanceURLFromToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rest    string
		authURL string // WithAuthURL, when set
		want    string
		wantErr string
	}{
		{name: "no scheme, trailing slash", rest: testSubdomain + ".rest.marketingcloudapis.com/", want: testRESTBase},
		{name: "https", rest: testRESTBase + "/", want: testRESTBase},
		{name: "foreign host", rest: "https://evil.example.com/", wantErr: "outside marketingcloudapis.com"},
		{name: "foreign host, no scheme", rest: "evil.example.com", wantErr: "outside marketingcloudapis.com"},
		{name: "plain http", rest: "http://" + testSubdomain + ".rest.marketingcloudapis.com", wantErr: "plain-http"},
		{name: "explicit auth URL trusts any https host", authURL: "https://auth.proxy.example", rest: "https://rest.proxy.example/", want: "https://rest.proxy.example"},
		{name: "explicit auth URL still refuses plain http", authURL: "https://auth.proxy.example", rest: "http://rest.proxy.example/", wantErr: "plain-http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm := newTokenMock()
			tm.rest = tt.rest
			mt := httpmock.NewMockTransport()
			tokenURL := testTokenURL
			opts := []Option{WithHTTPClient(&http.Client{Transport: mt}), fastRetry(1)}
			if tt.authURL != "" {
				tokenURL = tt.authURL + "/v2/token"
				opts = append(opts, WithAuthURL(tt.authURL))
			}
			mt.RegisterResponder(http.MethodPost, tokenURL, tm.respond)
			rm := newRESTMock(jsonResponder(200, `{"ok":true}`))
			mt.RegisterNoResponder(rm.respond)
			c, err := NewClient(testConfig(), opts...)
			require.NoError(t, err)
			got, err := c.RESTURL(context.Background())
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				_, err = c.do(context.Background(), request{method: http.MethodGet, path: testPath})
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, 0, rm.count(), "no REST request to a refused host")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			body, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
			require.NoError(t, err)
			assert.JSONEq(t, `{"ok":true}`, string(body))
			require.Equal(t, 1, rm.count())
			assert.Equal(t, "Bearer "+tokenN(1), rm.authHeaders()[0])
			assert.Equal(t, 1, mt.GetCallCountInfo()[http.MethodPost+" "+tokenURL])
		})
	}
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	c, _, tm := newMockClient(t, nil)
	ctx := context.Background()
	require.NoError(t, c.Verify(ctx))
	c.Invalidate()
	tok, err := c.tokens.token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tokenN(2), tok.AccessToken)
	// Invalidating an old token keeps the current one.
	c.tokens.invalidate(tokenN(1))
	tok, err = c.tokens.token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tokenN(2), tok.AccessToken)
	assert.Equal(t, 2, tm.count())
}

// A failed token request is shared for failureSpacing, not cached: the
// first call after it asks again.
func TestTokenErrorNotCachedForever(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		tm := newTokenMock()
		tm.fail = func(req *http.Request) (*http.Response, error) {
			if fail.Load() {
				return nil, errors.New("connection reset by peer")
			}
			return testutil.JSONResponse(req, 200, `{"access_token":"TOKEN-t0k3n-XYZ-ok","expires_in":1080,"rest_instance_url":"`+testRESTBase+`"}`), nil
		}
		c, _, _ := newMockClient(t, tm)
		err := c.Verify(context.Background())
		require.ErrorContains(t, err, "connection reset")
		assert.False(t, strings.Contains(err.Error(), testSecret))
		fail.Store(false)
		time.Sleep(500*time.Millisecond - time.Nanosecond) // failureSpacing
		require.ErrorContains(t, c.Verify(context.Background()), "connection reset", "the failure is shared within the spacing")
		assert.Equal(t, 1, tm.count())
		time.Sleep(time.Nanosecond)
		require.NoError(t, c.Verify(context.Background()), "asked again after the spacing")
		assert.Equal(t, 2, tm.count())
	})
}

// A token already inside its margin when it arrives (a tiny expires_in) is
// handed to the waiting caller; it does not trigger refresh after refresh.
func TestTokenShortLifetimeNoRefreshLoop(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.fail = jsonResponder(200, `{"access_token":"TOKEN-t0k3n-XYZ-short","expires_in":0.000001}`)
	c, _, _ := newMockClient(t, tm)
	// Real time: a refresh loop never blocks, so a bubble's clock would
	// not advance to fail it.
	done := make(chan error, 1)
	go func() {
		_, err := c.TokenSource().Token()
		done <- err
	}()
	require.NoError(t, testutil.Recv(t, done, 5*time.Second, "a short-lived token is handed over, not refreshed again and again"))
	assert.Equal(t, 1, tm.count())
}
