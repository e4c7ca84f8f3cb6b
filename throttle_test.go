package sfmc_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
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
	"golang.org/x/time/rate"
)

// fakeTenant is an in-memory SFMC tenant for tests inside a synctest
// bubble, where its latency and rate limit run on the bubble's fake clock:
// a 40-second push takes a fraction of a second and its timing is exact.
// (sfmctest serves over real loopback sockets, which a bubble cannot wait
// on.) It answers the token route and PATCH /contacts/v1/contacts.
type fakeTenant struct {
	latency time.Duration
	// latencyFor, when set, is the latency of the n-th request instead.
	latencyFor func(n int64) time.Duration
	// answer, when set, answers instead of the tenant (after the latency)
	// when it returns a status; 0 lets the tenant answer.
	answer func(now time.Time, n int64) (status int, body string)

	// ttl is the lifetime of issued tokens (default 1080 s); REST answers
	// 401 for a missing, unknown or expired one.
	ttl time.Duration
	// keepBodies makes the tenant keep the body of every REST request
	// (takeBodies).
	keepBodies bool

	mu      sync.Mutex
	lim     *rate.Limiter // tenant limit; nil = none
	start   time.Time
	tokens  int
	issued  map[string]time.Time // token -> expiry
	unauth  int
	bodies  []string
	n       int64
	ok      map[int64]int // 2xx answers per second since start
	byCode  map[int]int
	perSec  map[int64]int // requests per second since start
	maxConc int
	conc    int
}

func newFakeTenant(latency time.Duration, limit float64, burst int) *fakeTenant {
	ft := &fakeTenant{latency: latency, start: time.Now(), ok: map[int64]int{}, byCode: map[int]int{}, perSec: map[int64]int{}}
	if limit > 0 {
		ft.lim = rate.NewLimiter(rate.Limit(limit), burst)
	}
	return ft
}

func (ft *fakeTenant) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	if ft.keepBodies && !strings.HasSuffix(req.URL.Path, "/v2/token") {
		ft.mu.Lock()
		ft.bodies = append(ft.bodies, string(body))
		ft.mu.Unlock()
	}
	if strings.HasSuffix(req.URL.Path, "/v2/token") {
		ttl := cmp.Or(ft.ttl, 1080*time.Second)
		ft.mu.Lock()
		ft.tokens++
		tok := fmt.Sprint("tok-", ft.tokens)
		if ft.issued == nil {
			ft.issued = map[string]time.Time{}
		}
		ft.issued[tok] = time.Now().Add(ttl)
		ft.mu.Unlock()
		return fakeAnswer(req, 200, fmt.Sprintf(`{"access_token":%q,"expires_in":%d,"token_type":"Bearer"}`, tok, int(ttl.Seconds())), ""), nil
	}
	ft.mu.Lock()
	exp, ok := ft.issued[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
	if !ok || !time.Now().Before(exp) {
		ft.unauth++
		ft.mu.Unlock()
		return fakeAnswer(req, 401, `{"message":"Not Authorized","errorcode":0}`, ""), nil
	}
	ft.mu.Unlock()
	ft.mu.Lock()
	ft.conc++
	ft.maxConc = max(ft.maxConc, ft.conc)
	ft.n++
	n := ft.n
	ft.mu.Unlock()
	defer func() {
		ft.mu.Lock()
		ft.conc--
		ft.mu.Unlock()
	}()
	lat := ft.latency
	if ft.latencyFor != nil {
		lat = ft.latencyFor(n)
	}
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	now := time.Now()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	sec := int64(now.Sub(ft.start) / time.Second)
	ft.perSec[sec]++
	if ft.answer != nil {
		if status, body := ft.answer(now, n); status != 0 {
			ft.byCode[status]++
			return fakeAnswer(req, status, body, ""), nil
		}
	}
	if ft.lim != nil && !ft.lim.AllowN(now, 1) {
		ft.byCode[429]++
		// Retry-After: the wait for the next free slot, as sfmctest sends
		// it (a fraction below one second).
		wait := (1 - ft.lim.TokensAt(now)) / float64(ft.lim.Limit())
		ra := fmt.Sprintf("%.3f", max(wait, 0.001))
		return fakeAnswer(req, 429, `{"message":"Rate limit exceeded","errorcode":50100,"retryAfter":`+ra+`}`, ra), nil
	}
	ft.byCode[200]++
	ft.ok[sec]++
	return fakeAnswer(req, 200, `{"operationStatus":"OK","rowsAffected":1,"contactKey":"k"}`, ""), nil
}

