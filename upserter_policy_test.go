package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 11: MaxAttempts counts every HTTP request for a contact. A contact
// that always gets 500 (or 503) costs exactly MaxAttempts requests and says
// so; 501 and other 5xx no retry cures cost one. The other contacts go on.
func TestUpserterAttemptBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault sfmctest.Fault
		want  int
		is    error
	}{
		{sfmctest.Fault500, 4, sfmc.ErrServer},
		{sfmctest.Fault503, 4, sfmc.ErrServer},
		{sfmctest.Fault501, 1, sfmc.ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithKeyFault("BAD", tt.fault), sfmctest.WithRetryAfter(time.Millisecond)})
			rec := newRecorder()
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{MaxAttempts: 4, OnResult: rec.onResult,
				RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
			require.NoError(t, err)
			for i := range 20 {
				require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("OK", i), "A", "B")))
			}
			require.NoError(t, u.Add(context.Background(), demographics("BAD", "A", "B")))
			require.NoError(t, u.Close(context.Background()))
			require.Len(t, rec.failures, 1)
			f := rec.failures[0]
			assert.Equal(t, "BAD", f.Key)
			assert.Equal(t, tt.want, f.Attempts)
			assert.ErrorIs(t, f.Err, tt.is)
			if tt.want > 1 {
				assert.Contains(t, f.Err.Error(), fmt.Sprintf("after %d attempts", tt.want), "the error says the true number")
			}
			// Every request for BAD was one of its attempts: 20 good
			// contacts, one request each.
			assert.Equal(t, int64(20+tt.want), srv.Stats().RESTRequests, "one request per good contact, and BAD's attempts: none hidden")
			assert.Len(t, srv.Contacts(), 20)
		})
	}
}

// Issue 11, item 3: REST answers 401 to every token (a revoked or
// mis-scoped integration). With 64 workers the run asks for at most 3
// tokens, sends about 2 requests per worker, raises one AlertUnauthorized,
// fails every contact with ErrUnauthorized and refuses later Adds.
func TestUpserterRejectedIntegration(t *testing.T) {
	t.Parallel()
	srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault401, 1)})
	rec := newRecorder()
	var alerts []sfmc.Alert
	var mu sync.Mutex
	const workers = 64
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: workers, OnResult: rec.onResult,
		OnAlert: func(a sfmc.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }})
	require.NoError(t, err)
	const n = 500
	for i := range n {
		if err := u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")); err != nil {
			require.ErrorIs(t, err, sfmc.ErrUnauthorized)
		}
	}
	require.NoError(t, u.Close(context.Background()))
	st := srv.Stats()
	t.Logf("%d token requests, %d REST requests, %d outcomes", st.TokenRequests, st.RESTRequests, rec.total.Load())
	assert.LessOrEqual(t, st.TokenRequests, int64(3))
	assert.LessOrEqual(t, st.RESTRequests, int64(2*workers+4))
	rec.mu.Lock()
	assert.Len(t, rec.failures, int(rec.total.Load()), "nothing succeeded")
	for _, f := range rec.failures {
		assert.ErrorIs(t, f.Err, sfmc.ErrUnauthorized)
	}
	rec.mu.Unlock()
	mu.Lock()
	require.Len(t, alerts, 1)
	assert.Equal(t, sfmc.AlertUnauthorized, alerts[0].Kind)
	assert.Contains(t, alerts[0].Message, "rejected")
	mu.Unlock()
	assert.ErrorIs(t, u.Add(context.Background(), demographics("late", "A", "B")), sfmc.ErrClosed)
}

