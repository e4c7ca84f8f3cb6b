package sfmc_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newSimClient starts a simulator and a client pointed at it with fast
// retries and its own transport (so idle connections are the test's own).
func newSimClient(t testing.TB, srvOpts []sfmctest.ServerOption, opts ...sfmc.Option) (*sfmctest.Server, *sfmc.Client) {
	t.Helper()
	srv := sfmctest.NewServer(srvOpts...)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	// A ceiling far above loopback speed: the pace starts there instead of
	// in slow start (TestAdaptiveRate and its kin test the pace itself).
	all := append(srv.ClientOptions(),
		sfmc.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		sfmc.WithRetry(2, time.Millisecond, 20*time.Millisecond), sfmc.WithRateLimit(1e5, 100))
	c, err := sfmc.NewClient(srv.Config(), append(all, opts...)...)
	require.NoError(t, err)
	return srv, c
}

// recorder counts outcomes per key.
type recorder struct {
	mu       sync.Mutex
	byKey    map[string]int
	failures []sfmc.Outcome
	total    atomic.Int64
}

func newRecorder() *recorder { return &recorder{byKey: map[string]int{}} }

func (r *recorder) onResult(o sfmc.Outcome) {
	r.total.Add(1)
	r.mu.Lock()
	r.byKey[o.Key]++
	if o.Err != nil {
		r.failures = append(r.failures, o)
	}
	r.mu.Unlock()
}

func demographics(key string, first, last string) sfmc.Contact {
	return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: strings.ToLower(key) + "@example.com"},
		{Set: "Email Demographics", Name: "First Name", Value: first},
		{Set: "Email Demographics", Name: "Last Name", Value: last},
	}}
}

// upserterGoroutines counts goroutines running Upserter code.
func upserterGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sfmc.(*Upserter)") {
			count++
		}
	}
	return count
}

func TestUpserterEveryAddGetsOneOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		n     int
		opts  []sfmctest.ServerOption
		copts []sfmc.Option
		check func(t *testing.T, st sfmc.UpserterStats, srv *sfmctest.Server)
	}{
		{name: "no faults", n: 500},
		{name: "10% 429 with Retry-After", n: 400,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault429, 0.10), sfmctest.WithRetryAfter(5 * time.Millisecond), sfmctest.WithSeed(7)},
			check: func(t *testing.T, st sfmc.UpserterStats, _ *sfmctest.Server) {
				assert.Positive(t, st.Throttled, "429s seen")
				assert.Positive(t, st.Retried)
			}},
		{name: "5% 503", n: 400,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault503, 0.05), sfmctest.WithRetryAfter(5 * time.Millisecond), sfmctest.WithSeed(3)},
			check: func(t *testing.T, st sfmc.UpserterStats, _ *sfmctest.Server) {
				assert.Positive(t, st.Retried)
			}},
		{name: "3% dropped connections, some after the write", n: 400,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.015), sfmctest.WithFaultRate(sfmctest.FaultDropAfterWrite, 0.015), sfmctest.WithSeed(11)},
			check: func(t *testing.T, st sfmc.UpserterStats, srv *sfmctest.Server) {
				assert.Positive(t, srv.Stats().Dropped, "connections dropped")
			}},
		{name: "18% transient mix", n: 400,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault429, 0.06), sfmctest.WithFaultRate(sfmctest.Fault500, 0.04),
				sfmctest.WithFaultRate(sfmctest.Fault503, 0.04), sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.02),
				sfmctest.WithFaultRate(sfmctest.FaultDropAfterWrite, 0.02), sfmctest.WithRetryAfter(5 * time.Millisecond), sfmctest.WithSeed(5)}},
		// Tokens expiring during a push: the fault matrix's "token TTL 1s"
		// cell (reliability_test.go).
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newSimClient(t, tc.opts, tc.copts...)
			rec := newRecorder()
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, OnResult: rec.onResult,
				RetryWaitMin: time.Millisecond, RetryWaitMax: 20 * time.Millisecond})
			require.NoError(t, err)
			for i := range tc.n {
				require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprintf("K%04d", i), fmt.Sprint("F", i), "L")))
			}
			require.NoError(t, u.Close(context.Background()))

			assert.Equal(t, int64(tc.n), rec.total.Load(), "one outcome per Add")
			assert.Len(t, rec.byKey, tc.n)
			for k, n := range rec.byKey {
				require.Equal(t, 1, n, "outcomes for %s", k)
			}
			assert.Empty(t, rec.failures, "every contact lands")
			st := u.Stats()
			assert.Equal(t, int64(tc.n), st.Added)
			assert.Equal(t, int64(tc.n), st.Succeeded)
			assert.Zero(t, st.Failed)
			assert.Zero(t, st.InFlight)
			assert.Zero(t, st.QueueDepth)
			for i := range tc.n {
				got, ok := srv.Contact(fmt.Sprintf("K%04d", i))
				require.True(t, ok, "K%04d stored", i)
				require.Equal(t, fmt.Sprint("F", i), got.Sets["Email Demographics"]["First Name"])
			}
			if tc.check != nil {
				tc.check(t, st, srv)
			}
		})
	}
}

