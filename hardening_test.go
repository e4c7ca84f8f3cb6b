package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hugeBody answers with size bytes of a JSON string, in 64 KiB writes,
// and reports how many bytes the client let it write.
type hugeBody struct {
	size          int64
	contentLength bool
	status        int
	written       chan int64
}

func (h *hugeBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if h.contentLength {
		w.Header().Set("Content-Length", strconv.FormatInt(h.size, 10))
	}
	w.WriteHeader(h.status)
	chunk := []byte(strings.Repeat("x", 64<<10))
	var n int64
	if k, err := io.WriteString(w, `{"x":"`); err == nil {
		n += int64(k)
		for n+int64(len(chunk)) <= h.size {
			k, err := w.Write(chunk)
			n += int64(k)
			if err != nil {
				break
			}
			if !h.contentLength {
				http.NewResponseController(w).Flush() //nolint:errcheck
			}
		}
	}
	h.written <- n
}

// TestResponseBodyCapped: a 64 MiB answer (REST or token endpoint, with or
// without Content-Length, success or error status) fails with
// ErrResponseTooLarge, and the client stops reading early: the server
// manages to write at most the 1 MiB limit plus what the socket buffers
// hold, far from 64 MiB.
func TestResponseBodyCapped(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	for _, tc := range []struct {
		name          string
		token         bool
		contentLength bool
		status        int
	}{
		{"REST 200 chunked", false, false, 200},
		{"REST 200 Content-Length", false, true, 200},
		{"REST 500 chunked", false, false, 500},
		{"REST 400 Content-Length", false, true, 400},
		{"token 200 chunked", true, false, 200},
		{"token 200 Content-Length", true, true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &hugeBody{size: size, contentLength: tc.contentLength, status: tc.status, written: make(chan int64, 8)}
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if r.URL.Path == "/v2/token" && !tc.token {
					tokenOK(srv.URL)(w, r)
					return
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
				sfmc.WithAuthURL(srv.URL), sfmc.WithHTTPClient(&http.Client{Transport: tr}),
				sfmc.WithMaxResponseBytes(1<<20), sfmc.WithRetry(0, 0, 0))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = c.Contacts.Upsert(ctx, sfmc.Contact{Key: "K"})
			require.ErrorIs(t, err, sfmc.ErrResponseTooLarge)
			select {
			case n := <-h.written:
				t.Logf("server wrote %d of %d bytes", n, size)
				assert.Less(t, n, int64(16<<20), "the client read on")
			case <-ctx.Done():
				t.Fatal("server still writing: the client did not hang up")
			}
		})
	}
}

// TestDeeplyNestedAnswers: 100k nested arrays or objects as a REST or
// token answer, with a success or an error status, are a clean error.
func TestDeeplyNestedAnswers(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"arrays":  strings.Repeat("[", 100_000),
		"objects": strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000),
	}
	for bname, body := range bodies {
		for _, status := range []int{200, 400, 500} {
			for _, tokenSide := range []bool{false, true} {
				name := fmt.Sprintf("%s/%d/token=%v", bname, status, tokenSide)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					s := restOK(testutil.JSONHandler(status, body))
					if tokenSide {
						s = newScripted(testutil.JSONHandler(status, body), nil)
					}
					c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
						append(s.options(), sfmc.WithRetry(0, 0, 0))...)
					require.NoError(t, err)
					ctx := context.Background()
					_, err = c.Contacts.Upsert(ctx, sfmc.Contact{Key: "K"})
					assert.Error(t, err, "Upsert")
					_, err = c.AttributeSets.List(ctx, nil)
					assert.Error(t, err, "List")
					_, err = c.AttributeSets.FirstPage(ctx)
					assert.Error(t, err, "FirstPage")
					_, err = c.Contacts.SearchByEmail(ctx, []string{"a@b.c"})
					assert.Error(t, err, "SearchByEmail")
					_, err = c.Contacts.DeleteStatus(ctx, 1)
					assert.Error(t, err, "DeleteStatus")
					if status != 200 && !tokenSide {
						var ae *sfmc.APIError
						require.ErrorAs(t, err, &ae)
						assert.Equal(t, status, ae.StatusCode)
					}
				})
			}
		}
	}
}

