package sfmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Upserter defaults, used for zero fields of UpserterConfig.
const (
	DefaultUpserterWorkers      = 8
	DefaultUpserterQueue        = 10000
	DefaultMaxAttempts          = 10
	DefaultMaxRetryDuration     = 5 * time.Minute
	DefaultFailureWindow        = 200
	DefaultUpserterRetryWaitMin = 250 * time.Millisecond
	DefaultUpserterRetryWaitMax = 30 * time.Second
	DefaultFailureRatio         = 0.5
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
	// Workers is the number of concurrent senders (default 8). SFMC takes
	// one contact per request, so this is the request concurrency; the
	// client's Limiter and cool-down pace them all.
	Workers int
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
	// MaxAttempts and MaxRetryDuration bound the Upserter's retries of one
	// contact after transient failures (429, 5xx, dropped connections, a
	// 401 a new token may cure), on top of each call's own retries:
	// whichever comes first (defaults 10 attempts, 5 minutes). Only then is
	// the contact reported failed, with the last error.
	MaxAttempts      int
	MaxRetryDuration time.Duration
	// RetryWaitMin and RetryWaitMax bound the wait between the Upserter's
	// retries of a contact (defaults 250 ms and 30 s): full jitter growing
	// from RetryWaitMin, or the server's Retry-After capped at RetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
	// OnResult is called exactly once for every Add that returned nil,
	// with that Add's contact key and outcome. It may be called from
	// several goroutines at once and must be fast: it runs on the senders'
	// goroutines. It must not wait on the Upserter itself (an Add that
	// blocks on a full queue from OnResult can deadlock the workers). A
	// panic in it is recovered and logged.
	OnResult func(Outcome)
	// OnAlert is called once per condition the destination reports as a
	// dataflow alert: credentials rejected, IP not allowlisted, requests
	// blocked (50200), and a failure ratio above FailureRatio over the
	// last FailureWindow outcomes (raised again only after the ratio fell
	// back below half the threshold); and, in fleet mode, the client's
	// shared state falling back to local state
	// (AlertSharedStateUnavailable). A panic in it is recovered.
	OnAlert func(Alert)
	// FailureWindow and FailureRatio configure the failure-ratio alert
	// (defaults 200 outcomes and 0.5).
	FailureWindow int
	FailureRatio  float64
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
	// ErrBlocked, or ErrClosed (with the Close context's error) when the
	// Upserter was closed before the contact could be sent. When an
	// attempt got no answer (dropped connection, timeout, a request cut off
	// by Close) the error also matches ErrOutcomeUnknown: the contact may
	// be stored anyway.
	Err error
	// Attempts is the number of HTTP requests made for the contact.
	Attempts int
	// Coalesced reports that the Add was merged with another Add to the
	// same key and sent in one request.
	Coalesced bool
	// Tag is the value given to AddTagged (nil for Add): a caller's handle
	// on the record, such as its input line number.
	Tag any
}

// AlertKind names the condition of an Alert.
type AlertKind string

// Alert kinds.
const (
	AlertInvalidCredentials AlertKind = "invalid_credentials"
	AlertIPNotAllowlisted   AlertKind = "ip_not_allowlisted"
	AlertBlocked            AlertKind = "blocked"
	AlertFailureRatio       AlertKind = "failure_ratio"
	// AlertSharedStateUnavailable: the client's shared state (fleet mode:
	// TokenStore, shared Limiter or Cooldown) failed and the client went
	// on with local state. Contacts are still sent, but the fleet may no
	// longer share one token and one rate. Raised once per Upserter (also
	// when the failure happened before NewUpserter); Err matches
	// ErrSharedStateUnavailable.
	AlertSharedStateUnavailable AlertKind = "shared_state_unavailable"
)

// Alert is a condition that needs a person: see UpserterConfig.OnAlert.
type Alert struct {
	Kind    AlertKind
	Message string
	Err     error // the error that raised it, when there is one
}

