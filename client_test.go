package sfmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
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

func TestValidateSubdomain(t *testing.T) {
	t.Parallel()
	good := []string{
		"mcq4jrssqdlyc4lph19nnqgzzs84", // 28 chars, mc...
		"mc563885gzs27c5t9-63k636ttgm", // with hyphen
		"test123",                      // short, as Segment accepts
		strings.Repeat("a", 63),
	}
	for _, s := range good {
		t.Run("good/"+s, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, ValidateSubdomain(s))
			_, err := NewClient(Config{Subdomain: s, ClientID: "id", ClientSecret: "s"})
			require.NoError(t, err)
		})
	}
	bad := []struct {
		name, sub, want string
	}{
		{"empty", "", "empty"},
		{"uppercase", "mcQ4", `"Q"`},
		{"dot", "mc.evil", `"."`},
		{"slash", "mc/evil", `"/"`},
		{"at", "mc@evil", `"@"`},
		{"colon", "mc:443", `":"`},
		{"question", "mc?x", `"?"`},
		{"hash", "mc#x", `"#"`},
		{"space", "mc x", `" "`},
		{"tab", "mc\tx", `"\t"`},
		{"newline", "mc\nx", `"\n"`},
		{"unicode", "mcé1", `"é"`},
		{"too long", strings.Repeat("a", 64), "64 characters"},
		{"leading hyphen", "-mc1", "start or end with '-'"},
		{"trailing hyphen", "mc1-", "start or end with '-'"},
		{"evil.com#", "evil.com#", `"."`},
		{"full host", "x.auth.marketingcloudapis.com", `"."`},
		{"url", "https://x.auth.marketingcloudapis.com", `":"`},
	}
	for _, tt := range bad {
		t.Run("bad/"+tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateSubdomain(tt.sub)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
			_, err = NewClient(Config{Subdomain: tt.sub, ClientID: "id", ClientSecret: "s"})
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(*Config)
		opt  Option
		want string // in the error; "" means valid
	}{
		{name: "defaults", want: ""},
		{name: "nil option ignored", opt: nil, want: ""},
		{name: "empty client id", cfg: func(c *Config) { c.ClientID = " " }, want: "ClientID"},
		{name: "empty secret", cfg: func(c *Config) { c.ClientSecret = "" }, want: "ClientSecret"},
		{name: "account id not digits", cfg: func(c *Config) { c.AccountID = "12a" }, want: "AccountID"},
		{name: "account id digits", cfg: func(c *Config) { c.AccountID = "12345" }},
		{name: "empty scope", cfg: func(c *Config) { c.Scopes = []string{"a", ""} }, want: "Scopes[1]"},
		{name: "scope with space", cfg: func(c *Config) { c.Scopes = []string{"a b"} }, want: "Scopes[0]"},
		{name: "nil http client", opt: WithHTTPClient(nil), want: "WithHTTPClient"},
		{name: "auth url https", opt: WithAuthURL("https://auth.example.com/base/")},
		{name: "auth url http loopback", opt: WithAuthURL("http://127.0.0.1:8080")},
		{name: "auth url http localhost", opt: WithAuthURL("http://localhost:8080")},
		{name: "auth url http non-loopback", opt: WithAuthURL("http://auth.example.com"), want: "plain http"},
		{name: "auth url ftp", opt: WithAuthURL("ftp://auth.example.com"), want: "scheme"},
		{name: "auth url with query", opt: WithAuthURL("https://auth.example.com/?x=1"), want: "query"},
		{name: "auth url with fragment", opt: WithAuthURL("https://auth.example.com/#x"), want: "fragment"},
		{name: "auth url with user info", opt: WithAuthURL("https://u:p@auth.example.com"), want: "user info"},
		{name: "auth url relative", opt: WithAuthURL("auth.example.com"), want: "absolute"},
		{name: "auth url empty", opt: WithAuthURL(""), want: "absolute"},
		{name: "rest url http non-loopback", opt: WithRESTURL("http://rest.example.com"), want: "WithRESTURL"},
		{name: "rest url https", opt: WithRESTURL("https://rest.example.com")},
		{name: "retry negative", opt: WithRetry(-1, 0, 0), want: "WithRetry"},
		{name: "retry min > max", opt: WithRetry(1, time.Second, time.Millisecond), want: "WithRetry"},
		{name: "retry negative wait", opt: WithRetry(1, -time.Second, time.Millisecond), want: "WithRetry"},
		{name: "retry zero", opt: WithRetry(0, 0, 0)},
		{name: "rate limit 0", opt: WithRateLimit(0, 1), want: "WithRateLimit"},
		{name: "rate limit negative", opt: WithRateLimit(-1, 1), want: "WithRateLimit"},
		{name: "rate limit burst 0", opt: WithRateLimit(10, 0), want: "WithRateLimit"},
		{name: "rate limit ok", opt: WithRateLimit(10, 1)},
		{name: "nil limiter", opt: WithLimiter(nil), want: "WithLimiter"},
		{name: "nil cooldown", opt: WithCooldown(nil), want: "WithCooldown"},
		{name: "nil logger means none", opt: WithLogger(nil)},
		{name: "empty user agent", opt: WithUserAgent(""), want: "WithUserAgent"},
		{name: "multi-line user agent", opt: WithUserAgent("a\r\nX-Evil: 1"), want: "WithUserAgent"},
		{name: "user agent with NUL", opt: WithUserAgent("a\x00b"), want: "WithUserAgent"},
		{name: "user agent with DEL", opt: WithUserAgent("a\x7fb"), want: "WithUserAgent"},
		{name: "user agent with tab", opt: WithUserAgent("my app\t1.0")},
		{name: "max bytes huge", opt: WithMaxResponseBytes(math.MaxInt64)},
		{name: "negative margin", opt: WithTokenRefreshMargin(-time.Second), want: "WithTokenRefreshMargin"},
		{name: "max bytes 0", opt: WithMaxResponseBytes(0), want: "WithMaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c, err := NewClient(cfg, WithHTTPClient(&http.Client{Transport: mt}), tt.opt)
			assert.Equal(t, 0, mt.GetTotalCallCount(), "NewClient makes no network call")
			if tt.want == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				require.NotNil(t, c.Contacts)
				require.NotNil(t, c.AttributeSets)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, c)
			requireNoSecret(t, "config error", err.Error())
		})
	}
}