// Issue 11, item 4, end to end: a 50200 block of 2 s from the 60th request
// on, mid-push against the simulator. The client pauses (about 5 s, then
// probes one request at a time), the contacts wait: none fails, all are
// stored, and AlertBlocked is raised once.
func TestUpserterWaitsOutBlock(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out a block of a few seconds")
	}
	srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithBlockAt(60, 2*time.Second), sfmctest.WithLatency(5 * time.Millisecond)})
	rec := newRecorder()
	var alerts atomic.Int64
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{OnResult: rec.onResult,
		OnAlert: func(a sfmc.Alert) {
			if a.Kind == sfmc.AlertBlocked {
				alerts.Add(1)
			}
		}})
	require.NoError(t, err)
	const n = 300
	for i := range n {
		require.NoError(t, u.Add(context.Background(), demographics(fmt.Sprint("K", i), "A", "B")))
	}
	require.NoError(t, u.Close(context.Background()))
	st := srv.Stats()
	t.Logf("%d REST requests, %d answered 429 (50200), %d block episodes", st.RESTRequests, st.ByStatus[429], st.Blocks)
	assert.Empty(t, rec.failures)
	assert.Len(t, srv.Contacts(), n)
	assert.Equal(t, int64(1), st.Blocks)
	assert.Equal(t, int64(1), alerts.Load(), "one alert per episode")
}

// Issue 12, item 9: Close returns by its context's deadline whatever
// OnResult does; the outcomes not yet delivered are delivered later, each
// once.
func TestUpserterCloseDeadlineWithBlockedCallback(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		c := fakeClient(t, ft)
		release := make(chan struct{})
		var delivered atomic.Int64
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, OnResult: func(sfmc.Outcome) {
			<-release
			delivered.Add(1)
		}})
		require.NoError(t, err)
		for i := range 10 {
			require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i)}))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err = u.Close(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// The deadline, then the 50 ms Close waits for a next outcome to be
		// delivered (none comes: OnResult is blocked).
		assert.Equal(t, time.Second+50*time.Millisecond, time.Since(start), "returned by the deadline and the delivery grace")
		close(release)
		synctest.Wait()
		assert.Equal(t, int64(10), delivered.Load(), "every outcome delivered once the callback returns")
	})
}

// Issue 12, item 9: Flush or Close from inside a callback returns
// ErrInCallback instead of deadlocking; so does an Add that would block.
func TestUpserterReentrantCallbacks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		c := fakeClient(t, ft)
		var u *sfmc.Upserter
		var flushErr, closeErr, addErr error
		var once sync.Once
		done := make(chan struct{})
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, QueueSize: 1, OnResult: func(sfmc.Outcome) {
			once.Do(func() {
				defer close(done)
				flushErr = u.Flush(context.Background())
				closeErr = u.Close(context.Background())
				// The queue (size 1) is full after "fill": "more" would
				// wait for the worker that runs this callback.
				require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "fill"}))
				addErr = u.Add(context.Background(), sfmc.Contact{Key: "more"})
			})
		}})
		require.NoError(t, err)
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "K"}))
		<-done
		require.NoError(t, u.Close(context.Background()))
		assert.ErrorIs(t, flushErr, sfmc.ErrInCallback)
		assert.ErrorIs(t, closeErr, sfmc.ErrInCallback)
		assert.ErrorIs(t, addErr, sfmc.ErrInCallback)
	})
}

// Issue 12, item 10: NewUpserter checks every field and names it.
func TestUpserterConfigValidation(t *testing.T) {
	t.Parallel()
	_, c := newSimClient(t, nil)
	tests := []struct {
		name  string
		cfg   sfmc.UpserterConfig
		field string
	}{
		{"huge failure window", sfmc.UpserterConfig{FailureWindow: 1 << 45}, "FailureWindow"},
		{"NaN ratio", sfmc.UpserterConfig{FailureRatio: math.NaN()}, "FailureRatio"},
		{"ratio above 1", sfmc.UpserterConfig{FailureRatio: 1.5}, "FailureRatio"},
		{"negative workers", sfmc.UpserterConfig{Workers: -1}, "Workers"},
		{"too many workers", sfmc.UpserterConfig{Workers: 1 << 20}, "Workers"},
		{"too many max workers", sfmc.UpserterConfig{MaxWorkers: 1 << 20}, "MaxWorkers"},
		{"huge queue", sfmc.UpserterConfig{QueueSize: 1 << 40}, "QueueSize"},
		{"absurd attempts", sfmc.UpserterConfig{MaxAttempts: 1 << 30}, "MaxAttempts"},
		{"negative duration", sfmc.UpserterConfig{MaxRetryDuration: -time.Second}, "MaxRetryDuration"},
		{"year-long retry wait", sfmc.UpserterConfig{RetryWaitMax: 365 * 24 * time.Hour}, "RetryWaitMax"},
		{"wait max under min", sfmc.UpserterConfig{RetryWaitMin: time.Second, RetryWaitMax: time.Millisecond}, "RetryWaitMax"},
		{"huge flush window", sfmc.UpserterConfig{FlushInterval: 48 * time.Hour}, "FlushInterval"},
		{"unknown coalesce mode", sfmc.UpserterConfig{Coalesce: 7}, "Coalesce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := sfmc.NewUpserter(c, tt.cfg)
			require.Error(t, err)
			assert.Nil(t, u)
			assert.ErrorIs(t, err, sfmc.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "UpserterConfig."+tt.field)
		})
	}
}

