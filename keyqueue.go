package sfmc

import (
	"container/heap"
	"context"
	"time"
)

// entry is one contact write waiting in, or taken from, a keyQueue: the
// contact (with the Adds merged into it) and the tickets of those Adds.
type entry struct {
	contact Contact
	index   map[attrKey]int // attribute positions, built at the first merge
	tickets []ticket
	ready   time.Time // not to be sent before (FlushInterval, or a retry's wait)
	next    *entry    // later entries of the same key held behind it (CoalesceOff)
	heapPos int       // position in keyQueue.parked
	send    *sendState
}

type attrKey struct{ set, name string }

// ticket is one Add's claim on an outcome.
type ticket struct {
	ep        *epoch
	coalesced bool
	tag       any
	ctx       context.Context // the Add's context: its values go with the request (Hooks, tracing)
	added     time.Time
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

// keyQueue orders contact writes by key: it merges queued updates to one
// key (when coalescing), keeps at most one write per key out (taken and not
// done), holds later writes of a key until the one out is done — so the
// last Add's values are the ones SFMC keeps — and parks taken writes that
// wait to be retried. It runs no goroutines and is not safe for concurrent
// use: the Upserter's scheduler guards it.
type keyQueue struct {
	coalesce bool
	fifo     ring
	pending  map[string]*entry // per key: the queued entry later Adds merge into
	held     map[string]*entry // per key: entries added while the key was out, in order
	out      map[string]bool   // keys taken and not done (sending or parked)
	parked   parkHeap          // taken entries waiting for their retry, by ready time
}

func newKeyQueue(coalesce bool) *keyQueue {
	return &keyQueue{coalesce: coalesce, pending: map[string]*entry{}, held: map[string]*entry{}, out: map[string]bool{}}
}

// add queues c for t, to be taken no earlier than ready. With coalescing on,
// an update to a key that is still queued merges into it (later values
// win); add reports whether it did.
func (q *keyQueue) add(c Contact, t ticket, ready time.Time) (merged bool) {
	if e := q.pending[c.Key]; e != nil {
		e.merge(c.Attributes)
		if len(e.tickets) == 1 {
			e.tickets[0].coalesced = true
		}
		t.coalesced = true
		e.tickets = append(e.tickets, t)
		return true
	}
	e := &entry{contact: c, tickets: []ticket{t}, ready: ready, heapPos: -1}
	if q.coalesce {
		q.pending[c.Key] = e
	}
	q.fifo.push(e)
	return false
}

// take returns the next entry to attempt, or how long until one is ready
// (0: none, nothing to wait for). Parked entries whose retry time has come
// go first; new entries only when admitNew (the caller bounds how many
// contacts are out at once). ignoreWindow sends queued entries at once,
// whatever their FlushInterval (Flush and Close). A queued entry whose key
// is out is held, not taken.
func (q *keyQueue) take(now time.Time, admitNew, ignoreWindow bool) (e *entry, wait time.Duration) {
	if len(q.parked) > 0 {
		p := q.parked[0]
		if !now.Before(p.ready) {
			heap.Pop(&q.parked)
			return p, 0
		}
		wait = p.ready.Sub(now)
	}
	for admitNew {
		f := q.fifo.peek()
		if f == nil {
			break
		}
		if !ignoreWindow && now.Before(f.ready) {
			if d := f.ready.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			break
		}
		q.fifo.pop()
		key := f.contact.Key
		if q.out[key] {
			// Held: later Adds of the key still merge into it.
			q.hold(f)
			continue
		}
		if q.pending[key] == f {
			delete(q.pending, key)
		}
		q.out[key] = true
		return f, 0
	}
	return nil, wait
}

// hold puts e behind the entries of its key that wait for the one out.
func (q *keyQueue) hold(e *entry) {
	key := e.contact.Key
	h := q.held[key]
	if h == nil {
		q.held[key] = e
		return
	}
	for h.next != nil { // CoalesceOff only: keep them in order
		h = h.next
	}
	h.next = e
}

// park puts a taken entry back to be retried at e.ready; its key stays out.
func (q *keyQueue) park(e *entry) { heap.Push(&q.parked, e) }

// done releases e's key: the first entry held behind it goes to the front
// of the queue (anything of this key still queued is newer).
func (q *keyQueue) done(e *entry) {
	key := e.contact.Key
	delete(q.out, key)
	next := q.held[key]
	if next == nil {
		return
	}
	if next.next != nil {
		q.held[key] = next.next
		next.next = nil
	} else {
		delete(q.held, key)
	}
	next.ready = time.Time{}
	q.fifo.pushFront(next)
}

// drain removes and returns every entry not being attempted right now:
// queued, held and parked. Parked entries come back with their send state;
// their keys are released.
func (q *keyQueue) drain() []*entry {
	var out []*entry
	for e := q.fifo.pop(); e != nil; e = q.fifo.pop() {
		out = append(out, e)
	}
	for _, e := range q.held {
		for ; e != nil; e = e.next {
			out = append(out, e)
		}
	}
	for _, e := range q.parked {
		delete(q.out, e.contact.Key)
		out = append(out, e)
	}
	q.parked = q.parked[:0]
	clear(q.held)
	clear(q.pending)
	return out
}

// empty reports whether nothing is queued, held or parked.
func (q *keyQueue) empty() bool {
	return q.fifo.size == 0 && len(q.held) == 0 && len(q.parked) == 0
}

// parkHeap orders parked entries by ready time (container/heap).
type parkHeap []*entry

func (h parkHeap) Len() int           { return len(h) }
func (h parkHeap) Less(i, j int) bool { return h[i].ready.Before(h[j].ready) }
func (h parkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapPos, h[j].heapPos = i, j
}

func (h *parkHeap) Push(x any) {
	e := x.(*entry)
	e.heapPos = len(*h)
	*h = append(*h, e)
}

func (h *parkHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapPos = -1
	return e
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