func TestExplicitURLs(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	tm := newTokenMock()
	tm.rest = "https://ignored.example.com"
	mt.RegisterResponder(http.MethodPost, "https://auth.example.com/base/v2/token", tm.respond)
	rm := newRESTMock(jsonResponder(200, `{}`))
	mt.RegisterResponder(http.MethodGet, "https://rest.example.com/api"+testPath, rm.respond)
	c, err := NewClient(testConfig(), WithHTTPClient(&http.Client{Transport: mt}),
		WithAuthURL(" https://auth.example.com/base/ "), WithRESTURL("https://rest.example.com/api/"))
	require.NoError(t, err)
	rest, err := c.RESTURL(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "https://rest.example.com/api", rest)
	assert.Equal(t, 0, tm.count(), "an explicit REST URL needs no token")
	_, err = c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Equal(t, 1, tm.count())
	assert.Equal(t, 1, rm.count())
}

func TestDoRequest(t *testing.T) {
	t.Parallel()
	c, mt, _ := newMockClient(t, nil, WithUserAgent("ua/2"))
	var got *http.Request
	var gotBody string
	mt.RegisterResponder(http.MethodPatch, testRESTURL, func(req *http.Request) (*http.Response, error) {
		got = req
		b, _ := io.ReadAll(req.Body)
		gotBody = string(b)
		return testutil.JSONResponse(req, 200, `{"operationStatus":"OK"}`), nil
	})
	body, err := c.do(context.Background(), request{method: http.MethodPatch, path: testPath,
		query: url.Values{"$page": {"2"}}, body: []byte(`{"a":1}`)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"operationStatus":"OK"}`, string(body))
	require.NotNil(t, got)
	assert.Equal(t, url.Values{"$page": {"2"}}, got.URL.Query())
	assert.Equal(t, "Bearer "+tokenN(1), got.Header.Get("Authorization"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "ua/2", got.Header.Get("User-Agent"))
	assert.Equal(t, `{"a":1}`, gotBody)

	var nilCtx context.Context // a nil context is refused, not a panic
	_, err = c.do(nilCtx, request{method: http.MethodGet, path: testPath})
	require.Error(t, err)
}

// 401 → invalidate → one retry with a new token.
func TestUnauthorizedRetry(t *testing.T) {
	t.Parallel()
	t.Run("second attempt succeeds", func(t *testing.T) {
		t.Parallel()
		c, mt, tm := newMockClient(t, nil, WithRetry(0, 0, 0))
		rm := newRESTMock(jsonResponder(401, `{"message":"Not Authorized","errorcode":0}`), jsonResponder(200, `{"ok":1}`))
		mt.RegisterResponder(http.MethodPost, testRESTURL, rm.respond)
		body, err := c.do(context.Background(), request{method: http.MethodPost, path: testPath, body: []byte(`{}`)})
		require.NoError(t, err)
		assert.JSONEq(t, `{"ok":1}`, string(body))
		assert.Equal(t, []string{"Bearer " + tokenN(1), "Bearer " + tokenN(2)}, rm.authHeaders())
		assert.Equal(t, 2, tm.count())
	})
	t.Run("second 401 fails", func(t *testing.T) {
		t.Parallel()
		c, mt, tm := newMockClient(t, nil)
		rm := newRESTMock(jsonResponder(401, `{"message":"Not Authorized","errorcode":0,"documentation":"https://d"}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.ErrorIs(t, err, ErrUnauthorized)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 401, ae.StatusCode)
		assert.Equal(t, "Not Authorized", ae.Message)
		assert.Equal(t, 2, rm.count(), "exactly one retry")
		assert.Equal(t, 2, tm.count())
		assert.Equal(t, []string{"Bearer " + tokenN(1), "Bearer " + tokenN(2)}, rm.authHeaders())
	})
	t.Run("256 goroutines, one new token", func(t *testing.T) {
		t.Parallel()
		c, mt, tm := newMockClient(t, nil)
		const n = 256
		var rejected atomic.Int64
		allArrived := make(chan struct{})
		mt.RegisterResponder(http.MethodGet, testRESTURL, func(req *http.Request) (*http.Response, error) {
			if req.Header.Get("Authorization") == "Bearer "+tokenN(1) {
				// Hold every answer until all n requests carry token 1.
				if rejected.Add(1) == n {
					close(allArrived)
				}
				<-allArrived
				return testutil.JSONResponse(req, 401, `{"message":"Not Authorized","errorcode":0}`), nil
			}
			return testutil.JSONResponse(req, 200, `{}`), nil
		})
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = c.do(context.Background(), request{method: http.MethodGet, path: testPath}) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int64(n), rejected.Load())
		assert.Equal(t, 2, tm.count(), "one new token for all the 401s on the same token")
	})
}