// Issue 11, item 8: an attempt cut off by the client's own timeout
// (WithHTTPClient's Timeout) is an unanswered attempt: the Upserter retries
// it, and a contact whose every attempt timed out fails matching
// ErrOutcomeUnknown (SFMC may have applied it). Direct calls retry it too
// (GET and PATCH). The waits before an attempt do not count against the
// timeout.
func TestAttemptTimeoutIsUnanswered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(0, 0, 0)
		var slow atomic.Bool
		slow.Store(true)
		ft.latencyFor = func(n int64) time.Duration {
			if slow.Load() {
				return 2 * time.Second
			}
			return time.Millisecond
		}
		c := fakeClient(t, ft, sfmc.WithHTTPClient(&http.Client{Transport: ft, Timeout: time.Second}),
			sfmc.WithRetry(2, time.Millisecond, 10*time.Millisecond))

		// Direct call: the PATCH times out on every attempt.
		_, err := c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "D"})
		require.Error(t, err)
		assert.ErrorIs(t, err, sfmc.ErrOutcomeUnknown)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(3), ft.requests(), "retried: 1 + 2")

		var outs []sfmc.Outcome
		var mu sync.Mutex
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, MaxAttempts: 3, OnResult: func(o sfmc.Outcome) {
			mu.Lock()
			outs = append(outs, o)
			mu.Unlock()
		}})
		require.NoError(t, err)
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "U"}))
		require.NoError(t, u.Flush(context.Background()))
		slow.Store(false)
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "V"}))
		require.NoError(t, u.Close(context.Background()))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, outs, 2)
		assert.Equal(t, 3, outs[0].Attempts, "every timed-out attempt retried")
		assert.ErrorIs(t, outs[0].Err, sfmc.ErrOutcomeUnknown)
		assert.True(t, errors.Is(outs[0].Err, context.DeadlineExceeded) || strings.Contains(outs[0].Err.Error(), "timed out"), outs[0].Err)
		assert.NoError(t, outs[1].Err)
	})
}

// A block whose answers say Retry-After 1 s: the client probes every
// second, and the probe contact's 50200 answers do not use up MaxAttempts:
// it fails only when its MaxRetryDuration runs out, and succeeds when the
// block ends before that.
func TestBlockedAnswersDoNotUseUpMaxAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, tt := range []struct {
			block   time.Duration
			success bool
		}{{8 * time.Second, true}, {time.Hour, false}} {
			ft := newFakeTenant(time.Millisecond, 0, 0)
			start := time.Now()
			ft.answer = func(now time.Time, _ int64) (int, string) {
				if now.Sub(start) < tt.block {
					return 429, `{"message":"Your requests are temporarily blocked.","errorcode":50200,"retryAfter":1}`
				}
				return 0, ""
			}
			c := fakeClient(t, ft)
			var out sfmc.Outcome
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, MaxAttempts: 3, MaxRetryDuration: 20 * time.Second,
				OnResult: func(o sfmc.Outcome) { out = o }})
			require.NoError(t, err)
			require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "K"}))
			require.NoError(t, u.Close(context.Background()))
			if tt.success {
				assert.NoError(t, out.Err)
				assert.Greater(t, out.Attempts, 3, "more requests than MaxAttempts: the probes")
				continue
			}
			require.Error(t, out.Err)
			assert.ErrorIs(t, out.Err, sfmc.ErrBlocked)
			assert.Contains(t, out.Err.Error(), "MaxRetryDuration")
			assert.GreaterOrEqual(t, time.Since(start), 20*time.Second)
		}
	})
}

