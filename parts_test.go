package sfmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Unit tests of the Upserter's and the client's parts, each alone.

func kqContact(key string, kv ...string) Contact {
	c := Contact{Key: key}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Attributes = append(c.Attributes, AttributeValue{Set: "S", Name: kv[i], Value: kv[i+1]})
	}
	return c
}

func TestKeyQueueCoalescesAndKeepsOrder(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := newKeyQueue(true)
	assert.False(t, q.add(kqContact("A", "x", "1"), ticket{tag: 1}, time.Time{}))
	assert.False(t, q.add(kqContact("B", "x", "1"), ticket{tag: 2}, time.Time{}))
	assert.True(t, q.add(kqContact("A", "x", "2", "y", "3"), ticket{tag: 3}, time.Time{}), "merged into the queued A")

	a, _ := q.take(now, true, false)
	require.NotNil(t, a)
	assert.Equal(t, "A", a.contact.Key)
	assert.Equal(t, []AttributeValue{{"S", "x", "2"}, {"S", "y", "3"}}, a.contact.Attributes, "later values win, new ones appended")
	require.Len(t, a.tickets, 2)
	assert.True(t, a.tickets[0].coalesced && a.tickets[1].coalesced)

	// A is out: a new A is held behind it, and later As merge into it.
	q.add(kqContact("A", "x", "4"), ticket{tag: 4}, time.Time{})
	b, _ := q.take(now, true, false)
	assert.Equal(t, "B", b.contact.Key)
	assert.True(t, q.add(kqContact("A", "z", "5"), ticket{tag: 5}, time.Time{}), "merged into the held A")
	e, _ := q.take(now, true, false)
	assert.Nil(t, e, "the held A waits for the one out")
	q.done(a)
	a2, _ := q.take(now, true, false)
	require.NotNil(t, a2)
	assert.Equal(t, []AttributeValue{{"S", "x", "4"}, {"S", "z", "5"}}, a2.contact.Attributes)
	q.done(b)
	q.done(a2)
	assert.True(t, q.empty())
}

func TestKeyQueueWithoutCoalescing(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := newKeyQueue(false)
	for i := range 3 {
		assert.False(t, q.add(kqContact("A", "n", fmt.Sprint(i)), ticket{}, time.Time{}))
	}
	var got []string
	for {
		e, _ := q.take(now, true, false)
		if e == nil {
			break
		}
		got = append(got, e.contact.Attributes[0].Value.(string))
		q.done(e) // one out at a time, in order
	}
	assert.Equal(t, []string{"0", "1", "2"}, got)
}

func TestKeyQueueWindowParkAndDrain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := newKeyQueue(true)
	q.add(kqContact("W"), ticket{}, now.Add(time.Second))
	e, wait := q.take(now, true, false)
	assert.Nil(t, e)
	assert.Equal(t, time.Second, wait, "waits for the coalescing window")
	e, _ = q.take(now, true, true)
	require.NotNil(t, e, "a flush sends at once")

	// Parked for a retry: its key stays out; it comes back when ready,
	// before new entries, and even when no new entry may be taken.
	e.send = &sendState{}
	e.ready = now.Add(time.Minute)
	q.park(e)
	q.add(kqContact("W", "late", "1"), ticket{}, time.Time{})
	q.add(kqContact("N"), ticket{}, time.Time{})
	n, _ := q.take(now, true, false)
	require.NotNil(t, n)
	assert.Equal(t, "N", n.contact.Key, "W's new update is held behind the parked W")
	_, wait = q.take(now, false, false)
	assert.Equal(t, time.Minute, wait)
	p, _ := q.take(now.Add(time.Minute), false, false)
	assert.Same(t, e, p)

	q.park(p)
	drained := q.drain()
	assert.Len(t, drained, 2, "the parked W and the held W")
	assert.True(t, q.empty())
	assert.False(t, q.out["W"], "a drained parked entry releases its key")
}

func TestFlowBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFlow(4) // low water 3
		for range 4 {
			require.NoError(t, f.acquire(context.Background()))
		}
		assert.True(t, f.full())
		got := make(chan error, 1)
		go func() { got <- f.acquire(context.Background()) }()
		synctest.Wait()
		f.release(0)
		select {
		case <-got:
			t.Fatal("woke above the low-water mark")
		default:
		}
		f.release(1) // 3: the low-water mark
		synctest.Wait()
		require.NoError(t, <-got)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.ErrorIs(t, f.acquire(ctx), context.DeadlineExceeded)
		go func() { got <- f.acquire(context.Background()) }()
		synctest.Wait()
		f.close(ErrClosed)
		assert.ErrorIs(t, <-got, ErrClosed, "close wakes waiters")
		assert.ErrorIs(t, f.acquire(context.Background()), ErrClosed)
	})
}