var errConnReset = errors.New("read: connection reset by peer")

func dialError() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	status := func(code int, body string) httpmock.Responder { return jsonResponder(code, body) }
	tests := []struct {
		method string
		step   httpmock.Responder
		name   string
		want   int // attempts; with WithRetry(2, ...) a retried call makes 3
	}{
		{http.MethodPost, status(500, `{}`), "500", 1},
		{http.MethodPost, status(502, `{}`), "502", 1},
		{http.MethodPost, status(504, `{}`), "504", 1},
		{http.MethodPost, status(503, `{"errorcode":50300}`), "503", 3},
		{http.MethodPost, status(429, `{"errorcode":50100}`), "429", 3},
		{http.MethodPost, httpmock.NewErrorResponder(errConnReset), "conn reset", 1},
		{http.MethodPost, httpmock.NewErrorResponder(dialError()), "dial error", 3},
		{http.MethodPost, status(400, `{}`), "400", 1},
		{http.MethodPatch, status(500, `{}`), "500", 3},
		{http.MethodPatch, status(502, `{}`), "502", 3},
		{http.MethodPatch, status(503, `{}`), "503", 3},
		{http.MethodPatch, status(504, `{}`), "504", 3},
		{http.MethodPatch, status(429, `{}`), "429", 3},
		{http.MethodPatch, httpmock.NewErrorResponder(errConnReset), "conn reset", 3},
		{http.MethodGet, status(500, `{}`), "500", 3},
		{http.MethodGet, status(502, `{}`), "502", 3},
		{http.MethodGet, status(503, `{}`), "503", 3},
		{http.MethodGet, status(504, `{}`), "504", 3},
		{http.MethodGet, status(596, `{}`), "596", 1},
		{http.MethodGet, httpmock.NewErrorResponder(errConnReset), "conn reset", 3},
		{http.MethodGet, httpmock.NewErrorResponder(dialError()), "dial error", 3},
		{http.MethodGet, status(400, `{}`), "400", 1},
		{http.MethodGet, status(403, `{}`), "403", 1},
		{http.MethodGet, status(404, `{}`), "404", 1},
		{http.MethodGet, status(409, `{}`), "409", 1},
		{http.MethodGet, status(429, `{"errorcode":50200}`), "429 blocked", 1},
		{http.MethodGet, status(429, `{"errorcode":"50200"}`), "429 blocked string code", 1},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt, tm := newMockClient(t, nil, fastRetry(2))
			rm := newRESTMock(tt.step)
			mt.RegisterResponder(tt.method, testRESTURL, rm.respond)
			_, err := c.do(context.Background(), request{method: tt.method, path: testPath, body: []byte(`{"k":"v"}`)})
			require.Error(t, err)
			assert.Equal(t, tt.want, rm.count(), "attempts")
			assert.Equal(t, 1, tm.count())
			rm.mu.Lock()
			for _, b := range rm.bodies {
				assert.Equal(t, `{"k":"v"}`, b, "body replayed on every attempt")
			}
			rm.mu.Unlock()
			requireNoSecret(t, "error", fmt.Sprintf("%v %+v", err, err))
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	c, mt, _ := newMockClient(t, nil, fastRetry(3))
	rm := newRESTMock(jsonResponder(503, `{}`), httpmock.NewErrorResponder(errConnReset), jsonResponder(500, `{}`), jsonResponder(200, `{"done":true}`))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	body, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.JSONEq(t, `{"done":true}`, string(body))
	assert.Equal(t, 4, rm.count())
}