// failingTransport fails the test when the client sends anything.
type failingTransport struct{ t *testing.T }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request to %s", r.URL.Redacted())
	return nil, errors.New("no network in this test")
}

// TestConfigInjection: subdomains that are not one DNS label, and explicit
// URLs that are not https (or http to loopback) or carry user info, a
// query or a fragment, make NewClient fail with ErrInvalidConfig without
// a request. Accepted controls show the check is not blanket refusal.
func TestConfigInjection(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Transport: failingTransport{t}}
	cfg := func(sub string) sfmc.Config { return sfmc.Config{Subdomain: sub, ClientID: "id", ClientSecret: "s"} }
	for _, sub := range []string{"evil.com/", "a@b", "x:1", "x?y", "x#y", " x", "x ", "x\n", "\tx", "ünicode", "a.b", "a/b", "a\\b",
		"x%2f", "", "-x", "x-", "X", strings.Repeat("a", 64), "x\x00", "evil.com#", "a..b", "[::1]", "127.0.0.1"} {
		c, err := sfmc.NewClient(cfg(sub), sfmc.WithHTTPClient(hc))
		assert.ErrorIs(t, err, sfmc.ErrInvalidConfig, "subdomain %q", sub)
		assert.Nil(t, c, "subdomain %q", sub)
	}
	badURLs := []string{
		"http://example.com", "http://example.com:443", "http://127.0.0.1.evil.com", "http://localhost.evil.com",
		"http://0x7f.0.0.1", "https://user:pass@host", "https://user@host", "javascript:alert(1)",
		"https://host/path?q=1", "https://host/#frag", "ftp://host", "//host", "https://",
		"host.example.com", "file:///etc/passwd", "data:text/plain,x", "https://host\n.evil.com", "https://ho st",
		"https://host:port", "",
	}
	for _, u := range badURLs {
		for name, opt := range map[string]sfmc.Option{"WithAuthURL": sfmc.WithAuthURL(u), "WithRESTURL": sfmc.WithRESTURL(u)} {
			c, err := sfmc.NewClient(cfg("mcq4jrssqdlyc4lph19nnqgzzs84"), sfmc.WithHTTPClient(hc), opt)
			assert.ErrorIs(t, err, sfmc.ErrInvalidConfig, "%s(%q)", name, u)
			assert.Nil(t, c, "%s(%q)", name, u)
		}
	}
	// Controls: accepted, and still no request.
	for _, sub := range []string{"mcq4jrssqdlyc4lph19nnqgzzs84", "x", "a-b-1"} {
		_, err := sfmc.NewClient(cfg(sub), sfmc.WithHTTPClient(hc))
		assert.NoError(t, err, "subdomain %q", sub)
	}
	for _, u := range []string{"https://example.com", "https://example.com/base/", "http://127.0.0.1:8080", "http://[::1]:1", "http://localhost:9"} {
		_, err := sfmc.NewClient(cfg("x"), sfmc.WithHTTPClient(hc), sfmc.WithAuthURL(u), sfmc.WithRESTURL(u))
		assert.NoError(t, err, "URL %q", u)
	}
}

