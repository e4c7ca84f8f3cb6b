package sfmc

import (
	"context"
	"sync"
)

// epoch groups the Adds between two Flush calls, so that a Flush can wait
// for exactly the Adds made before it.
type epoch struct {
	n      int // outcomes not yet delivered
	sealed bool
	done   chan struct{}
	prev   *epoch // the epoch before, until it is done
}

// flushTracker counts the outstanding outcomes of each epoch.
type flushTracker struct {
	mu  sync.Mutex
	cur *epoch
}

func newFlushTracker() *flushTracker {
	return &flushTracker{cur: &epoch{done: make(chan struct{})}}
}

// add counts one more outcome in the current epoch and returns it.
func (f *flushTracker) add() *epoch {
	f.mu.Lock()
	ep := f.cur
	ep.n++
	f.mu.Unlock()
	return ep
}

// done counts one outcome of ep as delivered.
func (f *flushTracker) done(ep *epoch) {
	f.mu.Lock()
	ep.n--
	if ep.n == 0 && ep.sealed {
		close(ep.done)
	}
	f.mu.Unlock()
}

// seal ends the current epoch and starts a new one; it returns the sealed
// one, for wait.
func (f *flushTracker) seal() *epoch {
	f.mu.Lock()
	ep := f.cur
	ep.sealed = true
	if ep.n == 0 {
		close(ep.done)
	}
	f.cur = &epoch{done: make(chan struct{}), prev: ep}
	f.mu.Unlock()
	return ep
}

// wait returns when ep and every epoch before it are done, or ctx's error.
func (f *flushTracker) wait(ctx context.Context, ep *epoch) error {
	for e := ep; e != nil; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
		}
		f.mu.Lock()
		next := e.prev
		f.mu.Unlock()
		e = next
	}
	f.mu.Lock()
	ep.prev = nil // every earlier epoch is done: let them go
	f.mu.Unlock()
	return nil
}