// Retry-After far beyond waitMax is capped: the call ends after its two
// retries, each waiting exactly waitMax (50 ms), instead of an hour.
func TestRetryAfterCappedAtWaitMax(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		header []string
		body   string
	}{
		{"header", []string{"Retry-After", "3600"}, `{"errorcode":50100,"message":"Rate limit exceeded"}`},
		{"body", nil, `{"errorcode":50100,"message":"Rate limit exceeded","retryAfter":3600}`},
		{"http date", []string{"Retry-After", "(an hour from now)"}, `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				if tt.name == "http date" {
					tt.header = []string{"Retry-After", start.Add(time.Hour).UTC().Format(http.TimeFormat)}
				}
				c, mt, _ := newMockClient(t, nil, WithRetry(2, time.Millisecond, 50*time.Millisecond))
				rm := newRESTMock(jsonResponder(429, tt.body, tt.header...))
				mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
				_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
				assert.Equal(t, []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond}, sinceStart(start, rm.arrivals()),
					"each retry waits waitMax")
				require.ErrorIs(t, err, ErrRateLimited)
				assert.NotErrorIs(t, err, ErrBlocked)
				var rle *RateLimitError
				require.ErrorAs(t, err, &rle)
				// The error reports what SFMC asked for; only the client's own
				// waits are capped.
				assert.InDelta(t, float64(time.Hour), float64(rle.RetryAfter), float64(time.Second))
				assert.False(t, rle.Blocked())
			})
		})
	}
}

// Retry-After is honoured: the retry arrives exactly when SFMC said (fake
// clock), from the header or the body's retryAfter.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		header []string
		body   string
	}{
		{"429 header", 429, []string{"Retry-After", "1"}, `{"errorcode":50100}`},
		{"429 body", 429, nil, `{"errorcode":50100,"retryAfter":1}`},
		{"503 header", 503, []string{"Retry-After", "1"}, `{"errorcode":50300}`},
		{"429 fraction", 429, []string{"Retry-After", "0.25"}, `{"errorcode":50100}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt, _ := newMockClient(t, nil, WithRetry(2, time.Millisecond, 5*time.Second))
				rm := newRESTMock(jsonResponder(tt.status, tt.body, tt.header...), jsonResponder(200, `{}`))
				mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
				_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
				require.NoError(t, err)
				at := rm.arrivals()
				require.Len(t, at, 2)
				want := time.Second
				if tt.name == "429 fraction" {
					want = 250 * time.Millisecond
				}
				assert.Equal(t, want, at[1].Sub(at[0]))
			})
		})
	}
}