// UpserterStats is an atomic snapshot of an Upserter's counters.
type UpserterStats struct {
	Added      int64 // Adds accepted
	Coalesced  int64 // Adds merged into another queued Add of the same key
	Requests   int64 // HTTP requests sent (attempts, retries included)
	Succeeded  int64 // outcomes without error
	Failed     int64 // outcomes with an error
	Retried    int64 // requests beyond the first for a contact
	Throttled  int64 // 429 answers seen
	InFlight   int64 // contacts being sent now
	QueueDepth int64 // Adds waiting to be sent
}

// Upserter upserts contacts through a bounded queue and a pool of workers:
// the streaming writer callers embed in their pipelines. Every Add that
// returns nil gets exactly one Outcome through OnResult, success or typed
// failure, including across Close and context cancellation.
//
// It is safe for concurrent use.
type Upserter struct {
	c   *Client
	cfg UpserterConfig

	ctx    context.Context // the workers' own context, not the callers'
	cancel context.CancelFunc
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	queue     ring
	pending   map[string]*entry // queued or blocked, not in flight
	blocked   map[string]*entry // queued while the key was in flight
	inflight  map[string]bool
	queued    int // tickets not yet sent
	lowWater  int // blocked Adds wake when queued drops to this
	spaceWait chan struct{}
	epoch     *epoch
	flushing  int
	closed    bool
	stopping  bool
	fatal     error
	closeDone chan struct{}

	unsubscribe func() // from the client's shared-state failures

	alertMu   sync.Mutex
	alerted   map[AlertKind]bool
	window    []bool
	windowPos int
	windowN   int
	windowBad int

	added, coalesced, requests, succeeded, failed, retried, throttled, inFlight atomic.Int64
}

type entry struct {
	contact Contact
	index   map[attrKey]int
	tickets []ticket
	ready   time.Time
	next    *entry // later entries of the same key held behind it (CoalesceOff)
}

type attrKey struct{ set, name string }

type ticket struct {
	ep        *epoch
	coalesced bool
	tag       any
}

// epoch groups the Adds between two Flush calls, so a Flush can wait for
// exactly the Adds made before it.
type epoch struct {
	n      int
	sealed bool
	done   chan struct{}
	prev   *epoch
}

// NewUpserter starts an Upserter's workers. Close it to stop them.
func NewUpserter(c *Client, cfg UpserterConfig) (*Upserter, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: NewUpserter: nil *Client", ErrInvalidConfig)
	}
	if cfg.Workers < 0 || cfg.QueueSize < 0 || cfg.FlushInterval < 0 || cfg.MaxAttempts < 0 ||
		cfg.MaxRetryDuration < 0 || cfg.RetryWaitMin < 0 || cfg.RetryWaitMax < 0 || cfg.FailureWindow < 0 || cfg.FailureRatio < 0 || cfg.FailureRatio > 1 {
		return nil, fmt.Errorf("%w: UpserterConfig: negative value or FailureRatio outside [0,1]", ErrInvalidConfig)
	}
	if cfg.Coalesce != CoalesceOn && cfg.Coalesce != CoalesceOff {
		return nil, fmt.Errorf("%w: UpserterConfig.Coalesce: unknown mode %d", ErrInvalidConfig, cfg.Coalesce)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultUpserterWorkers
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultUpserterQueue
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxRetryDuration == 0 {
		cfg.MaxRetryDuration = DefaultMaxRetryDuration
	}
	if cfg.RetryWaitMin == 0 {
		cfg.RetryWaitMin = DefaultUpserterRetryWaitMin
	}
	if cfg.RetryWaitMax == 0 {
		cfg.RetryWaitMax = max(DefaultUpserterRetryWaitMax, cfg.RetryWaitMin)
	}
	if cfg.FailureWindow == 0 {
		cfg.FailureWindow = DefaultFailureWindow
	}
	if cfg.FailureRatio == 0 {
		cfg.FailureRatio = DefaultFailureRatio
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Upserter{
		c:        c,
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		wake:     make(chan struct{}, cfg.Workers),
		stop:     make(chan struct{}),
		pending:  make(map[string]*entry),
		blocked:  make(map[string]*entry),
		inflight: make(map[string]bool),
		epoch:    &epoch{done: make(chan struct{})},
		alerted:  make(map[AlertKind]bool),
		window:   make([]bool, cfg.FailureWindow),
		lowWater: cfg.QueueSize - max(1, cfg.QueueSize/4),
	}
	u.unsubscribe = c.fallbacks.subscribe(func(err error) {
		u.alert(Alert{Kind: AlertSharedStateUnavailable, Err: err,
			Message: "shared state unavailable, going on with local token, limiter and cool-down: " + err.Error()})
	})
	u.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go u.worker()
	}
	return u, nil
}