func TestAlertTracker(t *testing.T) {
	t.Parallel()
	var got []AlertKind
	tr := newAlertTracker(func(a Alert) { got = append(got, a.Kind) }, slog.New(slog.DiscardHandler), 4, 0.5)
	assert.True(t, tr.raise(Alert{Kind: AlertUnauthorized}, 0))
	assert.False(t, tr.raise(Alert{Kind: AlertUnauthorized}, 0), "once")
	assert.True(t, tr.raise(Alert{Kind: AlertBlocked}, 1))
	assert.False(t, tr.raise(Alert{Kind: AlertBlocked}, 1), "once per episode")
	assert.True(t, tr.raise(Alert{Kind: AlertBlocked}, 2), "again for a new episode")
	for _, failed := range []bool{true, true, true, false} { // 75% > 50%
		tr.outcome(failed)
	}
	tr.outcome(true)
	for range 4 {
		tr.outcome(false) // 0% < 25%: re-armed
	}
	for range 3 {
		tr.outcome(true)
	}
	assert.Equal(t, []AlertKind{AlertUnauthorized, AlertBlocked, AlertBlocked, AlertFailureRatio, AlertFailureRatio}, got)
	// A panicking OnAlert is recovered.
	tr = newAlertTracker(func(Alert) { panic("boom") }, slog.New(slog.DiscardHandler), 4, 0.5)
	assert.NotPanics(t, func() { tr.raise(Alert{Kind: AlertBlocked}, 1) })
}

func TestStopCondition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		class       answerClass
		err         error
		failOnBlock bool
		kind        AlertKind
		stop        bool
	}{
		{classFatal, &OAuthError{Code: "invalid_client"}, false, AlertInvalidCredentials, true},
		{classFatal, &OAuthError{Code: "invalid_grant", Description: "The client's IP address is unauthorized"}, false, AlertIPNotAllowlisted, true},
		{classRejected, &APIError{StatusCode: 401}, false, AlertUnauthorized, true},
		{classAuth, &APIError{StatusCode: 401}, false, "", false},
		{classBlocked, &APIError{StatusCode: 429, Code: 50200}, false, "", false},
		{classBlocked, &APIError{StatusCode: 429, Code: 50200}, true, AlertBlocked, true},
		{classServer, &APIError{StatusCode: 500}, true, "", false},
	}
	for _, tt := range tests {
		kind, stop := stopCondition(tt.class, tt.err, tt.failOnBlock)
		assert.Equal(t, tt.kind, kind, "%v %v", tt.class, tt.err)
		assert.Equal(t, tt.stop, stop, "%v %v", tt.class, tt.err)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	status := []struct {
		status, code int
		want         answerClass
	}{
		{200, 0, classOK}, {204, 0, classOK}, {429, 50100, classThrottled}, {429, 0, classThrottled},
		{429, 50200, classBlocked}, {503, 50300, classBusy}, {500, 0, classServer}, {502, 0, classServer},
		{504, 0, classServer}, {501, 0, classPermanent}, {505, 0, classPermanent}, {596, 0, classPermanent},
		{401, 0, classAuth}, {400, 0, classPermanent}, {403, 0, classPermanent}, {404, 0, classPermanent},
	}
	for _, tt := range status {
		assert.Equal(t, tt.want, classifyStatus(tt.status, tt.code), "%d/%d", tt.status, tt.code)
	}
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	errs := []struct {
		ctx  context.Context
		err  error
		sent bool
		want answerClass
	}{
		{done, errors.New("x"), true, classCanceled},
		{live, &tokenError{&OAuthError{Code: "invalid_client"}}, false, classFatal},
		{live, &tokenError{&OAuthError{Code: "invalid_request"}}, false, classPermanent},
		{live, &tokenError{&APIError{StatusCode: 503}}, false, classNotSent},
		{live, &tokenError{&APIError{StatusCode: 429}}, false, classNotSent},
		{live, &tokenError{&APIError{StatusCode: 400}}, false, classPermanent},
		{live, &tokenError{errors.New("connection refused")}, false, classNotSent},
		{live, dial, true, classNotSent},
		{live, io.ErrUnexpectedEOF, true, classUnanswered},
		{live, fmt.Errorf("%w: no answer", errAttemptTimeout), true, classUnanswered},
		{live, context.DeadlineExceeded, false, classNotSent},
		{live, fmt.Errorf("%w: x", ErrClientRateLimited), false, classPermanent},
		{live, fmt.Errorf("%w: to evil.com", errRedirect), true, classPermanent},
	}
	for _, tt := range errs {
		assert.Equal(t, tt.want, classifyError(tt.ctx, tt.err, tt.sent), "%v sent=%v", tt.err, tt.sent)
	}
	for _, k := range []answerClass{classThrottled, classBusy, classNotSent, classAuth, classBlocked} {
		assert.True(t, retryable(k, http.MethodPost), k.String())
	}
	for _, k := range []answerClass{classServer, classUnanswered} {
		assert.False(t, retryable(k, http.MethodPost), "%v: POST may have been processed", k)
		assert.True(t, retryable(k, http.MethodPatch), k.String())
		assert.True(t, retryable(k, http.MethodGet), k.String())
	}
	for _, k := range []answerClass{classOK, classRejected, classFatal, classPermanent, classCanceled} {
		assert.False(t, retryable(k, http.MethodGet), k.String())
	}
}