// After one 429 with Retry-After: 1, every goroutine of the client holds
// its requests until the cool-down has passed: all of them, and the retry,
// arrive exactly 1 s after the 429 (fake clock).
func TestCooldownShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt, _ := newMockClient(t, nil, WithRetry(2, time.Millisecond, 5*time.Second))
		rm := newRESTMock(jsonResponder(429, `{"errorcode":50100,"message":"Rate limit exceeded"}`, "Retry-After", "1"), jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		ctx := context.Background()
		require.NoError(t, c.Verify(ctx))
		t429 := time.Now()
		first := make(chan error, 1)
		go func() {
			_, err := c.do(ctx, request{method: http.MethodGet, path: testPath})
			first <- err
		}()
		synctest.Wait() // the 429 is in; its call waits to retry
		require.Equal(t, 1, rm.count())
		const n = 8
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := c.do(ctx, request{method: http.MethodGet, path: testPath})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		require.NoError(t, <-first)
		at := rm.arrivals()
		require.Len(t, at, n+2)
		for _, a := range at[1:] {
			assert.Equal(t, time.Second, a.Sub(t429), "sent when the cool-down ended, not before")
		}
	})
}

func TestBlockedNotRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt, _ := newMockClient(t, nil, fastRetry(3))
		rm := newRESTMock(jsonResponder(429, `{"message":"Your requests are temporarily blocked.","errorcode":50200,"documentation":"https://d"}`),
			jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodPost, testRESTURL, rm.respond)
		start := time.Now()
		_, err := c.do(context.Background(), request{method: http.MethodPost, path: testPath, body: []byte(`{}`)})
		require.ErrorIs(t, err, ErrBlocked)
		require.ErrorIs(t, err, ErrRateLimited)
		var rle *RateLimitError
		require.ErrorAs(t, err, &rle)
		assert.True(t, rle.Blocked())
		assert.Equal(t, 50200, rle.Code)
		assert.Equal(t, 1, rm.count())
		assert.Zero(t, time.Since(start), "returned at once, not retried")
		// The block pauses the whole client (see block.go): the next call
		// waits the first pause (5 s +-20%) and goes out as the probe.
		_, err = c.do(context.Background(), request{method: http.MethodPost, path: testPath, body: []byte(`{}`)})
		require.NoError(t, err)
		waited := time.Since(start)
		assert.GreaterOrEqual(t, waited, blockPauseFirst*4/5)
		assert.LessOrEqual(t, waited, blockPauseFirst*6/5)
	})
}

