package sfmc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Upserter defaults, used for zero fields of UpserterConfig.
const (
	// DefaultUpserterWorkers is the concurrency an adaptive Upserter starts
	// with, before the first round trip is measured.
	DefaultUpserterWorkers = 8
	// DefaultMaxWorkers bounds an adaptive Upserter's concurrency.
	DefaultMaxWorkers           = 256
	DefaultUpserterQueue        = 10000
	DefaultMaxAttempts          = 10
	DefaultMaxRetryDuration     = 5 * time.Minute
	DefaultFailureWindow        = 200
	DefaultUpserterRetryWaitMin = 250 * time.Millisecond
	DefaultUpserterRetryWaitMax = 30 * time.Second
	DefaultFailureRatio         = 0.5
)

// Bounds of UpserterConfig fields: values beyond them are refused by
// NewUpserter (they exhaust memory or time, and no tenant needs them).
const (
	maxWorkersLimit    = 10_000
	maxQueueLimit      = 10_000_000
	maxAttemptsLimit   = 1000
	maxWindowLimit     = 1_000_000
	maxDurationLimit   = 24 * time.Hour
	maxRetryWaitLimit  = time.Hour
	maxFlushWindowSize = time.Hour
)

// CoalesceMode says whether an Upserter merges queued updates to one
// contact key. The zero value, CoalesceOn, merges.
type CoalesceMode int

const (
	// CoalesceOn merges updates to a key that are still queued into one
	// request; later values win per attribute. It is the default.
	CoalesceOn CoalesceMode = iota
	// CoalesceOff sends one request per Add.
	CoalesceOff
)

// UpserterConfig configures an Upserter. Zero fields take the defaults.
type UpserterConfig struct {
	// Workers, when set, is a fixed number of concurrent senders: at most
	// Workers contacts are out (sending or waiting to retry) and Workers
	// requests in flight. Zero (the default) sizes the concurrency from the
	// client's pace and the observed latency (Little's law: pace × round
	// trip, doubled for headroom), between 1 and MaxWorkers, so that a
	// tenant far away is not held to a small number of requests in flight.
	Workers int
	// MaxWorkers bounds the adaptive concurrency, and the contacts out at
	// once (default 256). Ignored when Workers is set.
	MaxWorkers int
	// QueueSize bounds the Adds waiting to be sent, coalesced ones
	// included (default 10,000). Add blocks while the queue is full; a
	// blocked Add goes on once the queue has drained to three quarters of
	// QueueSize, so a fast producer is woken once per run of free slots.
	QueueSize int
	// FlushInterval is the coalescing window: a queued contact waits at
	// least this long before it is sent, so that later updates to the same
	// key merge into its request. Zero (the default) sends as soon as a
	// worker is free; updates still merge while they wait for one. Flush
	// and Close send at once, whatever the window.
	FlushInterval time.Duration
	// Coalesce controls merging of queued updates to one key (default
	// CoalesceOn). Updates to one key are never sent concurrently either
	// way, so the last Add's values are the ones SFMC keeps.
	Coalesce CoalesceMode
	// MaxAttempts bounds the HTTP requests made for one contact, in total
	// (default 10): the Upserter sends single attempts and decides every
	// retry itself, following the client's policy (see retry.go), so the
	// count is exact. MaxRetryDuration bounds the time from a contact's
	// first attempt to its last (default 5 minutes), waits for a 50200
	// block included. Whichever comes first fails the contact with its last
	// error. A contact that gets a permanent answer (4xx, a refused
	// contact, 501, ...) fails at once. Answers 50200 (the probes of a
	// block) count in Outcome.Attempts but do not use up MaxAttempts: a
	// block fails a contact only when its MaxRetryDuration runs out.
	MaxAttempts      int
	MaxRetryDuration time.Duration
	// RetryWaitMin and RetryWaitMax bound the wait between the attempts of
	// a contact (defaults 250 ms and 30 s): the server's Retry-After capped
	// at RetryWaitMax, else half of RetryWaitMin·2^n (capped) plus a random
	// part of the other half, and at least what the client's retry budget
	// asks (see RetryBudget). A contact waiting for its retry holds no
	// request slot.
	RetryWaitMin, RetryWaitMax time.Duration
	// FailOnBlock makes a 50200 block ("Your requests are temporarily
	// blocked.") stop the Upserter, failing every queued contact with
	// ErrBlocked, as the destination does. By default the client pauses and
	// probes until the block ends, and contacts wait (they fail only when
	// their MaxRetryDuration runs out).
	FailOnBlock bool
	// OnResult is called exactly once for every Add that returned nil,
	// with that Add's contact key and outcome. It may be called from
	// several goroutines at once and must be fast: it runs on the senders'
	// goroutines. It must not wait on the Upserter: Flush and Close called
	// from it return ErrInCallback, and so does an Add from it that would
	// block on a full queue. A panic in it is recovered and logged.
	OnResult func(Outcome)
	// OnAlert is called once per condition the destination reports as a
	// dataflow alert: credentials rejected, IP not allowlisted, the
	// integration rejected (a 401 on a new token), requests blocked (50200;
	// once per block episode), a failure ratio above FailureRatio over the
	// last FailureWindow outcomes (raised again only after the ratio fell
	// back below half the threshold); and, in fleet mode, the client's
	// shared state falling back to local state
	// (AlertSharedStateUnavailable). The same rules as OnResult apply.
	OnAlert func(Alert)
	// FailureWindow and FailureRatio configure the failure-ratio alert
	// (defaults 200 outcomes and 0.5).
	FailureWindow int
	FailureRatio  float64
	// SentStore, when set, makes the Upserter send only what changed: it
	// remembers what SFMC confirmed per contact key and attribute, sends
	// only the attributes whose value differs (skipping the request when
	// none does: Outcome.Skipped), and records what SFMC confirms. See
	// SentStore for the rules; without one every Add is sent whole.
	SentStore SentStore
	// SentTTL is how long a confirmed value is trusted (default 30 days):
	// after that the attribute is sent again, so that changes made inside
	// SFMC are eventually overwritten.
	SentTTL time.Duration
	// ResendAll sends every attribute whatever SentStore says, and still
	// records what SFMC confirms: a full refresh (sfmc push --full).
	ResendAll bool
}