// Add queues a contact for upsert. It validates the contact first (an
// invalid one is refused with an error matching ErrInvalidContact), blocks
// while the queue is full until there is space or ctx is done, and returns
// ErrClosed after Close, or the fatal error (ErrInvalidCredentials,
// ErrIPNotAllowlisted, ErrBlocked) once one has stopped the Upserter.
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
	attrs := make([]AttributeValue, len(c.Attributes))
	copy(attrs, c.Attributes)
	c.Attributes = attrs

	u.mu.Lock()
	for {
		if u.closed {
			u.mu.Unlock()
			return ErrClosed
		}
		if u.fatal != nil {
			err := u.fatal
			u.mu.Unlock()
			return err
		}
		if u.queued < u.cfg.QueueSize {
			break
		}
		if u.spaceWait == nil {
			u.spaceWait = make(chan struct{})
		}
		ch := u.spaceWait
		u.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		u.mu.Lock()
	}
	ep := u.epoch
	ep.n++
	u.queued++
	u.added.Add(1)
	if e := u.pending[c.Key]; e != nil && u.cfg.Coalesce == CoalesceOn {
		e.merge(c.Attributes)
		e.tickets = append(e.tickets, ticket{ep: ep, coalesced: true, tag: tag})
		if len(e.tickets) == 2 {
			e.tickets[0].coalesced = true
		}
		u.coalesced.Add(1)
		u.mu.Unlock()
		return nil
	}
	e := &entry{contact: c, tickets: []ticket{{ep: ep, tag: tag}}}
	if u.cfg.FlushInterval > 0 {
		e.ready = time.Now().Add(u.cfg.FlushInterval)
	}
	if u.cfg.Coalesce == CoalesceOn {
		u.pending[c.Key] = e
	}
	u.queue.push(e)
	u.mu.Unlock()
	u.signal()
	return nil
}

// merge applies later values: an attribute already present takes the new
// value, a new one is appended.
func (e *entry) merge(attrs []AttributeValue) {
	if e.index == nil {
		e.index = make(map[attrKey]int, len(e.contact.Attributes)+len(attrs))
		for i, a := range e.contact.Attributes {
			e.index[attrKey{a.Set, a.Name}] = i
		}
	}
	for _, a := range attrs {
		k := attrKey{a.Set, a.Name}
		if i, ok := e.index[k]; ok {
			e.contact.Attributes[i].Value = a.Value
			continue
		}
		e.index[k] = len(e.contact.Attributes)
		e.contact.Attributes = append(e.contact.Attributes, a)
	}
}

func (u *Upserter) signal() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Flush returns when every contact added before it has its outcome, or
// when ctx is done (then it returns ctx.Err() and the contacts go on).
// Contacts waiting for the FlushInterval window are sent at once.
func (u *Upserter) Flush(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	u.mu.Lock()
	ep := u.epoch
	u.epoch = &epoch{done: make(chan struct{}), prev: ep}
	ep.sealed = true
	if ep.n == 0 {
		closeEpoch(ep)
	}
	u.flushing++
	u.mu.Unlock()
	for range u.cfg.Workers {
		u.signal()
	}
	defer func() {
		u.mu.Lock()
		u.flushing--
		u.mu.Unlock()
	}()
	for e := ep; e != nil; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
		}
		u.mu.Lock()
		next := e.prev
		u.mu.Unlock()
		e = next
	}
	u.mu.Lock()
	ep.prev = nil // every earlier epoch is done: let them go
	u.mu.Unlock()
	return nil
}

// closeEpoch marks an epoch done once it is sealed and empty; it drops the
// link to earlier epochs, which a Flush waits for separately. Callers hold
// u.mu.
func closeEpoch(ep *epoch) {
	select {
	case <-ep.done:
	default:
		close(ep.done)
	}
}

