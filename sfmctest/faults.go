package sfmctest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a failure the server can inject into REST requests (never into
// the token endpoint).
type Fault int

// The injectable faults.
const (
	// Fault429 answers 429 with errorcode 50100, a Retry-After header and a
	// retryAfter body field (see WithRetryAfter).
	Fault429 Fault = iota + 1
	// FaultBlocked answers 429 with errorcode 50200 ("Your requests are
	// temporarily blocked."), without Retry-After.
	FaultBlocked
	// Fault500 answers 500 without an errorcode.
	Fault500
	// Fault503 answers 503 with errorcode 50300, a Retry-After header and a
	// retryAfter body field.
	Fault503
	// FaultDrop closes the connection without an answer, before the request
	// is applied.
	FaultDrop
	// FaultDropAfterWrite applies the request (a contact write is stored),
	// then closes the connection without an answer.
	FaultDropAfterWrite
	// Fault401 answers 401 {"message":"Not Authorized","errorcode":0}
	// whatever the token: an integration REST refuses although its tokens
	// are issued (revoked, disabled or missing scopes).
	Fault401
	// Fault501 answers 501 Not Implemented, a 5xx no retry cures.
	Fault501
)

// String returns the name of the fault, e.g. "Fault429".
func (f Fault) String() string {
	switch f {
	case Fault429:
		return "Fault429"
	case FaultBlocked:
		return "FaultBlocked"
	case Fault500:
		return "Fault500"
	case Fault503:
		return "Fault503"
	case FaultDrop:
		return "FaultDrop"
	case FaultDropAfterWrite:
		return "FaultDropAfterWrite"
	case Fault401:
		return "Fault401"
	case Fault501:
		return "Fault501"
	}
	return "Fault(" + itoa(int(f)) + ")"
}

func (f Fault) valid() bool { return f >= Fault429 && f <= Fault501 }

type queuedFault struct {
	fault Fault
	n     int
}

// faultState holds the injected faults. active lets the hot path skip the
// mutex when no fault is configured.
type faultState struct {
	active atomic.Bool
	mu     sync.Mutex
	queue  []queuedFault
	rates  []faultRate // sorted by fault, fractions > 0
	keys   map[string]Fault
	seed   int64
	rng    *rand.Rand
}

func (fs *faultState) init(seed int64) {
	fs.seed = seed
	fs.rng = rand.New(rand.NewPCG(uint64(seed), 0x5f3759df))
}

func (fs *faultState) updateActive() {
	fs.active.Store(len(fs.queue) > 0 || len(fs.rates) > 0 || len(fs.keys) > 0)
}

func (fs *faultState) failKey(key string, f Fault) {
	fs.mu.Lock()
	if f == 0 {
		delete(fs.keys, key)
	} else if f.valid() {
		if fs.keys == nil {
			fs.keys = map[string]Fault{}
		}
		fs.keys[key] = f
	}
	fs.updateActive()
	fs.mu.Unlock()
}

// keyFaults reports whether any per-key fault is set.
func (fs *faultState) keyFaults() bool {
	if !fs.active.Load() {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.keys) > 0
}

// forKey returns the persistent fault of a contact key, if any.
func (fs *faultState) forKey(key string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.keys[key]
	return f, ok
}

func (fs *faultState) failNext(n int, f Fault) {
	if n <= 0 || !f.valid() {
		return
	}
	fs.mu.Lock()
	fs.queue = append(fs.queue, queuedFault{fault: f, n: n})
	fs.updateActive()
	fs.mu.Unlock()
}

func (fs *faultState) setRate(f Fault, fraction float64) {
	if !f.valid() || fraction != fraction { // NaN
		return
	}
	fraction = min(max(fraction, 0), 1)
	fs.mu.Lock()
	fs.rates = slices.DeleteFunc(fs.rates, func(r faultRate) bool { return r.fault == f })
	if fraction > 0 {
		fs.rates = append(fs.rates, faultRate{fault: f, fraction: fraction})
		slices.SortFunc(fs.rates, func(a, b faultRate) int { return int(a.fault) - int(b.fault) })
	}
	fs.updateActive()
	fs.mu.Unlock()
}

// next returns the fault for the current request, if any: queued faults
// first, then one seeded draw against the fault rates.
func (fs *faultState) next() (Fault, bool) {
	if !fs.active.Load() {
		return 0, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.queue) > 0 {
		q := &fs.queue[0]
		f := q.fault
		q.n--
		if q.n == 0 {
			fs.queue = fs.queue[1:]
			fs.updateActive()
		}
		return f, true
	}
	if len(fs.rates) == 0 {
		return 0, false
	}
	x := fs.rng.Float64()
	acc := 0.0
	for _, r := range fs.rates {
		acc += r.fraction
		if x < acc {
			return r.fault, true
		}
	}
	return 0, false
}

func (fs *faultState) reset() {
	fs.mu.Lock()
	fs.queue = nil
	fs.rates = nil
	fs.keys = nil
	fs.init(fs.seed)
	fs.updateActive()
	fs.mu.Unlock()
}

// FailNext makes the next n REST requests fail with f. Calls queue up: the
// faults of a second call follow those of the first. Queued faults take
// precedence over fault rates. n <= 0 or an unknown fault is ignored.
func (s *Server) FailNext(n int, f Fault) { s.faults.failNext(n, f) }

// SetFaultRate makes a seeded pseudo-random fraction (0 to 1) of REST
// requests fail with f, replacing an earlier rate for f. Fraction 0 removes
// the rate for f. An unknown fault is ignored.
func (s *Server) SetFaultRate(f Fault, fraction float64) { s.faults.setRate(f, fraction) }

// FailKey makes every contact write (PATCH or POST /contacts/v1/contacts)
// for key fail with f until FailKey(key, 0) or Reset: a contact that always
// fails, whatever the other contacts do. Per-key faults come after the
// block, the rate limit and the queued and random faults.
func (s *Server) FailKey(key string, f Fault) { s.faults.failKey(key, f) }

// WithKeyFault is FailKey as a server option.
func WithKeyFault(key string, f Fault) ServerOption {
	return func(c *serverConfig) { c.keyFaults = append(c.keyFaults, keyFault{key, f}) }
}

type keyFault struct {
	key   string
	fault Fault
}

// blockState is the simulated 50200 block: while it is on, every REST
// request is answered 429 with errorcode 50200. It starts by hand (Block),
// when more than aboveConc REST requests are in progress at once, or at the
// atRequest-th REST request.
type blockState struct {
	until     atomic.Int64 // unix nanoseconds; 0 = none
	aboveConc atomic.Int64
	atRequest atomic.Int64
	dur       atomic.Int64
	episodes  atomic.Int64
}

// check starts a block when a trigger fires and reports whether the
// request falls into one.
func (b *blockState) check(now time.Time, inflight, request int64) bool {
	if u := b.until.Load(); u != 0 && now.UnixNano() < u {
		return true
	}
	d := time.Duration(b.dur.Load())
	if d <= 0 {
		return false
	}
	if (b.aboveConc.Load() > 0 && inflight > b.aboveConc.Load()) || (b.atRequest.Load() > 0 && request == b.atRequest.Load()) {
		b.start(now, d)
		return true
	}
	return false
}

func (b *blockState) start(now time.Time, d time.Duration) {
	b.until.Store(now.Add(d).UnixNano())
	b.episodes.Add(1)
}

// Block makes every REST request answer 429 with errorcode 50200 ("Your
// requests are temporarily blocked.", no Retry-After, like SFMC) for d from
// now. d <= 0 ends a block at once.
func (s *Server) Block(d time.Duration) {
	if d <= 0 {
		s.block.until.Store(0)
		return
	}
	s.block.start(time.Now(), d)
}

// WithBlockAbove blocks the caller for d (see Block) whenever more than
// concurrency REST requests are in progress at once, as SFMC blocks callers
// whose concurrent load hurts it. Values <= 0 are ignored.
func WithBlockAbove(concurrency int, d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if concurrency > 0 && d > 0 {
			c.blockAbove, c.blockDur = concurrency, d
		}
	}
}

// WithBlockAt blocks the caller for d (see Block) from the n-th REST
// request on (counted from the start or the last Reset). Values <= 0 are
// ignored.
func WithBlockAt(n int64, d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if n > 0 && d > 0 {
			c.blockAt, c.blockDur = n, d
		}
	}
}
