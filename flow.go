package sfmc

import (
	"context"
	"sync"
)

// flow is the Upserter's backpressure: it bounds the Adds waiting to be
// sent. acquire blocks while the bound is reached; a blocked acquire goes on
// once the count has fallen to the low-water mark (three quarters of the
// bound), so a producer faster than the workers adds a run of contacts per
// wake-up instead of paying one for every free slot. close makes every
// acquire, waiting or later, fail with the given error.
type flow struct {
	limit, lowWater int

	mu     sync.Mutex
	n      int
	wait   chan struct{} // closed to wake the blocked acquires; nil when none wait
	closed error
}

func newFlow(limit int) *flow {
	return &flow{limit: limit, lowWater: limit - max(1, limit/4)}
}

// acquire takes one place, blocking while there is none. It returns ctx's
// error, or the close error.
func (f *flow) acquire(ctx context.Context) error {
	f.mu.Lock()
	for {
		if f.closed != nil {
			err := f.closed
			f.mu.Unlock()
			return err
		}
		if f.n < f.limit {
			f.n++
			f.mu.Unlock()
			return nil
		}
		if f.wait == nil {
			f.wait = make(chan struct{})
		}
		ch := f.wait
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		f.mu.Lock()
	}
}

// full reports whether an acquire would block now.
func (f *flow) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed == nil && f.n >= f.limit
}

// release gives n places back.
func (f *flow) release(n int) {
	f.mu.Lock()
	f.n -= n
	if f.wait != nil && f.n <= f.lowWater {
		close(f.wait)
		f.wait = nil
	}
	f.mu.Unlock()
}

// close fails every acquire from now on with err (the first err given
// stays), waking those that wait.
func (f *flow) close(err error) {
	f.mu.Lock()
	if f.closed == nil {
		f.closed = err
	}
	if f.wait != nil {
		close(f.wait)
		f.wait = nil
	}
	f.mu.Unlock()
}

// len returns the places taken.
func (f *flow) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
