package sfmctest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
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
	}
	return "Fault(" + itoa(int(f)) + ")"
}

func (f Fault) valid() bool { return f >= Fault429 && f <= FaultDropAfterWrite }

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
	seed   int64
	rng    *rand.Rand
}

func (fs *faultState) init(seed int64) {
	fs.seed = seed
	fs.rng = rand.New(rand.NewPCG(uint64(seed), 0x5f3759df))
}

func (fs *faultState) updateActive() {
	fs.active.Store(len(fs.queue) > 0 || len(fs.rates) > 0)
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
