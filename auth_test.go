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
	"time"

	"github.com/jarcoal/httpmock"
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

// Inside the refresh margin the still-valid token is served and one new
// token is fetched.
func TestTokenRefreshedWithinMargin(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.expiresIn = 2
	c, _, _ := newMockClient(t, tm, WithTokenRefreshMargin(time.Second))
	ctx := context.Background()
	tok, err := c.tokens.token(ctx)
	require.NoError(t, err)
	require.Equal(t, tokenN(1), tok.AccessToken)
	for range 10 {
		require.NoError(t, c.Verify(ctx))
	}
	require.Equal(t, 1, tm.count(), "no refresh before the margin")
	time.Sleep(1100 * time.Millisecond) // into the margin (refresh at 1 s, expiry at 2 s)
	for range 10 {
		_, err := c.tokens.token(ctx)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		tok, err := c.tokens.token(ctx)
		return err == nil && tok.AccessToken == tokenN(2)
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 2, tm.count(), "one refresh, not one per call")
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
			tm := newTokenMock()
			tm.fail = tt.fail
			tm.gate = make(chan struct{})
			tm.arrived = make(chan struct{}, 1)
			c, _, _ := newMockClient(t, tm)
			const n = 256
			var wg sync.WaitGroup
			var started sync.WaitGroup
			errs := make([]error, n)
			started.Add(n)
			for i := range n {
				wg.Go(func() {
					started.Done()
					errs[i] = c.Verify(context.Background())
				})
			}
			started.Wait()
			<-tm.arrived
			time.Sleep(100 * time.Millisecond) // let the others pile up on the in-flight request
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
	}
}

// A failing token endpoint is asked at most about twice a second, however
// many goroutines keep asking.
func TestTokenFailureSpacing(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.fail = jsonResponder(503, `{"message":"down"}`)
	c, _, _ := newMockClient(t, tm)
	start := time.Now()
	// Ask for at least 1.2 s, and on until a second attempt was made (a
	// loaded machine may starve the goroutines), at most 10 s.
	minStop, maxStop := start.Add(1200*time.Millisecond), start.Add(10*time.Second)
	var calls atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for now := time.Now(); now.Before(maxStop) && (now.Before(minStop) || tm.count() < 2); now = time.Now() {
				calls.Add(1)
				err := c.Verify(context.Background())
				if !assert.Error(t, err) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, tm.count(), 2, "a new attempt after the spacing")
	// Attempts are at least 500 ms apart: never more than one per started
	// half second, never one per call.
	assert.LessOrEqual(t, tm.count(), 1+int(elapsed/(500*time.Millisecond)), "at most ~2 attempts per second (elapsed %v)", elapsed)
	assert.Greater(t, calls.Load(), int64(10*tm.count()))
}

// A caller giving up does not cancel the refresh others wait for.
func TestTokenRefreshSurvivesCancelledCaller(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.gate = make(chan struct{})
	tm.arrived = make(chan struct{}, 1)
	c, _, _ := newMockClient(t, tm)
	ctx1, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Verify(ctx1) }()
	<-tm.arrived
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("caller 1 not released by its cancelled context")
	}
	close(tm.gate)
	tok, err := c.tokens.token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, tokenN(1), tok.AccessToken)
	assert.Equal(t, 1, tm.count(), "caller 2 got the token of the refresh caller 1 started")
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
			tm := newTokenMock()
			tm.fail = jsonResponder(200, tt.body)
			c, _, _ := newMockClient(t, tm)
			start := time.Now()
			tok, err := c.tokens.token(context.Background())
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				requireNoSecret(t, "error", err.Error())
				return
			}
			require.NoError(t, err)
			assert.WithinDuration(t, start.Add(tt.wantExp), tok.Expiry, 5*time.Second)
			for range 20 {
				require.NoError(t, c.Verify(context.Background()))
			}
			assert.Equal(t, 1, tm.count(), "the token is reused")
			rest, err := c.RESTURL(context.Background())
			require.NoError(t, err)
			assert.Equal(t, testRESTBase, rest, "no rest_instance_url: the subdomain's REST host")
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

func TestTokenErrorNotCachedForever(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	tm := newTokenMock()
	tm.fail = func(req *http.Request) (*http.Response, error) {
		if fail.Load() {
			return nil, errors.New("connection reset by peer")
		}
		return jsonResponse(200, `{"access_token":"TOKEN-t0k3n-XYZ-ok","expires_in":1080,"rest_instance_url":"`+testRESTBase+`"}`), nil
	}
	c, _, _ := newMockClient(t, tm)
	err := c.Verify(context.Background())
	require.ErrorContains(t, err, "connection reset")
	assert.False(t, strings.Contains(err.Error(), testSecret))
	fail.Store(false)
	require.Eventually(t, func() bool { return c.Verify(context.Background()) == nil }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, 2, tm.count())
}

// A token already inside its margin when it arrives (a tiny expires_in) is
// handed to the waiting caller; it does not trigger refresh after refresh.
func TestTokenShortLifetimeNoRefreshLoop(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	tm.fail = jsonResponder(200, `{"access_token":"TOKEN-t0k3n-XYZ-short","expires_in":0.000001}`)
	c, _, _ := newMockClient(t, tm)
	done := make(chan error, 1)
	go func() {
		_, err := c.tokens.token(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("token() keeps refreshing a short-lived token")
	}
	assert.Equal(t, 1, tm.count())
}