// Outcome is the result of one Add.
type Outcome struct {
	// Key is the contact key of the Add.
	Key string
	// Result is SFMC's answer on success, nil on failure. Adds coalesced
	// into one request share it.
	Result *ContactResult
	// Err is nil on success, else a typed error: *ContactError, *APIError,
	// *RateLimitError, ErrInvalidCredentials, ErrIPNotAllowlisted,
	// ErrUnauthorized, ErrBlocked, or ErrClosed (with the Close context's
	// error) when the Upserter was closed before the contact could be sent.
	// When an attempt got no answer (dropped connection, the attempt's
	// timeout, a request cut off by Close) the error also matches
	// ErrOutcomeUnknown: the contact may be stored anyway.
	Err error
	// Attempts is the number of HTTP requests made for the contact.
	Attempts int
	// Coalesced reports that the Add was merged with another Add to the
	// same key and sent in one request.
	Coalesced bool
	// Tag is the value given to AddTagged (nil for Add): a caller's handle
	// on the record, such as its input line number.
	Tag any
	// Skipped reports that no request was sent: SFMC already holds every
	// value of the contact, according to UpserterConfig.SentStore. Err and
	// Result are nil, Attempts 0.
	Skipped bool
}

// UpserterStats is a snapshot of an Upserter's counters and of the
// client's pace.
type UpserterStats struct {
	Added      int64 // Adds accepted
	Coalesced  int64 // Adds merged into another queued Add of the same key
	Requests   int64 // HTTP requests sent (attempts, retries included)
	Succeeded  int64 // outcomes without error (skipped ones included)
	Failed     int64 // outcomes with an error
	Retried    int64 // requests beyond the first for a contact
	Throttled  int64 // 429 answers seen
	InFlight   int64 // contacts being sent now, or waiting to retry
	QueueDepth int64 // Adds waiting to be sent
	// Rate is the client's current pace in requests per second (see
	// WithRateLimit).
	Rate float64
	// Concurrency is the number of requests the Upserter lets be in flight
	// now (Workers, or sized from Rate and the round-trip time).
	Concurrency int64
	// Blocked reports a 50200 block episode in progress: the client is
	// pausing or probing.
	Blocked bool
	// LastAnswer is when SFMC last answered one of the client's requests
	// (zero before the first answer).
	LastAnswer time.Time
	// Skipped counts contacts not sent because SFMC already held every
	// value (UpserterConfig.SentStore); SkippedAttributes counts the
	// attributes left out of requests (and of skipped contacts) for the
	// same reason.
	Skipped, SkippedAttributes int64
}