// Close stops accepting contacts, sends everything queued, waits for the
// outcomes and stops the workers. If ctx ends first, every contact not yet
// sent gets a failure outcome (ErrClosed wrapping ctx's error), requests in
// flight are cancelled (their outcome matches ErrClosed and, when a request
// was cut off unanswered, ErrOutcomeUnknown: SFMC may or may not have
// applied it), the workers stop, and Close returns ctx's error.
//
// Close is idempotent: later calls wait for the first one to finish and
// return nil. No goroutine of the Upserter is left when it returns.
func (u *Upserter) Close(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
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

	// Wake any Add blocked on a full queue: it now returns ErrClosed.
	u.mu.Lock()
	if u.spaceWait != nil {
		close(u.spaceWait)
		u.spaceWait = nil
	}
	u.mu.Unlock()

	err := u.Flush(ctx)
	if err != nil {
		u.abort(fmt.Errorf("%w before the contact was sent: %w", ErrClosed, err))
	}
	u.mu.Lock()
	u.stopping = true
	u.mu.Unlock()
	close(u.stop)
	u.wg.Wait()
	u.cancel()
	u.unsubscribe()
	return err
}

// abort fails every contact not yet sent with err and cancels the ones in
// flight.
func (u *Upserter) abort(err error) {
	u.mu.Lock()
	failed := u.drainLocked()
	u.mu.Unlock()
	u.cancel()
	for _, e := range failed {
		u.finish(e, nil, err, 0, false)
	}
}

// drainLocked takes every contact not yet sent out of the queue (held ones
// included) and wakes blocked Adds. Callers hold u.mu, and report an
// outcome for each entry returned.
func (u *Upserter) drainLocked() []*entry {
	var out []*entry
	for e := u.queue.pop(); e != nil; e = u.queue.pop() {
		out = append(out, e)
	}
	for _, e := range u.blocked {
		for ; e != nil; e = e.next {
			out = append(out, e)
		}
	}
	clear(u.blocked)
	clear(u.pending)
	if u.spaceWait != nil {
		close(u.spaceWait)
		u.spaceWait = nil
	}
	return out
}

// Stats returns a snapshot of the counters.
func (u *Upserter) Stats() UpserterStats {
	u.mu.Lock()
	q := int64(u.queued)
	u.mu.Unlock()
	return UpserterStats{
		Added:      u.added.Load(),
		Coalesced:  u.coalesced.Load(),
		Requests:   u.requests.Load(),
		Succeeded:  u.succeeded.Load(),
		Failed:     u.failed.Load(),
		Retried:    u.retried.Load(),
		Throttled:  u.throttled.Load(),
		InFlight:   u.inFlight.Load(),
		QueueDepth: q,
	}
}

func (u *Upserter) worker() {
	defer u.wg.Done()
	var timer *time.Timer
	for {
		e, wait, stop := u.take()
		if stop {
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if e != nil {
			u.send(e)
			continue
		}
		var tc <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tc = timer.C
		}
		select {
		case <-u.wake:
		case <-tc:
		case <-u.stop:
		}
	}
}

// take returns the next contact to send, or how long to wait for one, or
// stop when the Upserter is stopping and nothing is left.
func (u *Upserter) take() (e *entry, wait time.Duration, stop bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for {
		e = u.queue.peek()
		if e == nil {
			return nil, 0, u.stopping && len(u.blocked) == 0
		}
		if !e.ready.IsZero() && u.flushing == 0 && !u.closed {
			if d := time.Until(e.ready); d > 0 {
				return nil, d, false
			}
		}
		u.queue.pop()
		key := e.contact.Key
		if u.inflight[key] {
			// An earlier update of this key is being sent: hold this
			// one until it is done, so SFMC keeps the last values.
			if held := u.blocked[key]; held != nil {
				for held.next != nil { // CoalesceOff only: keep them in order
					held = held.next
				}
				held.next = e
			} else {
				u.blocked[key] = e
			}
			continue
		}
		if u.pending[key] == e {
			delete(u.pending, key)
		}
		u.inflight[key] = true
		u.queued -= len(e.tickets)
		// Blocked Adds are woken once the queue has drained to its low
		// mark, not at every free slot: a producer faster than the
		// workers then adds a run of contacts per wake-up instead of
		// paying a wake-up for each one.
		if u.spaceWait != nil && u.queued <= u.lowWater {
			close(u.spaceWait)
			u.spaceWait = nil
		}
		u.inFlight.Add(1)
		return e, 0, false
	}
}