// TestRetryAfterAbsurdValues: whatever Retry-After (header or body) a
// throttling server sends, a call returns the server's error after its
// retries, each attempt waiting at most WithRetry's waitMax (50 ms here) for
// its backoff and the shared cool-down (fake clock), so the next call is
// not held either.
func TestRetryAfterAbsurdValues(t *testing.T) {
	t.Parallel()
	const waitMax = 50 * time.Millisecond
	values := []string{"-5", "0", "99999999999", "1e308", "Inf", "NaN", "-Inf", "(a day ahead)", "(a day ago)", "garbage", "0x10", " 7 ", "1.5", "3600", ""}
	bodies := []string{`{"message":"slow","errorcode":50100}`, `{"message":"slow","errorcode":50100,"retryAfter":1e300}`, `{"message":"slow","errorcode":50100,"retryAfter":-1}`}
	for _, status := range []int{429, 503} {
		for i, v := range values {
			for j, body := range bodies {
				t.Run(fmt.Sprintf("%d/%d/%q/body%d", status, i, v, j), func(t *testing.T) {
					t.Parallel()
					synctest.Test(t, func(t *testing.T) {
						v := v
						switch v { // HTTP dates on the bubble's clock
						case "(a day ahead)":
							v = time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat)
						case "(a day ago)":
							v = time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat)
						}
						var attempts atomic.Int64
						s := restOK(func(w http.ResponseWriter, r *http.Request) {
							attempts.Add(1)
							if v != "" {
								w.Header()["Retry-After"] = []string{v}
							}
							testutil.JSONHandler(status, body)(w, r)
						})
						c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
							append(s.options(), sfmc.WithRateLimit(1e5, 100), sfmc.WithRetry(2, time.Millisecond, waitMax))...)
						require.NoError(t, err)
						for call := range 2 {
							start := time.Now()
							_, err := c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "K"})
							assert.LessOrEqual(t, time.Since(start), 3*waitMax, "call %d: three attempts, each waiting at most waitMax", call)
							require.Error(t, err)
							if status == 429 {
								require.ErrorIs(t, err, sfmc.ErrRateLimited)
							} else {
								require.ErrorIs(t, err, sfmc.ErrServer)
							}
							var ae *sfmc.APIError
							require.ErrorAs(t, err, &ae)
							assert.GreaterOrEqual(t, ae.RetryAfter, time.Duration(0))
						}
						assert.Equal(t, int64(6), attempts.Load(), "two calls of 1 + 2 retries")
					})
				})
			}
		}
	}
}

// TestUpserterAbsurdRetryAfter: the Upserter's own retries are bounded by
// RetryWaitMax whatever the server asks for: Close returns within a quarter
// of a second (fake clock), not years, with one failed outcome per contact.
func TestUpserterAbsurdRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := restOK(testutil.JSONHandler(429, `{"message":"slow","errorcode":50100,"retryAfter":99999999999}`, "Retry-After", "99999999999"))
		c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
			append(s.options(), sfmc.WithRateLimit(1e5, 100), sfmc.WithRetry(1, time.Millisecond, 20*time.Millisecond))...)
		require.NoError(t, err)
		var mu sync.Mutex
		var outs []sfmc.Outcome
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, MaxAttempts: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
			OnResult: func(o sfmc.Outcome) { mu.Lock(); outs = append(outs, o); mu.Unlock() }})
		require.NoError(t, err)
		start := time.Now()
		for i := range 4 {
			require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i)}))
		}
		require.NoError(t, u.Close(context.Background()))
		// 4 contacts x 3 attempts: each of the 12 requests waits at most
		// RetryWaitMax, for its backoff or the cool-down the 429 before it
		// extended (capped alike).
		assert.LessOrEqual(t, time.Since(start), 4*3*20*time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, outs, 4)
		for _, o := range outs {
			assert.ErrorIs(t, o.Err, sfmc.ErrRateLimited)
			assert.Equal(t, 3, o.Attempts, "MaxAttempts requests, each waiting at most RetryWaitMax")
		}
	})
}