// With FailOnBlock, a 50200 stops the Upserter: attempts still waiting to
// be sent (here for the block's pause) send nothing, and their contacts
// fail at once with the stop's error.
func TestFailOnBlockSendsNothingAfterTheStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(50*time.Millisecond, 0, 0)
		ft.answer = func(_ time.Time, n int64) (int, string) {
			if n == 1 {
				return 429, `{"message":"Your requests are temporarily blocked.","errorcode":50200}`
			}
			return 0, ""
		}
		c := fakeClient(t, ft)
		var failed, total atomic.Int64
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, FailOnBlock: true, OnResult: func(o sfmc.Outcome) {
			total.Add(1)
			if o.Err != nil {
				failed.Add(1)
				assert.ErrorIs(t, o.Err, sfmc.ErrBlocked)
			}
		}})
		require.NoError(t, err)
		for i := range 40 {
			if err := u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i)}); err != nil {
				break
			}
		}
		start := time.Now()
		sent := ft.requests()
		require.NoError(t, u.Close(context.Background()))
		assert.Less(t, time.Since(start), blockPauseFirstForTest, "no attempt waited out the pause")
		assert.LessOrEqual(t, ft.requests()-sent, int64(8), "at most the attempts already sent when the block came")
		assert.Equal(t, total.Load(), u.Stats().Added)
		assert.Positive(t, failed.Load())
	})
}

// blockPauseFirstForTest is the client's first block pause (5 s ± 20%),
// less its jitter.
const blockPauseFirstForTest = 4 * time.Second

// slowLog is a log handler that takes a millisecond (fake clock) over the
// first record of a 429 answer, as a slow log sink would.
type slowLog struct{ once *sync.Once }

func (h slowLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h slowLog) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h slowLog) WithGroup(string) slog.Handler                { return h }
func (h slowLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "status" && a.Value.Int64() == 429 {
			h.once.Do(func() { time.Sleep(time.Millisecond) })
		}
		return true
	})
	return nil
}

// TestFailOnBlockCancelsAttemptsInThePause: with FailOnBlock, a 50200
// answer stops the Upserter. An attempt that a worker started between the
// answer and the stop (here: while the client logs the 429 answer, 1 ms)
// waits in the client for the block's pause (5 s). It must not be sent
// after the stop: Close returns at once, and the tenant sees no request
// after the block.
//
// Before the fix, stop drained the queue but left such an attempt waiting:
// Close waited out the pause and the attempt went out as the block's probe
// after the Upserter had reported the stop.
func TestFailOnBlockCancelsAttemptsInThePause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(0, 0, 0)
		ft.latencyFor = func(n int64) time.Duration {
			if n == 1 {
				return 10*time.Millisecond + 500*time.Microsecond // answered after the 50200, before the stop
			}
			return 10 * time.Millisecond
		}
		ft.answer = func(_ time.Time, n int64) (int, string) {
			if n == 2 {
				return 429, `{"message":"Your requests are temporarily blocked.","errorcode":50200}`
			}
			return 0, ""
		}
		c := fakeClient(t, ft, sfmc.WithRateLimit(1e5, 100), sfmc.WithLogger(slog.New(slowLog{&sync.Once{}})))
		rec := newRecorder()
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, FailOnBlock: true, OnResult: rec.onResult})
		require.NoError(t, err)
		start := time.Now()
		for i := range 10 {
			if err := u.Add(context.Background(), sfmc.Contact{Key: fmt.Sprint("K", i)}); err != nil {
				require.ErrorIs(t, err, sfmc.ErrBlocked)
			}
		}
		require.NoError(t, u.Close(context.Background()))
		assert.Less(t, time.Since(start), time.Second, "Close does not wait out the block's pause")
		assert.Equal(t, int64(2), ft.requests(), "no request after the block")
	})
}