func TestUpserterLastValuesWin(t *testing.T) {
	t.Parallel()
	for _, mode := range []sfmc.CoalesceMode{sfmc.CoalesceOn, sfmc.CoalesceOff} {
		t.Run(fmt.Sprint("mode ", mode), func(t *testing.T) {
			t.Parallel()
			srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithLatency(time.Millisecond),
				sfmctest.WithFaultRate(sfmctest.FaultDropAfterWrite, 0.03), sfmctest.WithSeed(2)})
			rec := newRecorder()
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, Coalesce: mode, OnResult: rec.onResult,
				RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond})
			require.NoError(t, err)
			const keys, rounds = 20, 30
			for r := range rounds {
				for k := range keys {
					require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", k), fmt.Sprint("round", r), "L")))
				}
			}
			require.NoError(t, u.Close(context.Background()))
			assert.Equal(t, int64(keys*rounds), rec.total.Load())
			assert.Empty(t, rec.failures)
			for k := range keys {
				got, ok := srv.Contact(fmt.Sprint("K", k))
				require.True(t, ok)
				assert.Equal(t, fmt.Sprint("round", rounds-1), got.Sets["Email Demographics"]["First Name"], "K%d", k)
			}
			if mode == sfmc.CoalesceOff {
				assert.Zero(t, u.Stats().Coalesced)
			}
		})
	}
}

func TestUpserterCoalescesQueuedUpdates(t *testing.T) {
	t.Parallel()
	srv, c := newSimClient(t, nil)
	var mu sync.Mutex
	var outs []sfmc.Outcome
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, FlushInterval: time.Hour, OnResult: func(o sfmc.Outcome) {
		mu.Lock()
		outs = append(outs, o)
		mu.Unlock()
	}})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "K1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"}}}))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "K1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "Last Name", Value: "Lee"}}}))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "K1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Anna"}}}))
	require.NoError(t, u.AddTagged(ctx, sfmc.Contact{Key: "K2", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Bo"}}}, "line 4"))
	assert.Equal(t, int64(4), u.Stats().QueueDepth, "held by the coalescing window")
	require.NoError(t, u.Flush(ctx), "Flush sends at once despite the window")

	mu.Lock()
	require.Len(t, outs, 4)
	coalesced := 0
	for _, o := range outs {
		require.NoError(t, o.Err)
		if o.Coalesced {
			coalesced++
			assert.Equal(t, "K1", o.Key)
		}
		if o.Key == "K2" {
			assert.Equal(t, "line 4", o.Tag)
		} else {
			assert.Nil(t, o.Tag)
		}
	}
	mu.Unlock()
	assert.Equal(t, 3, coalesced)
	st := u.Stats()
	assert.Equal(t, int64(2), st.Coalesced)
	assert.Equal(t, int64(2), st.Requests, "one request per key")
	got, _ := srv.Contact("K1")
	assert.Equal(t, map[string]any{"First Name": "Anna", "Last Name": "Lee"}, got.Sets["Email Demographics"])
	require.NoError(t, u.Close(ctx))
}

func TestUpserterCloseWithCancelledContext(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithLatency(100 * time.Millisecond)})
	rec := newRecorder()
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, OnResult: rec.onResult})
	require.NoError(t, err)
	const n = 40
	for i := range n {
		require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = u.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(n), rec.total.Load(), "every pending contact has an outcome")
	rec.mu.Lock()
	assert.NotEmpty(t, rec.failures)
	for _, f := range rec.failures {
		assert.ErrorIs(t, f.Err, sfmc.ErrClosed)
	}
	rec.mu.Unlock()
	st := u.Stats()
	assert.Equal(t, st.Added, st.Succeeded+st.Failed)

	assert.ErrorIs(t, u.Add(context.Background(), demographics("late", "A", "B")), sfmc.ErrClosed)
	assert.NoError(t, u.Close(context.Background()), "second Close returns nil")
}