// countingLimiter counts Wait calls and can fail them.
type countingLimiter struct {
	n   atomic.Int64
	err error
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.n.Add(1)
	return l.err
}

func TestLimiterPaidPerAttempt(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{}
	c, mt, _ := newMockClient(t, nil, WithLimiter(lim), fastRetry(3))
	rm := newRESTMock(jsonResponder(503, `{}`), jsonResponder(401, `{}`), jsonResponder(500, `{}`), jsonResponder(200, `{}`))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Equal(t, 4, rm.count())
	assert.Equal(t, int64(4), lim.n.Load(), "one limiter payment per attempt, retries included")
}

func TestLimiterFailure(t *testing.T) {
	t.Parallel()
	t.Run("deadline before next slot", func(t *testing.T) {
		t.Parallel()
		c, mt, _ := newMockClient(t, nil, WithRateLimit(0.001, 1))
		rm := newRESTMock(jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.NoError(t, err) // the burst
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.do(ctx, request{method: http.MethodGet, path: testPath})
		require.ErrorIs(t, err, ErrClientRateLimited)
		assert.NotErrorIs(t, err, ErrRateLimited)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 1, rm.count(), "no request sent, no retry")
	})
	t.Run("limiter error", func(t *testing.T) {
		t.Parallel()
		lim := &countingLimiter{err: errors.New("shared limiter unavailable")}
		c, mt, _ := newMockClient(t, nil, WithLimiter(lim))
		rm := newRESTMock(jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.ErrorIs(t, err, ErrClientRateLimited)
		assert.NotErrorIs(t, err, ErrRateLimited)
		assert.Contains(t, err.Error(), "shared limiter unavailable")
		assert.Equal(t, 0, rm.count())
		assert.Equal(t, int64(1), lim.n.Load(), "not retried")
	})
}

func TestContextCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt, _ := newMockClient(t, nil, WithRetry(3, 30*time.Second, 30*time.Second))
		rm := newRESTMock(jsonResponder(503, `{"errorcode":50300}`, "Retry-After", "30"))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.do(ctx, request{method: http.MethodGet, path: testPath})
			errc <- err
		}()
		synctest.Wait() // the 503 is in; the call waits 30 s to retry
		start := time.Now()
		cancel()
		require.ErrorIs(t, testutil.Recv(t, errc, time.Second, "do returns after cancellation"), context.Canceled)
		assert.Zero(t, time.Since(start), "at once")
		assert.Equal(t, 1, rm.count())
	})
}

func TestContextCancelledDuringCooldown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt, _ := newMockClient(t, nil)
		rm := newRESTMock(jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		start := time.Now()
		c.cooldown.Extend(start.Add(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.do(ctx, request{method: http.MethodGet, path: testPath})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "returned at the deadline")
		assert.Equal(t, 0, rm.count())
	})
}

// zeroReader is an endless stream of '0'.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

func bigResponder(status int, n int64, knownLength bool) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		resp := testutil.JSONResponse(nil, status, "")
		resp.Body = io.NopCloser(io.LimitReader(zeroReader{}, n))
		resp.ContentLength = -1
		if knownLength {
			resp.ContentLength = n
		}
		return resp, nil
	}
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		max      int64 // 0: default
		size     int64
		status   int
		known    bool
		forToken bool
	}{
		{name: "rest 10KiB over 1KiB, length unknown", max: 1024, size: 10 << 10, status: 200},
		{name: "rest 10KiB over 1KiB, length known", max: 1024, size: 10 << 10, status: 200, known: true},
		{name: "rest error body", max: 1024, size: 10 << 10, status: 400},
		{name: "rest 40MiB default limit", size: 40 << 20, status: 200},
		{name: "token 10KiB over 1KiB", max: 1024, size: 10 << 10, status: 200, forToken: true},
		{name: "token 10KiB over 1KiB, length known", max: 1024, size: 10 << 10, status: 200, known: true, forToken: true},
		{name: "token error body", max: 1024, size: 10 << 10, status: 401, forToken: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []Option
			if tt.max > 0 {
				opts = append(opts, WithMaxResponseBytes(tt.max))
			}
			tm := newTokenMock()
			if tt.forToken {
				tm.fail = bigResponder(tt.status, tt.size, tt.known)
			}
			c, mt, _ := newMockClient(t, tm, opts...)
			rm := newRESTMock(bigResponder(tt.status, tt.size, tt.known))
			mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
			_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
			require.ErrorIs(t, err, ErrResponseTooLarge)
			if tt.forToken {
				require.ErrorIs(t, c.Verify(context.Background()), ErrResponseTooLarge)
				assert.Equal(t, 0, rm.count())
			} else {
				assert.Equal(t, 1, rm.count(), "not retried")
			}
		})
	}
}