// ErrInCallback is returned by Flush and Close when called from the
// Upserter's OnResult or OnAlert callback (they would wait for that very
// callback), and by an Add from a callback that would block on a full
// queue.
var ErrInCallback = errors.New("sfmc: Upserter method called from its OnResult or OnAlert callback would deadlock")

// Upserter upserts contacts through a bounded queue and a pool of workers:
// the streaming writer callers embed in their pipelines. Every Add that
// returns nil gets exactly one Outcome through OnResult, success or typed
// failure, including across Close and context cancellation.
//
// Its parts: a keyQueue (per-key order, coalescing, one write per key out),
// the scheduler (concurrency), flow (backpressure on Add), the
// flushTracker (Flush), the alertTracker, and the send loop below, which
// decides each contact's retries with the client's policy (retry.go).
//
// It is safe for concurrent use.
type Upserter struct {
	c       *Client
	cfg     UpserterConfig
	ctx     context.Context // the workers' own context, not the callers'
	cancel  context.CancelFunc
	halt    context.Context // ends when the Upserter stops: waits for sending end
	halted  context.CancelFunc
	sched   *scheduler
	flow    *flow
	flushes *flushTracker
	alerts  *alertTracker
	wg      sync.WaitGroup

	mu        sync.Mutex // guards the lifecycle below
	closed    bool
	fatal     error
	closeDone chan struct{}

	unsubscribe func() // from the client's events

	added, coalesced, requests, succeeded, failed, retried, throttled atomic.Int64
	skipped, skippedAttrs                                             atomic.Int64
}

// sendState follows one contact through its attempts.
type sendState struct {
	body       []byte // the request body, encoded once
	start      time.Time
	attempts   int // HTTP requests made
	blocked    int // of them, answered 50200: they do not use up MaxAttempts
	tries      int // attempts tried, also those that sent nothing
	unanswered bool
	lastErr    error      // the last attempt's error, but for one cut off by MaxRetryDuration
	changes    *changeSet // with a SentStore: what is sent, and the record to update
}