// fakeAnswer is the tenant's answer, with Retry-After when not "".
func fakeAnswer(req *http.Request, status int, body, retryAfter string) *http.Response {
	if retryAfter == "" {
		return testutil.JSONResponse(req, status, body)
	}
	return testutil.JSONResponse(req, status, body, "Retry-After", retryAfter)
}

// stats returns what the tenant saw: requests, 2xx answers, 429 answers
// and the 2xx answers in the seconds [from, to).
func (ft *fakeTenant) stats(from, to int64) (requests, ok, throttled int, okIn int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for s, n := range ft.ok {
		if s >= from && s < to {
			okIn += n
		}
	}
	return int(ft.n), ft.byCode[200], ft.byCode[429], okIn
}

// takeBodies returns the REST request bodies kept since the last call.
func (ft *fakeTenant) takeBodies() []string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := ft.bodies
	ft.bodies = nil
	return out
}

// tokenRequests returns the token requests and the REST answers 401.
func (ft *fakeTenant) tokenRequests() (tokens, unauthorized int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.tokens, ft.unauth
}

// requests returns the REST requests received so far.
func (ft *fakeTenant) requests() int64 {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.n
}

func (ft *fakeTenant) requestsIn(from, to int64) int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := 0
	for s, c := range ft.perSec {
		if s >= from && s < to {
			n += c
		}
	}
	return n
}

// fakeClient is a client of ft.
func fakeClient(t *testing.T, ft *fakeTenant, opts ...sfmc.Option) *sfmc.Client {
	t.Helper()
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "mctest", ClientID: "id", ClientSecret: "secret"},
		append([]sfmc.Option{sfmc.WithHTTPClient(&http.Client{Transport: ft}),
			sfmc.WithAuthURL("https://auth.example.com"), sfmc.WithRESTURL("https://rest.example.com")}, opts...)...)
	require.NoError(t, err)
	return c
}

// pushFor adds distinct contacts to u, as fast as it takes them, for d.
func pushFor(t *testing.T, u *sfmc.Upserter, d time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n := 0
	for ; ; n++ {
		err := u.Add(ctx, sfmc.Contact{Key: fmt.Sprint("K", n), Attributes: []sfmc.AttributeValue{
			{Set: "Email Demographics", Name: "First Name", Value: "x"}}})
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			return n
		}
	}
}

// TestAdaptiveRate pushes for 40 s (fake time) against a tenant limit R the
// client is not told, from a cold start, and checks the target:
// at least 0.85·R achieved with at most 5% of requests answered 429, at 0
// and 150 ms latency; and, with a configured rate just under R, at least
// 0.97·R with under 0.5% 429s. The figures are logged.
func TestAdaptiveRate(t *testing.T) {
	t.Parallel()
	type run struct {
		limit   float64
		latency time.Duration
		ceiling float64 // WithRateLimit, 0 for none
	}
	var runs []run
	for _, r := range []float64{50, 150, 400} {
		for _, lat := range []time.Duration{0, 150 * time.Millisecond} {
			runs = append(runs, run{r, lat, 0})
		}
		runs = append(runs, run{r, 150 * time.Millisecond, r * 0.98})
	}
	for _, tt := range runs {
		name := fmt.Sprintf("R=%v/latency=%v/rate=%v", tt.limit, tt.latency, tt.ceiling)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const secs = 40
				ft := newFakeTenant(tt.latency, tt.limit, 5)
				var opts []sfmc.Option
				if tt.ceiling > 0 {
					opts = append(opts, sfmc.WithRateLimit(tt.ceiling, 5))
				}
				c := fakeClient(t, ft, opts...)
				u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{})
				require.NoError(t, err)
				pushFor(t, u, secs*time.Second)
				st := u.Stats()
				require.NoError(t, u.Close(context.Background()))
				reqs, _, throttled, okIn := ft.stats(0, secs)
				achieved := float64(okIn) / secs / tt.limit
				share := float64(throttled) / float64(reqs)
				t.Logf("%s: achieved %.3f·R, 429 share %.2f%%, %d requests, rate at end %.0f/s, concurrency %d, max in flight at tenant %d",
					name, achieved, 100*share, reqs, st.Rate, st.Concurrency, ft.maxConc)
				if tt.ceiling > 0 {
					assert.GreaterOrEqual(t, achieved, 0.97*tt.ceiling/tt.limit)
					assert.Less(t, share, 0.005)
				} else {
					assert.GreaterOrEqual(t, achieved, 0.85)
					assert.LessOrEqual(t, share, 0.05)
				}
			})
		})
	}
}