// Adds racing Close: every Add either gets one outcome or fails with
// ErrClosed, and every adder ends.
func TestUpserterAddRacingClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := fakeClient(t, newFakeTenant(time.Millisecond, 0, 0))
		rec := newRecorder()
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, QueueSize: 16, OnResult: rec.onResult})
		require.NoError(t, err)
		var accepted, refused atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := u.Add(context.Background(), demographics(fmt.Sprintf("G%d-%d", g, i), "A", "B"))
					if err != nil {
						assert.ErrorIs(t, err, sfmc.ErrClosed)
						refused.Add(1)
						return
					}
					accepted.Add(1)
				}
			})
		}
		time.Sleep(50 * time.Millisecond) // the adders keep the queue full meanwhile
		require.NoError(t, u.Close(context.Background()))
		wg.Wait()
		assert.Equal(t, int64(8), refused.Load())
		assert.Greater(t, accepted.Load(), int64(16), "more Adds than the queue holds")
		assert.Equal(t, accepted.Load(), rec.total.Load(), "one outcome per accepted Add")
		assert.Empty(t, rec.failures)
	})
}

// A full queue blocks Add until a worker frees a slot, or until Add's
// context ends; the queue never holds more than QueueSize.
func TestUpserterBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := fakeClient(t, newFakeTenant(20*time.Millisecond, 0, 0))
		var maxDepth atomic.Int64
		var u *sfmc.Upserter
		rec := newRecorder()
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, QueueSize: 5, OnResult: func(o sfmc.Outcome) {
			rec.onResult(o)
			if d := u.Stats().QueueDepth; d > maxDepth.Load() {
				maxDepth.Store(d)
			}
		}})
		require.NoError(t, err)
		// Fill the queue: one in flight, five queued.
		for i := range 6 {
			require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
		}
		synctest.Wait()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		err = u.Add(ctx, demographics("blocked", "A", "B"))
		require.ErrorIs(t, err, context.DeadlineExceeded, "Add blocks while the queue is full")
		assert.Equal(t, 5*time.Millisecond, time.Since(start), "until its context ended")
		for i := 6; i < 30; i++ {
			require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
			assert.LessOrEqual(t, u.Stats().QueueDepth, int64(5))
		}
		require.NoError(t, u.Close(context.Background()))
		assert.Equal(t, int64(30), rec.total.Load())
		assert.LessOrEqual(t, maxDepth.Load(), int64(5))
	})
}

func TestUpserterFatalConditionsFailFast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(srv *sfmctest.Server)
		opts  []sfmctest.ServerOption
		cfg   func(srv *sfmctest.Server) sfmc.Config
		kind  sfmc.AlertKind
		want  error
		// failOnBlock sets UpserterConfig.FailOnBlock.
		failOnBlock bool
	}{
		{name: "invalid credentials", kind: sfmc.AlertInvalidCredentials, want: sfmc.ErrInvalidCredentials,
			cfg: func(srv *sfmctest.Server) sfmc.Config {
				cfg := srv.Config()
				cfg.ClientSecret = "wrong"
				return cfg
			}},
		{name: "IP not allowlisted", kind: sfmc.AlertIPNotAllowlisted, want: sfmc.ErrIPNotAllowlisted,
			opts: []sfmctest.ServerOption{sfmctest.WithIPAllowlistRejection()}},
		{name: "blocked with FailOnBlock", kind: sfmc.AlertBlocked, want: sfmc.ErrBlocked, failOnBlock: true,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultBlocked, 1)}},
		{name: "integration rejected", kind: sfmc.AlertUnauthorized, want: sfmc.ErrUnauthorized,
			opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault401, 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := sfmctest.NewServer(tc.opts...)
			defer srv.Close()
			cfg := srv.Config()
			if tc.cfg != nil {
				cfg = tc.cfg(srv)
			}
			c, err := sfmc.NewClient(cfg, append(srv.ClientOptions(), sfmc.WithRateLimit(1e5, 100), sfmc.WithRetry(2, time.Millisecond, 10*time.Millisecond))...)
			require.NoError(t, err)
			rec := newRecorder()
			var alerts []sfmc.Alert
			var amu sync.Mutex
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, FlushInterval: 20 * time.Millisecond, OnResult: rec.onResult,
				FailOnBlock: tc.failOnBlock,
				OnAlert:     func(a sfmc.Alert) { amu.Lock(); alerts = append(alerts, a); amu.Unlock() }})
			require.NoError(t, err)
			const n = 50
			for i := range n {
				require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
			}
			require.NoError(t, u.Flush(context.Background()))
			assert.Equal(t, int64(n), rec.total.Load())
			rec.mu.Lock()
			assert.Len(t, rec.failures, n)
			for _, f := range rec.failures {
				assert.ErrorIs(t, f.Err, tc.want)
			}
			rec.mu.Unlock()
			st := u.Stats()
			assert.Less(t, st.Requests, int64(n), "fail fast: pending contacts do not each burn requests")
			amu.Lock()
			require.Len(t, alerts, 1, "raised once")
			assert.Equal(t, tc.kind, alerts[0].Kind)
			assert.ErrorIs(t, alerts[0].Err, tc.want)
			amu.Unlock()
			assert.ErrorIs(t, u.Add(context.Background(), demographics("after", "A", "B")), tc.want)
			require.NoError(t, u.Close(context.Background()))
			assert.Empty(t, srv.Contacts())
		})
	}
}