// send upserts one contact, retrying transient failures within the
// contact's budget, and reports its outcome.
func (u *Upserter) send(e *entry) {
	start := time.Now()
	attempts := 0
	var res *ContactResult
	var err error
	unanswered := false // a try got no answer: SFMC may have applied it
	for try := 1; ; try++ {
		if f := u.fatalErr(); f != nil {
			err = f
			break
		}
		var cs callStats
		res, err = u.c.Contacts.Upsert(withCallStats(u.ctx, &cs), e.contact)
		attempts += cs.Attempts
		u.requests.Add(int64(cs.Attempts))
		u.throttled.Add(int64(cs.Throttled))
		if err == nil {
			break
		}
		unanswered = unanswered || cs.Unanswered
		if kind, ok := fatalKind(err); ok {
			u.setFatal(kind, err)
			break
		}
		if !transient(err) || u.ctx.Err() != nil {
			break
		}
		if try >= u.cfg.MaxAttempts || time.Since(start) >= u.cfg.MaxRetryDuration {
			err = fmt.Errorf("sfmc: gave up on contact %q after %d attempts over %v: %w", e.contact.Key, attempts, time.Since(start).Round(time.Millisecond), err)
			break
		}
		if !u.sleep(retryWait(err, try, u.cfg.RetryWaitMin, u.cfg.RetryWaitMax)) {
			break
		}
	}
	if attempts > 1 {
		u.retried.Add(int64(attempts - 1))
	}
	if err != nil && u.ctx.Err() != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w while the contact was being sent: %w", ErrClosed, err)
	}
	if err != nil && unanswered && !errors.Is(err, ErrOutcomeUnknown) {
		err = fmt.Errorf("%w (%w)", err, ErrOutcomeUnknown)
	}
	u.finish(e, res, err, attempts, true)
}

// retryWait is the Upserter's wait before retrying a contact: the server's
// Retry-After when it gave one (capped at waitMax), else full jitter up to
// waitMin·2^(try-1), capped at waitMax.
func retryWait(err error, try int, waitMin, waitMax time.Duration) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, waitMax)
	}
	ceil := waitMin
	for i := 1; i < try && ceil < waitMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, waitMax)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// sleep waits d, then for the client's cool-down; false when the Upserter
// is aborting.
func (u *Upserter) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-u.ctx.Done():
		return false
	case <-t.C:
	}
	return u.c.cooldown.Wait(u.ctx) == nil
}

// transient reports whether a failed upsert may succeed if tried again.
func transient(err error) bool {
	switch {
	case errors.Is(err, ErrBlocked), errors.Is(err, ErrInvalidContact),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrServer), errors.Is(err, ErrUnauthorized),
		errors.Is(err, ErrClientRateLimited):
		return true
	}
	var ce *ContactError
	var ae *APIError
	var oe *OAuthError
	if errors.As(err, &ce) || errors.As(err, &oe) || errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	if errors.As(err, &ae) {
		return false // other 4xx: retrying will not help
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Anything else is a transport failure (connection reset, EOF, TLS…).
	return true
}

// fatalKind classifies errors that stop the Upserter.
func fatalKind(err error) (AlertKind, bool) {
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return AlertInvalidCredentials, true
	case errors.Is(err, ErrIPNotAllowlisted):
		return AlertIPNotAllowlisted, true
	case errors.Is(err, ErrBlocked):
		return AlertBlocked, true
	}
	return "", false
}

func (u *Upserter) fatalErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.fatal
}