// step feeds n answers of sig, spread over d, starting at *now.
func step(c *PaceController, now *time.Time, d time.Duration, n int, sig Signal, saturated bool) {
	for i := range n {
		if saturated {
			c.Saturated()
		}
		*now = now.Add(d / time.Duration(n))
		_ = i
		c.Observe(*now, Answer{Signal: sig})
	}
}

func TestPaceControllerSlowStartCutAndRecovery(t *testing.T) {
	t.Parallel()
	c := NewPaceController(math.Inf(1))
	now := time.Unix(1000, 0)
	assert.Equal(t, initialRate, c.Rate())
	for range 5 {
		step(c, &now, 200*time.Millisecond, 10, SignalSuccess, true)
	}
	assert.Greater(t, c.Rate(), 16*initialRate, "slow start doubles every round")
	top := c.Rate()
	r, changed := c.Observe(now, Answer{Signal: SignalThrottled})
	assert.True(t, changed)
	assert.InDelta(t, top*cutBlocked, r, 0.01, "throttled in slow start: halved (the last doubling overshot)")
	r2, changed := c.Observe(now.Add(time.Millisecond), Answer{Signal: SignalThrottled})
	assert.False(t, changed, "one cut per round")
	assert.Equal(t, r, r2)
	// Clean rounds add a step; no slow start above half the peak.
	step(c, &now, 200*time.Millisecond, 10, SignalSuccess, true)
	step(c, &now, 200*time.Millisecond, 10, SignalSuccess, true)
	assert.Greater(t, c.Rate(), r)
	assert.Less(t, c.Rate(), 2*r)
	// Throttled outside slow start: a gentler cut.
	now = now.Add(time.Second)
	before := c.Rate()
	r, _ = c.Observe(now, Answer{Signal: SignalThrottled})
	assert.InDelta(t, before*cutThrottled, r, 0.01)
	// Without demand (never saturated) it does not grow: the round in
	// progress ends first, then nothing changes.
	step(c, &now, 200*time.Millisecond, 10, SignalSuccess, false)
	before = c.Rate()
	step(c, &now, 2*time.Second, 40, SignalSuccess, false)
	assert.Equal(t, before, c.Rate())
}

func TestPaceControllerOutageAndCeiling(t *testing.T) {
	t.Parallel()
	c := NewPaceController(300)
	now := time.Unix(1000, 0)
	assert.Equal(t, 300.0, c.Rate(), "a configured rate is the start")
	step(c, &now, time.Second, 200, SignalSuccess, true)
	assert.Equal(t, 300.0, c.Rate(), "never above the ceiling")
	// An outage: every answer fails. Within 5 s the rate is under 10%.
	for range 25 {
		step(c, &now, 200*time.Millisecond, 8, SignalFailure, true)
	}
	assert.Less(t, c.Rate(), 30.0)
	assert.GreaterOrEqual(t, c.Rate(), minRate, "never below the floor")
	// Clean again: slow start back to half the peak within a few rounds.
	for range 12 {
		step(c, &now, 250*time.Millisecond, 20, SignalSuccess, true)
	}
	assert.GreaterOrEqual(t, c.Rate(), 150.0)
	c.SetRate(1e9)
	assert.Equal(t, 300.0, c.Rate(), "SetRate keeps the ceiling")
	c.SetRate(math.NaN())
	assert.Equal(t, 300.0, c.Rate())
	r, _ := c.Observe(now.Add(time.Hour), Answer{Signal: SignalBlocked})
	assert.InDelta(t, 300*cutBlocked, r, 0.01, "a block cuts harder")
}