// TestConcurrencyFollowsRate: at 150 ms latency against an untold limit of
// 400/s, the Upserter reaches at least 0.85·R without a worker count, and
// sizes its concurrency by Little's law (about R × 150 ms, doubled).
func TestConcurrencyFollowsRate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(150*time.Millisecond, 400, 5)
		c := fakeClient(t, ft)
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{})
		require.NoError(t, err)
		pushFor(t, u, 20*time.Second)
		st := u.Stats()
		require.NoError(t, u.Close(context.Background()))
		_, _, _, okIn := ft.stats(5, 20) // after the ramp
		achieved := float64(okIn) / 15 / 400
		t.Logf("achieved %.3f·R, concurrency %d, max in flight at the tenant %d", achieved, st.Concurrency, ft.maxConc)
		assert.GreaterOrEqual(t, achieved, 0.85)
		assert.GreaterOrEqual(t, st.Concurrency, int64(60), "at least R × latency")
		assert.LessOrEqual(t, st.Concurrency, int64(sfmc.DefaultMaxWorkers))
	})
}

// TestOutageBacksOff: a 30 s outage in which every request gets 503
// without Retry-After, in the middle of a push. Within 5 s of its start the
// request rate falls under 10% of the rate before it; after it the rate
// recovers and every contact succeeds: nothing lost.
func TestOutageBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(20*time.Millisecond, 300, 5)
		ft.answer = func(now time.Time, _ int64) (int, string) {
			if s := now.Sub(ft.start); s >= 10*time.Second && s < 40*time.Second {
				return 503, `{"message":"Service Unavailable","errorcode":50300}`
			}
			return 0, ""
		}
		c := fakeClient(t, ft)
		var failed atomic.Int64
		var outcomes atomic.Int64
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{OnResult: func(o sfmc.Outcome) {
			outcomes.Add(1)
			if o.Err != nil {
				failed.Add(1)
			}
		}})
		require.NoError(t, err)
		added := pushFor(t, u, 60*time.Second)
		require.NoError(t, u.Close(context.Background()))
		before := float64(ft.requestsIn(5, 10)) / 5
		during := float64(ft.requestsIn(15, 40)) / 25
		after := float64(ft.requestsIn(50, 60)) / 10
		t.Logf("requests/s: before %.0f, during the outage from its 5th second %.1f (%.1f%%), 10 s after it %.0f; %d contacts, %d failed",
			before, during, 100*during/before, after, added, failed.Load())
		assert.Less(t, during, 0.10*before, "the rate falls under 10% within 5 s")
		assert.Greater(t, after, 0.5*before, "and recovers after")
		assert.Equal(t, int64(added), outcomes.Load(), "one outcome per contact")
		assert.Zero(t, failed.Load(), "no contact lost to the outage")
	})
}

// TestBlockPausesAndRecovers: a 50200 block of 8 s starting at the
// 500th request. The client pauses (growing pauses, one probe at a time),
// raises AlertBlocked once, and no contact fails; all are stored after it.
func TestBlockPausesAndRecovers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(10*time.Millisecond, 0, 0)
		var blockedAt atomic.Int64
		ft.answer = func(now time.Time, n int64) (int, string) {
			if n == 500 {
				blockedAt.Store(now.UnixNano())
			}
			if at := blockedAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < 8*time.Second {
				return 429, `{"message":"Your requests are temporarily blocked.","errorcode":50200}`
			}
			return 0, ""
		}
		c := fakeClient(t, ft)
		var alerts []sfmc.Alert
		var mu sync.Mutex
		var failed atomic.Int64
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{
			OnResult: func(o sfmc.Outcome) {
				if o.Err != nil {
					failed.Add(1)
				}
			},
			OnAlert: func(a sfmc.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }})
		require.NoError(t, err)
		for i := range 3000 {
			require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i)}))
		}
		require.NoError(t, u.Close(context.Background()))
		_, ok, blocked, _ := ft.stats(0, 1000)
		t.Logf("%d stored, %d answers 50200, max in flight %d", ok, blocked, ft.maxConc)
		assert.Zero(t, failed.Load())
		assert.Equal(t, 3000, ok, "every contact stored")
		mu.Lock()
		require.Len(t, alerts, 1)
		assert.Equal(t, sfmc.AlertBlocked, alerts[0].Kind)
		mu.Unlock()
		// The pauses are 5 s and then 10 s (±20%), with one probe each:
		// few 50200 answers beyond those of the requests in flight when
		// the block began.
		assert.Less(t, blocked, 80)
	})
}
