package sfmc

import (
	"math"
	"sync"
	"time"
)

// concurrencyEvery is how often the scheduler sizes the Upserter's
// concurrency from the client's pace and round-trip time.
const concurrencyEvery = 100 * time.Millisecond

// scheduler hands the Upserter's workers their next attempt: a contact from
// the keyQueue, when fewer attempts than the concurrency limit are in
// progress and (for a contact not yet taken) fewer contacts than maxOut are
// out. Without a fixed Workers count the limit follows Little's law: the
// client's current pace times its round-trip time, doubled for headroom,
// between 1 and MaxWorkers.
type scheduler struct {
	c      *Client
	fixed  int // UpserterConfig.Workers, or 0 to size from the pace
	maxOut int // contacts taken and not done, parked ones included
	window time.Duration
	wake   chan struct{}
	stopCh chan struct{}

	mu       sync.Mutex
	q        *keyQueue
	out      int // contacts taken and not done
	active   int // attempts in progress
	limit    int
	sizedAt  time.Time
	flushing int
	stopping bool
}

func newScheduler(c *Client, cfg UpserterConfig, workers int) *scheduler {
	s := &scheduler{
		c: c, fixed: cfg.Workers, maxOut: workers, window: cfg.FlushInterval,
		wake: make(chan struct{}, workers), stopCh: make(chan struct{}),
		q: newKeyQueue(cfg.Coalesce == CoalesceOn),
	}
	s.limit = s.fixed
	if s.limit == 0 {
		s.limit = min(DefaultUpserterWorkers, workers)
	}
	return s
}

// add queues c; it reports whether c merged into a queued update.
func (s *scheduler) add(c Contact, t ticket) bool {
	var ready time.Time
	if s.window > 0 {
		ready = time.Now().Add(s.window)
	}
	s.mu.Lock()
	merged := s.q.add(c, t, ready)
	s.mu.Unlock()
	if !merged {
		s.signal(1)
	}
	return merged
}

// signal wakes up to n waiting workers.
func (s *scheduler) signal(n int) {
	for range n {
		select {
		case s.wake <- struct{}{}:
		default:
			return
		}
	}
}

// next blocks until there is an attempt to make and returns its entry; it
// returns nil when the Upserter stops and nothing is left. first reports
// that the entry was taken from the queue now (not a retry).
func (s *scheduler) next() (e *entry, first bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	stopCh := s.stopCh
	for {
		now := time.Now()
		var wait time.Duration
		s.mu.Lock()
		s.resize(now)
		if s.active < s.limit {
			e, wait = s.q.take(now, s.out < s.maxOut, s.flushing > 0 || s.stopping)
			if e != nil {
				s.active++
				first = e.send == nil
				if first {
					s.out++
				}
				s.mu.Unlock()
				return e, first
			}
		}
		if s.stopping && s.q.empty() {
			s.mu.Unlock()
			return nil, false
		}
		s.mu.Unlock()
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
		case <-s.wake:
		case <-tc:
		case <-stopCh:
			stopCh = nil // seen once: from now on, wait for work or a timer
		}
	}
}

// resize recomputes the concurrency limit (callers hold s.mu).
func (s *scheduler) resize(now time.Time) {
	if s.fixed > 0 || now.Sub(s.sizedAt) < concurrencyEvery {
		return
	}
	s.sizedAt = now
	old := s.limit
	s.limit = concurrencyFor(s.c.pace.Rate(), s.c.rtt.get(), s.maxOut)
	if s.limit > old {
		defer s.signal(s.limit - old)
	}
}

// concurrencyFor sizes the attempts in flight by Little's law: rate times
// round-trip time, doubled for headroom, plus one; DefaultUpserterWorkers
// before the first round trip is known; between 1 and most.
func concurrencyFor(rate float64, rtt time.Duration, most int) int {
	if rtt <= 0 {
		return min(DefaultUpserterWorkers, most)
	}
	n := 2*rate*rtt.Seconds() + 1
	if math.IsInf(n, 0) || math.IsNaN(n) || n > float64(most) {
		return most
	}
	return max(1, int(math.Ceil(n)))
}

// retry parks e until e.ready; its attempt slot is free again.
func (s *scheduler) retry(e *entry) {
	s.mu.Lock()
	s.active--
	s.q.park(e)
	s.mu.Unlock()
	s.signal(2) // the freed slot, and the parked entry's new ready time
}

// finished ends e: its slot and its key are free again.
func (s *scheduler) finished(e *entry) {
	s.mu.Lock()
	s.active--
	s.out--
	s.q.done(e)
	s.mu.Unlock()
	s.signal(2)
}

// drain takes out every entry not being attempted right now (see
// keyQueue.drain); parked ones are no longer out.
func (s *scheduler) drain() []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.q.drain()
	for _, e := range out {
		if e.send != nil {
			s.out--
		}
	}
	return out
}

// flush makes queued entries go at once, whatever their FlushInterval,
// until the returned function is called.
func (s *scheduler) flush() (end func()) {
	s.mu.Lock()
	s.flushing++
	s.mu.Unlock()
	s.signal(cap(s.wake))
	return func() {
		s.mu.Lock()
		s.flushing--
		s.mu.Unlock()
	}
}

// stop lets the workers return once nothing is left.
func (s *scheduler) stop() {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stopCh)
	}
	s.mu.Unlock()
}

// stats returns the contacts out and the concurrency limit.
func (s *scheduler) stats() (out, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out, s.limit
}