func TestConcurrencyFor(t *testing.T) {
	t.Parallel()
	assert.Equal(t, DefaultUpserterWorkers, concurrencyFor(400, 0, 256), "before the first round trip")
	assert.Equal(t, 121, concurrencyFor(400, 150*time.Millisecond, 256))
	assert.Equal(t, 1, concurrencyFor(0, time.Millisecond, 256))
	assert.Equal(t, 256, concurrencyFor(1e6, time.Second, 256))
	assert.Equal(t, 256, concurrencyFor(math.Inf(1), time.Second, 256))
}

func TestBlockEpisodes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cd := NewCooldown()
		b := newBlock(cd)
		ep, started := b.answered(false, classBlocked, 0)
		assert.True(t, started)
		assert.Equal(t, uint64(1), ep)
		_, started = b.answered(false, classBlocked, 0)
		assert.False(t, started, "answers to requests sent before the pause are the same block")
		// While paused, attempts wait; then only one probe at a time.
		start := time.Now()
		probe, err := b.admit(context.Background())
		require.NoError(t, err)
		assert.True(t, probe)
		waited := time.Since(start)
		assert.GreaterOrEqual(t, waited, blockPauseFirst*4/5)
		assert.LessOrEqual(t, waited, blockPauseFirst*6/5)
		second := make(chan bool, 1)
		go func() {
			p, _ := b.admit(context.Background())
			second <- p
		}()
		synctest.Wait()
		select {
		case <-second:
			t.Fatal("a second probe went out while the first was in flight")
		default:
		}
		// The probe is blocked again: the pause grows.
		b.answered(true, classBlocked, 0)
		probe2 := <-second
		assert.True(t, probe2)
		assert.GreaterOrEqual(t, time.Since(start)-waited, 2*blockPauseFirst*4/5, "the second pause is longer")
		_, active := b.current()
		assert.True(t, active)
		b.answered(true, classOK, 0)
		_, active = b.current()
		assert.False(t, active, "a clean probe ends the episode")
		probe, err = b.admit(context.Background())
		require.NoError(t, err)
		assert.False(t, probe, "no probing outside an episode")
		ep, started = b.answered(false, classBlocked, 7*time.Second)
		assert.True(t, started)
		assert.Equal(t, uint64(2), ep)
		start = time.Now()
		require.NoError(t, cd.Wait(context.Background()))
		assert.Equal(t, 7*time.Second, time.Since(start), "Retry-After, when given, is the pause")
	})
}

func TestRetryBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := newRetryBudget(RetryBudget{Ratio: 0.5, MinPerSecond: 2})
		for range 20 {
			assert.Zero(t, b.reserve(), "the first retries are covered")
		}
		assert.Equal(t, 500*time.Millisecond, b.reserve(), "then MinPerSecond pays them")
		assert.Equal(t, time.Second, b.reserve())
		for range 4 {
			b.success() // +2 retries
		}
		assert.Equal(t, 500*time.Millisecond, b.reserve())
		time.Sleep(10 * time.Second)
		assert.Zero(t, b.reserve(), "refilled over time")
	})
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := redactor{secret: `s3"cr3t`}
	in := []byte(`{"message":"echo s3\"cr3t and s3"cr3t","auth":"Bearer tok-123"}`)
	out := r.body(in, "tok-123")
	assert.Equal(t, `{"message":"echo [REDACTED] and [REDACTED]","auth":"Bearer [REDACTED]"}`, string(out), "raw and JSON-escaped forms")
	assert.Contains(t, string(in), "tok-123", "the input is not changed")
	clean := []byte(`{"message":"nothing"}`)
	assert.Equal(t, &clean[0], &r.body(clean, "tok-123")[0], "no copy when nothing is found")
	assert.Equal(t, "short ab", string(redactor{secret: "ab"}.body([]byte("short ab"))), "too short to redact")
}

// Answers to requests sent before a block began (in flight then) neither
// end the episode nor start a new one.
func TestBlockInFlightAnswers(t *testing.T) {
	t.Parallel()
	b := newBlock(NewCooldown())
	ep, started := b.answered(false, classBlocked, 0)
	require.True(t, started)
	for _, k := range []answerClass{classOK, classBlocked, classOK, classBlocked} {
		got, again := b.answered(false, k, 0)
		assert.False(t, again)
		assert.Equal(t, ep, got)
	}
	_, active := b.current()
	assert.True(t, active, "only a probe ends the episode")
}