func TestResponseAtLimit(t *testing.T) {
	t.Parallel()
	c, mt, _ := newMockClient(t, nil, WithMaxResponseBytes(1024))
	rm := newRESTMock(bigResponder(200, 1024, false))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	body, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Len(t, body, 1024)
}

func TestClientString(t *testing.T) {
	t.Parallel()
	c, _, _ := newMockClient(t, nil)
	want := `sfmc.Client{Subdomain:"` + testSubdomain + `", ClientID:"` + testClientID + `", AuthURL:"` + testAuthBase + `"}`
	for _, s := range []string{c.String(), c.GoString(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c)} {
		assert.Equal(t, want, s)
	}
	var nilClient *Client
	assert.Equal(t, "sfmc.Client(nil)", nilClient.String())
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c, _, _ := newMockClient(t, nil)
	resp := func(code int, ra string) *http.Response {
		h := http.Header{}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	assert.Zero(t, c.backoff(time.Second, time.Minute, 3, resp(401, "")), "a 401 retry needs only a new token")
	assert.Equal(t, 2*time.Second, c.backoff(time.Second, time.Minute, 0, resp(429, "2")))
	assert.Equal(t, 2*time.Second, c.backoff(time.Second, time.Minute, 0, resp(503, "2")))
	assert.Equal(t, time.Minute, c.backoff(time.Second, time.Minute, 0, resp(429, "3600")))
	assert.Zero(t, c.backoff(0, 0, 0, resp(429, "3600")), "waitMax 0 caps Retry-After at 0")
}

func TestBackoffWait(t *testing.T) {
	t.Parallel()
	assert.Zero(t, backoffWait(5, 0, 0, 0))
	assert.Equal(t, time.Minute, backoffWait(1, time.Second, time.Minute, time.Hour), "Retry-After capped")
	// Extreme settings neither overflow nor panic.
	huge := time.Duration(math.MaxInt64)
	for n := range 70 {
		require.GreaterOrEqual(t, backoffWait(n, huge/3, huge, 0), time.Duration(0))
		require.GreaterOrEqual(t, backoffWait(n, huge, huge, 0), time.Duration(0))
	}
	// Equal jitter: between half and all of min·2^(n-1), capped.
	for n := 1; n <= 8; n++ {
		ceil := min(10*time.Millisecond<<(n-1), 200*time.Millisecond)
		for range 50 {
			d := backoffWait(n, 10*time.Millisecond, 200*time.Millisecond, 0)
			require.GreaterOrEqual(t, d, ceil/2)
			require.LessOrEqual(t, d, ceil)
		}
	}
}

// closeTracker records whether a body was closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

// When the context ends as an answer arrives, the retry policy returns the
// context error together with the answer: its body must still be closed.
func TestResponseClosedWhenContextEndsWithAnswer(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	tm := newTokenMock()
	mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
	body := &closeTracker{Reader: strings.NewReader(`{}`)}
	mt.RegisterResponder(http.MethodGet, testRESTURL, func(*http.Request) (*http.Response, error) {
		resp := testutil.JSONResponse(nil, 500, "")
		resp.Body = body
		return resp, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := testutil.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := mt.RoundTrip(r)
		if r.URL.Path == testPath {
			cancel() // the caller gives up just as the answer arrives
		}
		return resp, err
	})
	c, err := NewClient(testConfig(), WithHTTPClient(&http.Client{Transport: rt}), fastRetry(2))
	require.NoError(t, err)
	_, err = c.do(ctx, request{method: http.MethodGet, path: testPath})
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, body.closed.Load(), "response body leaked")
}