// NewUpserter checks cfg and starts an Upserter's workers. Close it to stop
// them. A field out of range is an error matching ErrInvalidConfig that
// names it.
func NewUpserter(c *Client, cfg UpserterConfig) (*Upserter, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: NewUpserter: nil *Client", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	workers := cfg.MaxWorkers
	if cfg.Workers > 0 {
		workers = cfg.Workers
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Upserter{
		c:       c,
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		sched:   newScheduler(c, cfg, workers),
		flow:    newFlow(cfg.QueueSize),
		flushes: newFlushTracker(),
		alerts:  newAlertTracker(cfg.OnAlert, c.logger, cfg.FailureWindow, cfg.FailureRatio),
	}
	u.halt, u.halted = context.WithCancel(ctx)
	u.unsubscribe = c.events.subscribe(u.clientEvent)
	u.wg.Add(workers)
	for range workers {
		go u.worker()
	}
	return u, nil
}

// withDefaults checks every field and fills the zero ones.
func (cfg UpserterConfig) withDefaults() (UpserterConfig, error) {
	bad := func(field string, v any, want string) (UpserterConfig, error) {
		return cfg, fmt.Errorf("%w: UpserterConfig.%s is %v; want %s", ErrInvalidConfig, field, v, want)
	}
	ints := []struct {
		name string
		v    *int
		max  int
		def  int
	}{
		{"Workers", &cfg.Workers, maxWorkersLimit, 0},
		{"MaxWorkers", &cfg.MaxWorkers, maxWorkersLimit, DefaultMaxWorkers},
		{"QueueSize", &cfg.QueueSize, maxQueueLimit, DefaultUpserterQueue},
		{"MaxAttempts", &cfg.MaxAttempts, maxAttemptsLimit, DefaultMaxAttempts},
		{"FailureWindow", &cfg.FailureWindow, maxWindowLimit, DefaultFailureWindow},
	}
	for _, f := range ints {
		if *f.v < 0 || *f.v > f.max {
			return bad(f.name, *f.v, fmt.Sprintf("0 (the default) to %d", f.max))
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		max  time.Duration
		def  time.Duration
	}{
		{"FlushInterval", &cfg.FlushInterval, maxFlushWindowSize, 0},
		{"MaxRetryDuration", &cfg.MaxRetryDuration, maxDurationLimit, DefaultMaxRetryDuration},
		{"RetryWaitMin", &cfg.RetryWaitMin, maxRetryWaitLimit, DefaultUpserterRetryWaitMin},
		{"RetryWaitMax", &cfg.RetryWaitMax, maxRetryWaitLimit, max(DefaultUpserterRetryWaitMax, cfg.RetryWaitMin)},
		{"SentTTL", &cfg.SentTTL, 10 * 365 * 24 * time.Hour, DefaultSentTTL},
	}
	for _, f := range durs {
		if *f.v < 0 || *f.v > f.max {
			return bad(f.name, *f.v, fmt.Sprintf("0 (the default) to %v", f.max))
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.RetryWaitMax < cfg.RetryWaitMin {
		return bad("RetryWaitMax", cfg.RetryWaitMax, fmt.Sprintf("at least RetryWaitMin (%v)", cfg.RetryWaitMin))
	}
	if math.IsNaN(cfg.FailureRatio) || cfg.FailureRatio < 0 || cfg.FailureRatio > 1 {
		return bad("FailureRatio", cfg.FailureRatio, "0 (the default, 0.5) to 1")
	}
	if cfg.FailureRatio == 0 {
		cfg.FailureRatio = DefaultFailureRatio
	}
	if cfg.Coalesce != CoalesceOn && cfg.Coalesce != CoalesceOff {
		return bad("Coalesce", int(cfg.Coalesce), "CoalesceOn or CoalesceOff")
	}
	return cfg, nil
}

// clientEvent raises the client's events as alerts.
func (u *Upserter) clientEvent(ev event) {
	switch ev.kind {
	case AlertSharedStateUnavailable:
		u.alerts.raise(Alert{Kind: ev.kind, Err: ev.err,
			Message: "shared state unavailable, going on with local token, limiter and cool-down: " + ev.err.Error()}, 0)
	case AlertBlocked:
		if u.cfg.FailOnBlock {
			return // raised by the attempt that stops the Upserter
		}
		u.alerts.raise(Alert{Kind: ev.kind, Err: ev.err,
			Message: "SFMC blocked the requests (errorcode 50200): pausing and probing until it ends; contacts wait, and fewer requests go out at once"}, ev.episode)
	}
}

// Add queues a contact for upsert. It validates the contact first (an
// invalid one is refused with an error matching ErrInvalidContact), blocks
// while the queue is full until there is space or ctx is done, and returns
// ErrClosed after Close, or the error that stopped the Upserter
// (ErrInvalidCredentials, ErrIPNotAllowlisted, ErrUnauthorized, or
// ErrBlocked with FailOnBlock).
//
// When Add returns nil the contact is accepted: OnResult will be called
// exactly once for it. When Add returns an error it is not, and OnResult is
// not called. The contact is copied; the caller may reuse it. ctx only
// bounds the wait for space: the contact is sent with the Upserter's own
// context.
func (u *Upserter) Add(ctx context.Context, c Contact) error {
	return u.AddTagged(ctx, c, nil)
}

// AddTagged is Add with a caller's value that comes back in the contact's
// Outcome.Tag, for example the input line the contact came from.
func (u *Upserter) AddTagged(ctx context.Context, c Contact, tag any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := u.stopped(); err != nil {
		return err
	}
	if u.flow.full() && inCallback() {
		return ErrInCallback
	}
	if err := u.flow.acquire(ctx); err != nil {
		return err
	}
	c.Attributes = append([]AttributeValue(nil), c.Attributes...)
	u.mu.Lock()
	if err := u.stoppedLocked(); err != nil {
		u.mu.Unlock()
		u.flow.release(1)
		return err
	}
	// Queued under u.mu, so that Close (which sets closed under it) seals
	// an epoch holding every accepted Add.
	t := ticket{ep: u.flushes.add(), tag: tag, ctx: ctx, added: time.Now()}
	merged := u.sched.add(c, t)
	u.mu.Unlock()
	u.added.Add(1)
	if merged {
		u.coalesced.Add(1)
	}
	return nil
}

func (u *Upserter) stopped() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stoppedLocked()
}

func (u *Upserter) stoppedLocked() error {
	switch {
	case u.closed:
		return ErrClosed
	case u.fatal != nil:
		return u.fatal
	}
	return nil
}

// Flush returns when every contact added before it has its outcome, or
// when ctx is done (then it returns ctx.Err() and the contacts go on).
// Contacts waiting for the FlushInterval window are sent at once. Called
// from OnResult or OnAlert it returns ErrInCallback.
func (u *Upserter) Flush(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if inCallback() {
		return ErrInCallback
	}
	return u.flush(ctx)
}

func (u *Upserter) flush(ctx context.Context) error {
	ep := u.flushes.seal()
	end := u.sched.flush()
	defer end()
	return u.flushes.wait(ctx, ep)
}

// Close stops accepting contacts, sends everything queued, waits for the
// outcomes and stops the workers. It returns by ctx's deadline whatever the
// callbacks do:
//
//   - If ctx ends before every contact has its outcome, every contact not
//     yet sent gets a failure outcome (ErrClosed wrapping ctx's error),
//     requests in flight are cancelled (their outcome matches ErrClosed
//     and, when a request was cut off unanswered, ErrOutcomeUnknown: SFMC
//     may or may not have applied it), and Close returns ctx's error.
//   - After ctx ends, Close still waits while outcomes keep being
//     delivered (so that with a working OnResult every outcome is in when
//     it returns), but no longer than deliveryGrace (50 ms) without one.
//     Outcomes not yet delivered when Close returns (because OnResult is
//     blocked) are still delivered, each exactly once, by the Upserter's
//     goroutines, which end after the last one.
//
// Close is idempotent: later calls wait for the first one to finish and
// return nil. Called from OnResult or OnAlert it returns ErrInCallback.
// When Close returns nil, no goroutine of the Upserter is left.
func (u *Upserter) Close(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if inCallback() {
		return ErrInCallback
	}
	u.mu.Lock()
	if u.closed {
		done := u.closeDone
		u.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	u.closed = true
	u.closeDone = make(chan struct{})
	u.mu.Unlock()
	defer close(u.closeDone)
	defer u.unsubscribe()

	u.flow.close(ErrClosed) // blocked Adds return ErrClosed
	err := u.flush(ctx)
	if err != nil {
		u.abort(fmt.Errorf("%w before the contact was sent: %w", ErrClosed, err))
	}
	u.sched.stop()
	done := make(chan struct{})
	go func() {
		u.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
		u.cancel()
		u.waitDelivering(done)
	}
	u.cancel()
	return err
}

// deliveryGrace is how long Close, once its context is done, waits for the
// next outcome to be delivered: as long as outcomes keep coming (the
// attempts cut off, the contacts failed unsent), Close lets them finish;
// once none comes for this long (OnResult is blocked), it returns.
const deliveryGrace = 50 * time.Millisecond

// waitDelivering waits for done while outcomes keep being delivered.
func (u *Upserter) waitDelivering(done <-chan struct{}) {
	t := time.NewTimer(deliveryGrace)
	defer t.Stop()
	last := u.succeeded.Load() + u.failed.Load()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			n := u.succeeded.Load() + u.failed.Load()
			if n == last {
				return
			}
			last = n
			t.Reset(deliveryGrace)
		}
	}
}

// abort fails every contact not being sent with err (delivering the
// outcomes on a goroutine of its own, so that a blocked OnResult cannot
// hold the caller) and cancels the attempts in flight.
func (u *Upserter) abort(err error) {
	failed := u.sched.drain()
	u.cancel()
	u.deliverLater(failed, err)
}

func (u *Upserter) deliverLater(es []*entry, err error) {
	if len(es) == 0 {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for _, e := range es {
			u.dropped(e, err)
		}
	}()
}

// dropped reports the outcome of an entry taken out of the queue unsent
// (or parked between attempts).
func (u *Upserter) dropped(e *entry, err error) {
	if e.send == nil {
		u.flow.release(len(e.tickets)) // it never left the queue
		u.deliver(e, nil, err, 0)
		return
	}
	u.deliver(e, nil, u.finalErr(e, err), e.send.attempts)
}

// Stats returns a snapshot of the counters and of the client's pace.
func (u *Upserter) Stats() UpserterStats {
	out, limit := u.sched.stats()
	_, blocked := u.c.block.current()
	st := UpserterStats{
		Added:       u.added.Load(),
		Coalesced:   u.coalesced.Load(),
		Requests:    u.requests.Load(),
		Succeeded:   u.succeeded.Load(),
		Failed:      u.failed.Load(),
		Retried:     u.retried.Load(),
		Throttled:   u.throttled.Load(),
		InFlight:    int64(out),
		QueueDepth:  int64(u.flow.len()),
		Rate:        u.c.pace.Rate(),
		Concurrency: int64(limit),
		Blocked:     blocked,

		Skipped:           u.skipped.Load(),
		SkippedAttributes: u.skippedAttrs.Load(),
	}
	if n := u.c.lastAnswer.Load(); n != 0 {
		st.LastAnswer = time.Unix(0, n)
	}
	return st
}

func (u *Upserter) worker() {
	defer u.wg.Done()
	for {
		e, first := u.sched.next()
		if e == nil {
			return
		}
		if first {
			u.flow.release(len(e.tickets))
		}
		u.attempt(e)
	}
}

// attempt makes one attempt for e and decides, with the client's policy,
// whether the contact is done or waits for another attempt.
func (u *Upserter) attempt(e *entry) {
	s := e.send
	if s == nil {
		s = &sendState{start: time.Now()}
		e.send = s
		c := e.contact
		if u.cfg.SentStore != nil {
			cs := u.changes(e)
			if cs != nil && len(cs.send) == 0 && cs.skipped > 0 { // SFMC holds every value (a contact without any is sent)
				u.skip(e)
				return
			}
			if cs != nil {
				s.changes = cs
				c.Attributes = cs.send
			}
		}
		body, err := contactBody(c)
		s.body = body
		if err != nil { // validated by Add: cannot happen
			u.end(e, nil, err)
			return
		}
	}
	if err := u.fatalErr(); err != nil {
		u.end(e, nil, err)
		return
	}
	deadline := s.start.Add(u.cfg.MaxRetryDuration)
	// The request runs under the first Add's values (a tracer's span) and
	// the Upserter's cancellation; the other Adds merged into it are links.
	base, release := callerValues(e.tickets[0].ctx, u.ctx)
	ctx, cancel := context.WithDeadline(base, deadline)
	wctx, wcancel := context.WithDeadline(u.halt, deadline)
	res, st, err := u.c.Contacts.upsertOnce(ctx, wctx, e.contact.Key, s.body, s.attempts, u.links(e))
	wcancel()
	cancel()
	release()
	s.tries++
	u.requests.Add(int64(st.attempts))
	u.throttled.Add(int64(st.throttled))
	if s.attempts > 0 {
		u.retried.Add(int64(st.attempts))
	} else if st.attempts > 1 {
		u.retried.Add(int64(st.attempts - 1))
	}
	s.attempts += st.attempts
	if st.class == classBlocked {
		s.blocked++
	}
	s.unanswered = s.unanswered || st.unanswered
	if err == nil {
		if s.changes != nil {
			u.confirm(e.contact.Key, s.changes)
		}
		u.end(e, res, nil)
		return
	}
	if kind, stop := stopCondition(st.class, err, u.cfg.FailOnBlock); stop {
		u.stop(kind, err)
		u.end(e, nil, err)
		return
	}
	if st.class == classCanceled {
		if f := u.fatalErr(); f != nil && u.ctx.Err() == nil {
			u.end(e, nil, f) // the Upserter stopped while the attempt waited
			return
		}
		if u.ctx.Err() == nil {
			// The contact's own deadline: say what SFMC said last.
			last := err
			if s.lastErr != nil {
				last = s.lastErr
			}
			err = fmt.Errorf("sfmc: gave up on contact %q: MaxRetryDuration (%v) ran out after %d attempts: %w",
				e.contact.Key, u.cfg.MaxRetryDuration, s.attempts, last)
		}
		u.end(e, nil, err)
		return
	}
	s.lastErr = err
	if !retryable(st.class, contactsMethod) {
		u.end(e, nil, err)
		return
	}
	if s.attempts-s.blocked >= u.cfg.MaxAttempts || s.tries >= maxAttemptsLimit {
		u.end(e, nil, fmt.Errorf("sfmc: gave up on contact %q after %d attempts over %v: %w",
			e.contact.Key, s.attempts, time.Since(s.start).Round(time.Millisecond), err))
		return
	}
	var wait time.Duration
	switch st.class {
	case classAuth:
		// A new token is all it needs.
	case classBlocked:
		// The client's pause is the wait; the attempt waits it out.
	default:
		wait = max(backoffWait(s.tries, u.cfg.RetryWaitMin, u.cfg.RetryWaitMax, st.retryAfter), u.c.budget.reserve())
	}
	now := time.Now()
	if !now.Add(wait).Before(deadline) {
		u.end(e, nil, fmt.Errorf("sfmc: gave up on contact %q: MaxRetryDuration (%v) runs out before the next attempt (after %d attempts): %w",
			e.contact.Key, u.cfg.MaxRetryDuration, s.attempts, err))
		return
	}
	e.ready = now.Add(wait)
	u.sched.retry(e)
}

// changes asks the SentStore what of e's contact SFMC holds already, and
// forgets the stored fingerprints of the attributes about to change. When
// the store fails the contact is sent whole, and its record replaced after
// the outcome (changeSet.replace). It returns nil only for a contact it
// cannot fingerprint (validated by Add: cannot happen).
func (u *Upserter) changes(e *entry) *changeSet {
	key := e.contact.Key
	raw, err := u.cfg.SentStore.Get(u.ctx, key)
	if err != nil {
		u.storeFailed(sentStoreErr("get", err))
		return u.whole(e, nil)
	}
	rec := decodeSentRecord(raw)
	cs, err := changes(e.contact, rec, time.Now(), u.cfg.SentTTL, u.cfg.ResendAll)
	if err != nil {
		return nil
	}
	if cs.doubt && len(cs.send) > 0 {
		// Until SFMC confirms the new values, the old ones are in doubt:
		// a failure that applied them must not leave them "confirmed".
		if err := u.putRecord(key, cs.without()); err != nil {
			return u.whole(e, rec)
		}
		if sy, ok := u.cfg.SentStore.(SentStoreSyncer); ok {
			if err := sy.Sync(u.ctx); err != nil {
				u.storeFailed(sentStoreErr("sync", err))
				return u.whole(e, rec)
			}
		}
	}
	u.skippedAttrs.Add(int64(cs.skipped))
	return &cs
}

// whole returns the change set of a contact sent whole because the store
// failed: every attribute, the record to replace after the outcome.
func (u *Upserter) whole(e *entry, rec sentRecord) *changeSet {
	cs, err := changes(e.contact, rec, time.Now(), u.cfg.SentTTL, true)
	if err != nil {
		return nil
	}
	cs.replace = true
	return &cs
}

// confirm records what SFMC confirmed for key.
func (u *Upserter) confirm(key string, cs *changeSet) {
	_ = u.putRecord(key, cs.confirmed(time.Now()))
}

// unconfirmed updates the record of a contact that was not confirmed when
// its record may be stale (the store failed before the send): without what
// was sent, which SFMC may or may not hold.
func (u *Upserter) unconfirmed(key string, cs *changeSet) {
	if cs != nil && cs.replace {
		_ = u.putRecord(key, cs.without())
	}
}

func (u *Upserter) putRecord(key string, r sentRecord) error {
	err := u.cfg.SentStore.Put(u.ctx, key, r.encode())
	if err != nil {
		u.storeFailed(sentStoreErr("put", err))
	}
	return err
}

func (u *Upserter) storeFailed(err error) {
	if u.ctx.Err() != nil {
		return // Close gave up: the store fails because the run ends
	}
	u.alerts.raise(Alert{Kind: AlertSentStoreUnavailable, Err: err,
		Message: "the sent store failed: contacts it cannot check are sent whole, and what SFMC confirms may not be remembered; " +
			"it may also keep values SFMC no longer holds, so resend everything next time (ResendAll, sfmc push --full): " + err.Error()}, 0)
}

// skip ends e without a request: SFMC holds every value already.
func (u *Upserter) skip(e *entry) {
	u.skipped.Add(int64(len(e.tickets)))
	u.sched.finished(e)
	u.deliverSkipped(e)
}

// links returns the contexts of the Adds merged into e after the first,
// for Hooks (nil when there are none, or no hook would read them).
func (u *Upserter) links(e *entry) []context.Context {
	if len(e.tickets) < 2 || u.c.hooks.AttemptStart == nil {
		return nil
	}
	out := make([]context.Context, 0, len(e.tickets)-1)
	for _, t := range e.tickets[1:] {
		out = append(out, t.ctx)
	}
	return out
}

// contactsMethod is the method of the Upserter's requests (PATCH: the
// upsert is idempotent, so it may be retried after any transient failure).
const contactsMethod = "PATCH"

// finalErr decorates a contact's last error: ErrClosed when the Upserter
// was closing, ErrOutcomeUnknown when an attempt got no answer.
func (u *Upserter) finalErr(e *entry, err error) error {
	if err == nil {
		return nil
	}
	if u.ctx.Err() != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w while the contact was being sent: %w", ErrClosed, err)
	}
	if e.send != nil && e.send.unanswered && !errors.Is(err, ErrOutcomeUnknown) {
		err = fmt.Errorf("%w (%w)", err, ErrOutcomeUnknown)
	}
	return err
}

// end reports e's outcome and frees its slot and key.
func (u *Upserter) end(e *entry, res *ContactResult, err error) {
	if err != nil && u.cfg.SentStore != nil && e.send != nil {
		u.unconfirmed(e.contact.Key, e.send.changes)
	}
	err = u.finalErr(e, err)
	u.sched.finished(e)
	u.deliver(e, res, err, e.send.attempts)
}

// deliverSkipped reports a skipped outcome for every Add merged into e.
func (u *Upserter) deliverSkipped(e *entry) {
	for _, t := range e.tickets {
		o := Outcome{Key: e.contact.Key, Coalesced: t.coalesced, Tag: t.tag, Skipped: true}
		u.callResult(o)
		u.succeeded.Add(1)
		u.alerts.outcome(false)
		u.outcomeHook(t, o)
		u.flushes.done(t.ep)
	}
}

// deliver reports the outcome of every Add merged into e.
func (u *Upserter) deliver(e *entry, res *ContactResult, err error, attempts int) {
	stopped := u.fatalErr() != nil // failures from a stop are alerted already
	for _, t := range e.tickets {
		o := Outcome{Key: e.contact.Key, Result: res, Err: err, Attempts: attempts, Coalesced: t.coalesced, Tag: t.tag}
		u.callResult(o)
		// Counted once delivered, so that Close sees a blocked OnResult
		// as no progress.
		if err == nil {
			u.succeeded.Add(1)
		} else {
			u.failed.Add(1)
		}
		if !stopped {
			u.alerts.outcome(err != nil)
		}
		u.outcomeHook(t, o)
		u.flushes.done(t.ep)
	}
}

func (u *Upserter) outcomeHook(t ticket, o Outcome) {
	if u.c.hooks.Outcome != nil {
		u.c.hooks.outcome(cmp.Or(t.ctx, context.Background()), OutcomeEvent{Outcome: o, Latency: time.Since(t.added)})
	}
}

func (u *Upserter) callResult(o Outcome) {
	if u.cfg.OnResult == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			u.c.logger.Error("sfmc: Upserter OnResult panicked", slog.Any("panic", r))
		}
	}()
	invokeCallback(func() { u.cfg.OnResult(o) })
}