func TestUpserterPermanentFailuresAndRatioAlert(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, nil)
	rec := newRecorder()
	var alerts atomic.Int64
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, OnResult: rec.onResult, FailureWindow: 10, FailureRatio: 0.5,
		OnAlert: func(a sfmc.Alert) {
			assert.Equal(t, sfmc.AlertFailureRatio, a.Kind)
			alerts.Add(1)
		}})
	require.NoError(t, err)
	for i := range 30 {
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i), Attributes: []sfmc.AttributeValue{
			{Set: "Email Demographics", Name: "No Such Attribute", Value: "x"}}}))
	}
	require.NoError(t, u.Close(context.Background()))
	assert.Equal(t, int64(30), rec.total.Load())
	rec.mu.Lock()
	require.Len(t, rec.failures, 30)
	for _, f := range rec.failures {
		assert.ErrorIs(t, f.Err, sfmc.ErrUnknownAttribute)
		assert.Equal(t, 1, f.Attempts, "a refused contact is not retried")
	}
	rec.mu.Unlock()
	assert.Equal(t, int64(1), alerts.Load())
}

func TestUpserterRetryBudget(t *testing.T) {
	t.Parallel()
	srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault500, 1)})
	rec := newRecorder()
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, MaxAttempts: 3, OnResult: rec.onResult,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, u.Add(context.Background(), demographics("K", "A", "B")))
	require.NoError(t, u.Close(context.Background()))
	require.Len(t, rec.failures, 1)
	f := rec.failures[0]
	assert.ErrorIs(t, f.Err, sfmc.ErrServer)
	assert.NotErrorIs(t, f.Err, sfmc.ErrOutcomeUnknown, "every attempt was answered: the failure is definite")
	var ae *sfmc.APIError
	require.ErrorAs(t, f.Err, &ae)
	assert.Equal(t, 500, ae.StatusCode)
	// MaxAttempts counts every request for the contact: the client sends
	// single attempts on the Upserter's behalf.
	assert.Equal(t, 3, f.Attempts)
	assert.Equal(t, int64(3), srv.Stats().ByStatus[500])
	assert.Contains(t, f.Err.Error(), "after 3 attempts")
}

func TestUpserterRejectsInvalidInput(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, nil)
	rec := newRecorder()
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{OnResult: rec.onResult})
	require.NoError(t, err)
	err = u.Add(context.Background(), sfmc.Contact{Key: ""})
	require.ErrorIs(t, err, sfmc.ErrInvalidContact)
	err = u.Add(context.Background(), sfmc.Contact{Key: "K", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "X", Value: struct{}{}}}})
	require.ErrorIs(t, err, sfmc.ErrInvalidContact)
	require.NoError(t, u.Close(context.Background()))
	assert.Zero(t, rec.total.Load(), "refused Adds get no outcome")

	_, err = sfmc.NewUpserter(nil, sfmc.UpserterConfig{})
	assert.ErrorIs(t, err, sfmc.ErrInvalidConfig)
	_, err = sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: -1})
	assert.ErrorIs(t, err, sfmc.ErrInvalidConfig)
	_, err = sfmc.NewUpserter(c, sfmc.UpserterConfig{FailureRatio: 2})
	assert.ErrorIs(t, err, sfmc.ErrInvalidConfig)
}