// setFatal stops the Upserter after a condition no retry can cure: every
// queued contact fails with err at once, and later Adds return it.
func (u *Upserter) setFatal(kind AlertKind, err error) {
	u.mu.Lock()
	first := u.fatal == nil
	if first {
		u.fatal = err
	}
	failed := u.drainLocked()
	u.mu.Unlock()
	if first {
		u.alert(Alert{Kind: kind, Err: err, Message: err.Error()})
	}
	for _, e := range failed {
		u.finish(e, nil, err, 0, false)
	}
}

// finish reports the outcome of every Add merged into e. sent tells whether
// e was taken by a worker (in flight) rather than failed from the queue.
func (u *Upserter) finish(e *entry, res *ContactResult, err error, attempts int, sent bool) {
	key := e.contact.Key
	u.mu.Lock()
	if sent {
		delete(u.inflight, key)
		u.inFlight.Add(-1)
		if next := u.blocked[key]; next != nil {
			// The held update goes first: anything of this key still in
			// the queue is newer.
			if next.next != nil {
				u.blocked[key] = next.next
				next.next = nil
			} else {
				delete(u.blocked, key)
			}
			u.queue.pushFront(next)
		}
	} else {
		u.queued -= len(e.tickets)
		if u.spaceWait != nil {
			close(u.spaceWait)
			u.spaceWait = nil
		}
	}
	u.mu.Unlock()
	if sent {
		u.signal()
	}
	for _, t := range e.tickets {
		out := Outcome{Key: key, Result: res, Err: err, Attempts: attempts, Coalesced: t.coalesced, Tag: t.tag}
		if err == nil {
			u.succeeded.Add(1)
		} else {
			u.failed.Add(1)
		}
		u.callResult(out)
		u.track(err != nil)
		u.mu.Lock()
		t.ep.n--
		if t.ep.n == 0 && t.ep.sealed {
			closeEpoch(t.ep)
		}
		u.mu.Unlock()
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
	u.cfg.OnResult(o)
}

func (u *Upserter) alert(a Alert) {
	u.alertMu.Lock()
	if u.alerted[a.Kind] {
		u.alertMu.Unlock()
		return
	}
	u.alerted[a.Kind] = true
	u.alertMu.Unlock()
	u.c.logger.Warn("sfmc: Upserter alert", slog.String("kind", string(a.Kind)), slog.String("message", a.Message))
	if u.cfg.OnAlert == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			u.c.logger.Error("sfmc: Upserter OnAlert panicked", slog.Any("panic", r))
		}
	}()
	u.cfg.OnAlert(a)
}

// track feeds the failure-ratio alert.
func (u *Upserter) track(bad bool) {
	u.alertMu.Lock()
	if u.windowN == len(u.window) {
		if u.window[u.windowPos] {
			u.windowBad--
		}
	} else {
		u.windowN++
	}
	u.window[u.windowPos] = bad
	if bad {
		u.windowBad++
	}
	u.windowPos = (u.windowPos + 1) % len(u.window)
	ratio := float64(u.windowBad) / float64(len(u.window))
	raise := u.windowN == len(u.window) && ratio > u.cfg.FailureRatio && !u.alerted[AlertFailureRatio]
	if u.alerted[AlertFailureRatio] && ratio < u.cfg.FailureRatio/2 {
		delete(u.alerted, AlertFailureRatio)
	}
	u.alertMu.Unlock()
	if raise {
		u.alert(Alert{Kind: AlertFailureRatio, Message: fmt.Sprintf("%.0f%% of the last %d contacts failed", ratio*100, len(u.window))})
	}
}

// ring is a FIFO of entries.
type ring struct {
	buf        []*entry
	head, size int
}

func (r *ring) grow() {
	if r.size < len(r.buf) {
		return
	}
	buf := make([]*entry, max(16, 2*len(r.buf)))
	for i := 0; i < r.size; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring) push(e *entry) {
	r.grow()
	r.buf[(r.head+r.size)%len(r.buf)] = e
	r.size++
}

func (r *ring) pushFront(e *entry) {
	r.grow()
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = e
	r.size++
}

func (r *ring) peek() *entry {
	if r.size == 0 {
		return nil
	}
	return r.buf[r.head]
}

func (r *ring) pop() *entry {
	if r.size == 0 {
		return nil
	}
	e := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return e
}