// TestTokenLifetimeCountsFromRequest: a token's lifetime counts from the
// moment its request was sent, as SFMC's does, not from the receipt of the
// answer. Here the token endpoint answers 600 ms late (fake clock) with
// expires_in 2: the server expires the token 2 s after the request, and a
// client counting from the receipt would use it until 2.6 s; the call at
// 2.2 s would get 401 (and cost an extra token request).
func TestTokenLifetimeCountsFromRequest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		expiry := map[string]time.Time{}
		var issued, unauthorized atomic.Int64
		s := newScripted(func(w http.ResponseWriter, r *http.Request) {
			tok := fmt.Sprint("tok-", issued.Add(1))
			mu.Lock()
			expiry[tok] = time.Now().Add(2 * time.Second)
			mu.Unlock()
			time.Sleep(600 * time.Millisecond)
			fmt.Fprintf(w, `{"access_token":%q,"expires_in":2,"rest_instance_url":%q}`, tok, scriptedURL)
		}, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			exp, ok := expiry[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			mu.Unlock()
			if !ok || !time.Now().Before(exp) {
				unauthorized.Add(1)
				testutil.JSONHandler(401, `{"message":"Not Authorized"}`)(w, r)
				return
			}
			testutil.JSONHandler(200, `{"operationStatus":"OK"}`)(w, r)
		})
		c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
			append(s.options(), sfmc.WithTokenRefreshMargin(100*time.Millisecond))...)
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, c.Verify(context.Background()))
		require.Equal(t, 600*time.Millisecond, time.Since(start))
		// The server expires the token at 2 s; the client refreshes from
		// 1.9 s. At 2.2 s the call must wait for a new token.
		time.Sleep(1600 * time.Millisecond)
		_, err = c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "K"})
		require.NoError(t, err)
		assert.Zero(t, unauthorized.Load(), "calls sent with a token the server had expired")
		assert.Equal(t, int64(2), issued.Load())
	})
}

// TestHugeExpiresInIsClamped: an expires_in beyond what time.Duration holds
// (~292 years) is clamped, not overflowed into a token born expired, which
// would make every call fetch a new one. Real time: such a refresh loop
// never blocks, so a bubble's clock would not advance to the deadline.
func TestHugeExpiresInIsClamped(t *testing.T) {
	t.Parallel()
	var tokenRequests atomic.Int64
	s := newScripted(func(w http.ResponseWriter, r *http.Request) {
		tokenRequests.Add(1)
		fmt.Fprint(w, `{"access_token":"t","expires_in":10000000000}`)
	}, nil)
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
		append(s.options(), sfmc.WithRESTURL(scriptedURL))...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for range 3 {
		assert.NoError(t, c.Verify(ctx))
	}
	assert.Equal(t, int64(1), tokenRequests.Load())
}

// TestRedirectCrossHost: a REST answer that redirects to another host is
// not followed, so the token goes to no host but the REST host; a redirect
// on the REST host is followed, with the token. (The token request follows
// no redirect at all: TestTokenRedirectRefused.)
func TestRedirectCrossHost(t *testing.T) {
	t.Parallel()
	var otherHits atomic.Int64
	var movedAuth atomic.Value
	movedAuth.Store("")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Host == "other.example.com":
			otherHits.Add(1)
			testutil.JSONHandler(200, `{"operationStatus":"OK","contactKey":"K"}`)(w, r)
		case r.URL.Path == "/v2/token":
			tokenOK(scriptedURL)(w, r)
		case r.URL.Path == "/moved":
			movedAuth.Store(r.Header.Get("Authorization"))
			testutil.JSONHandler(200, `{"count":0,"page":1,"pageSize":50,"items":[]}`)(w, r)
		case strings.HasSuffix(r.URL.Path, "/attributeSetDefinitions"):
			http.Redirect(w, r, "/moved", http.StatusFound)
		default:
			http.Redirect(w, r, "https://other.example.com"+r.URL.Path, http.StatusTemporaryRedirect)
		}
	})
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: "s"},
		sfmc.WithAuthURL(scriptedURL), sfmc.WithHTTPClient(&http.Client{Transport: testutil.InMemory(h)}),
		sfmc.WithRetry(2, time.Millisecond, 5*time.Millisecond), sfmc.WithRateLimit(1e5, 100))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Contacts.Upsert(ctx, sfmc.Contact{Key: "K"})
	require.ErrorContains(t, err, "redirect")
	_, err = c.Contacts.DeleteStatus(ctx, 1)
	require.ErrorContains(t, err, "redirect")
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
		assert.NotContains(t, s, leakToken)
	}
	assert.Zero(t, otherHits.Load(), "the other host got no request, so no token")

	page, err := c.AttributeSets.List(ctx, nil)
	require.NoError(t, err, "a same-host redirect is followed")
	assert.Empty(t, page.Items)
	assert.Equal(t, "Bearer "+leakToken, movedAuth.Load(), "with the token")
}