func TestUpserterSurvivesPanickingCallbacks(t *testing.T) {
	t.Parallel()
	srv, c := newSimClient(t, nil)
	var calls atomic.Int64
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, OnResult: func(sfmc.Outcome) {
		calls.Add(1)
		panic("boom")
	}})
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
	}
	require.NoError(t, u.Close(context.Background()))
	assert.Equal(t, int64(10), calls.Load())
	assert.Len(t, srv.Contacts(), 10)
}

func TestUpserterFlushWaitsForEarlierAdds(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithLatency(5 * time.Millisecond)})
	rec := newRecorder()
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, OnResult: rec.onResult})
	require.NoError(t, err)
	for i := range 40 {
		require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
	}
	require.NoError(t, u.Flush(context.Background()))
	assert.Equal(t, int64(40), rec.total.Load())
	require.NoError(t, u.Flush(context.Background()), "empty flush")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, u.Add(context.Background(), demographics("K-last", "A", "B")))
	if err := u.Flush(ctx); err != nil {
		assert.ErrorIs(t, err, context.Canceled)
	}
	require.NoError(t, u.Close(context.Background()))
	assert.Equal(t, int64(41), rec.total.Load())
}

// TestUpserterNoGoroutineLeftAfterClose is sequential: it counts the
// process's goroutines.
func TestUpserterNoGoroutineLeftAfterClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	scenarios := []struct {
		name    string
		srvOpts []sfmctest.ServerOption
		close   func() context.Context
	}{
		{name: "normal close", close: context.Background},
		{name: "close with cancelled context", srvOpts: []sfmctest.ServerOption{sfmctest.WithLatency(50 * time.Millisecond)},
			close: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			}},
		{name: "faults", srvOpts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.2), sfmctest.WithFaultRate(sfmctest.Fault429, 0.2),
			sfmctest.WithRetryAfter(time.Millisecond)}, close: context.Background},
	}
	for _, sc := range scenarios {
		func() {
			srv := sfmctest.NewServer(sc.srvOpts...)
			defer srv.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithHTTPClient(&http.Client{Transport: tr}),
				sfmc.WithRateLimit(1e5, 100), sfmc.WithRetry(1, time.Millisecond, 5*time.Millisecond))...)
			require.NoError(t, err)
			var outcomes atomic.Int64
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 32, FlushInterval: time.Millisecond,
				RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
				OnResult: func(sfmc.Outcome) { outcomes.Add(1) }})
			require.NoError(t, err)
			require.True(t, testutil.WaitFor(5*time.Second, time.Millisecond, func() bool { return upserterGoroutines() == 32 }), sc.name)
			for i := range 100 {
				require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
			}
			_ = u.Close(sc.close())
			assert.Equal(t, int64(100), outcomes.Load(), sc.name)
			// A worker that has signalled Close is still returning for a
			// few instructions: allow it a moment to be gone.
			assert.True(t, testutil.WaitFor(time.Second, time.Millisecond, func() bool { return upserterGoroutines() == 0 }), sc.name)
			assert.NoError(t, u.Close(context.Background()), "second Close returns nil")
		}()
	}
	// Everything else (the simulators, idle connections, a token refresh
	// in flight) winds down too.
	if !testutil.WaitFor(5*time.Second, 10*time.Millisecond, func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: baseline %d, now %d:\n%s", baseline, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

func TestUpserterNilContextIsAnError(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, nil)
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{})
	require.NoError(t, err)
	//lint:ignore SA1012 the point is a nil context
	assert.Error(t, u.Add(nil, demographics("K", "A", "B"))) //nolint:staticcheck
	//lint:ignore SA1012 the point is a nil context
	assert.Error(t, u.Flush(nil)) //nolint:staticcheck
	//lint:ignore SA1012 the point is a nil context
	assert.Error(t, u.Close(nil)) //nolint:staticcheck
	require.NoError(t, u.Close(context.Background()))
}