// With an explicit REST URL the token is fetched inside the pipeline; its
// errors keep their type and an OAuth refusal is not retried.
func TestTokenErrorInsidePipeline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		step      httpmock.Responder
		sentinels []error
	}{
		{"invalid client", jsonResponder(401, `{"error":"invalid_client"}`), []error{ErrInvalidCredentials}},
		{"token endpoint down", jsonResponder(503, `{"message":"down"}`), []error{ErrServer}},
		{"token endpoint blocked", jsonResponder(429, `{"errorcode":50200}`), []error{ErrRateLimited, ErrBlocked}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tm := newTokenMock()
				tm.fail = tt.step
				mt := httpmock.NewMockTransport()
				mt.RegisterResponder(http.MethodPost, "https://auth.example.com/v2/token", tm.respond)
				rm := newRESTMock(jsonResponder(200, `{}`))
				mt.RegisterResponder(http.MethodGet, "https://rest.example.com"+testPath, rm.respond)
				c, err := NewClient(testConfig(), WithHTTPClient(&http.Client{Transport: mt}), fastRetry(3),
					WithAuthURL("https://auth.example.com"), WithRESTURL("https://rest.example.com"))
				require.NoError(t, err)
				_, err = c.do(context.Background(), request{method: http.MethodGet, path: testPath})
				requireOnlySentinels(t, err, tt.sentinels...)
				assert.Equal(t, 0, rm.count())
				assert.Equal(t, 1, tm.count(), "failure spacing: retries share the failure")
			})
		})
	}
}

// WithRetry(n, 0, 0) caps every wait at zero: a Retry-After neither makes
// the call wait nor starts a cool-down that holds later calls.
func TestRetryAfterZeroWaitMax(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt, _ := newMockClient(t, nil, WithRetry(1, 0, 0))
		rm := newRESTMock(jsonResponder(429, `{"errorcode":50100}`, "Retry-After", "3600"), jsonResponder(200, `{}`))
		mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
		start := time.Now()
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.NoError(t, err)
		_, err = c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.NoError(t, err)
		assert.Equal(t, 3, rm.count())
		assert.Zero(t, time.Since(start), "no wait, no cool-down")
	})
}

func TestMaxResponseBytesHuge(t *testing.T) {
	t.Parallel()
	c, mt, _ := newMockClient(t, nil, WithMaxResponseBytes(math.MaxInt64))
	rm := newRESTMock(bigResponder(200, 100, false))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	body, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Len(t, body, 100)
}

// A User-Agent the client accepted must be sendable.
func TestUserAgentSent(t *testing.T) {
	t.Parallel()
	for _, ua := range []string{"my app\t1.0", "sfmc-go/" + Version() + " (destination)"} {
		c, mt, _ := newMockClient(t, nil, WithUserAgent(ua))
		var got string
		mt.RegisterResponder(http.MethodGet, testRESTURL, func(req *http.Request) (*http.Response, error) {
			got = req.Header.Get("User-Agent")
			return testutil.JSONResponse(req, 200, `{}`), nil
		})
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath})
		require.NoError(t, err)
		assert.Equal(t, ua, got)
	}
}

// A nil context is an error, never a panic.
func TestNilContextIsAnError(t *testing.T) {
	t.Parallel()
	c, _, _ := newMockClient(t, nil)
	//lint:ignore SA1012 the point is a nil context
	assert.ErrorIs(t, c.Verify(nil), errNilContext) //nolint:staticcheck
	//lint:ignore SA1012 the point is a nil context
	_, err := c.RESTURL(nil) //nolint:staticcheck
	assert.ErrorIs(t, err, errNilContext)
}