func (u *Upserter) fatalErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.fatal
}

// stop stops the Upserter after a condition no retry can cure: every
// contact not being sent fails with err at once, and later Adds return it.
func (u *Upserter) stop(kind AlertKind, err error) {
	u.mu.Lock()
	first := u.fatal == nil
	if first {
		u.fatal = err
	}
	u.mu.Unlock()
	if !first {
		return
	}
	u.halted() // attempts still waiting to be sent send nothing
	u.flow.close(err)
	failed := u.sched.drain()
	u.alerts.raise(Alert{Kind: kind, Err: err, Message: err.Error()}, 0)
	for _, e := range failed {
		u.dropped(e, err)
	}
}

// invokeCallback runs fn, a user callback. inCallback recognises it on the
// stack: it must stay a function of its own (the recover in its callers
// and the closure keep it from being inlined away; TestInCallbackDetected
// checks it).
//
//go:noinline
func invokeCallback(fn func()) { fn() }

// callbackFunc is invokeCallback's name as the runtime reports it.
var callbackFunc = runtime.FuncForPC(reflect.ValueOf(invokeCallback).Pointer()).Name()

// inCallback reports whether the calling goroutine is inside an Upserter
// callback (OnResult or OnAlert), where waiting on the Upserter would
// deadlock. It reads the goroutine's stack; callers use it only on rare
// paths (Flush, Close, an Add about to block).
func inCallback() bool {
	var pcs [128]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function == callbackFunc || strings.HasPrefix(f.Function, callbackFunc+".") {
			return true
		}
		if !more {
			return false
		}
	}
}
