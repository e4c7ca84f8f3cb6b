package sfmctest

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

// Contact is a stored contact as seen through Server.Contact and
// Server.Contacts.
type Contact struct {
	// Key is the contact key.
	Key string
	// ID is the contact id the server assigned, sequential from 1.
	ID int64
	// Sets maps attribute-set name to attribute name to value. Values are
	// as decoded from JSON with UseNumber: string, json.Number, bool, or
	// nil for a JSON null.
	Sets map[string]map[string]any
}

// Request is one entry of the request log.
type Request struct {
	// Method and Path of the request (no query string).
	Method, Path string
	// Status is the HTTP status answered, 0 when the connection was dropped.
	Status int
	// Time is when the request arrived.
	Time time.Time
}

// Stats are counters of the server's activity since it started or since
// the last Reset.
type Stats struct {
	// TokenRequests counts requests to /v2/token; TokensIssued the
	// successful ones.
	TokenRequests, TokensIssued int64
	// RESTRequests counts requests to every other path, including those
	// answered with an injected fault or 401.
	RESTRequests int64
	// ByStatus counts answers by HTTP status (dropped connections excluded).
	ByStatus map[int]int64
	// Dropped counts connections closed without an answer.
	Dropped int64
	// Writes counts contact writes applied (successful creates and updates,
	// including those whose answer was then dropped).
	Writes int64
	// MaxConcurrency is the largest number of requests in progress at once.
	MaxConcurrency int64
	// Blocks counts the 50200 block episodes started (Block, WithBlockAbove,
	// WithBlockAt).
	Blocks int64
}

type contactRec struct {
	key     string
	id      int64
	created time.Time
	sets    map[string]map[string]any
}

func (c *contactRec) snapshot() Contact {
	out := Contact{Key: c.key, ID: c.id, Sets: make(map[string]map[string]any, len(c.sets))}
	for name, vals := range c.sets {
		out.Sets[name] = maps.Clone(vals)
	}
	return out
}

// Contact returns a deep copy of the contact stored under key.
func (s *Server) Contact(key string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contacts[key]
	if c == nil {
		return Contact{}, false
	}
	return c.snapshot(), true
}

// Contacts returns deep copies of all stored contacts, sorted by key.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		out = append(out, c.snapshot())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Contact) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

// Requests returns the most recent requests (see WithRequestLogSize),
// oldest first. Entries are added when a request finishes.
func (s *Server) Requests() []Request { return s.log.snapshot() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Blocks = s.block.episodes.Load()
	return st
}

// Reset clears the stored contacts, delete operations, the request log, the
// counters, queued faults, fault rates and per-key faults (the fault
// randomness starts over from the seed), and ends a block in progress. It keeps attribute definitions, credentials, issued
// tokens, the token TTL, latency, the rate limit and the IP rejection.
func (s *Server) Reset() {
	s.mu.Lock()
	clear(s.contacts)
	clear(s.byID)
	clear(s.deletes)
	s.nextID = 0
	s.nextOp = 0
	s.mu.Unlock()
	s.faults.reset()
	s.block.until.Store(0)
	s.block.episodes.Store(0)
	s.log.reset()
	s.stats.reset()
}

// requestLog is a ring buffer of the last requests.
type requestLog struct {
	mu   sync.Mutex
	buf  []Request
	next int
	full bool
}

func (l *requestLog) init(n int) { l.buf = make([]Request, n) }

func (l *requestLog) add(r Request) {
	if len(l.buf) == 0 {
		return
	}
	l.mu.Lock()
	l.buf[l.next] = r
	l.next++
	if l.next == len(l.buf) {
		l.next = 0
		l.full = true
	}
	l.mu.Unlock()
}

func (l *requestLog) snapshot() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return slices.Clone(l.buf[:l.next])
	}
	out := make([]Request, 0, len(l.buf))
	out = append(out, l.buf[l.next:]...)
	return append(out, l.buf[:l.next]...)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	clear(l.buf)
	l.next = 0
	l.full = false
	l.mu.Unlock()
}

const maxStatus = 600

type counters struct {
	tokenRequests, tokensIssued, restRequests atomic.Int64
	dropped, writes                           atomic.Int64
	inflight, maxConc                         atomic.Int64
	byStatus                                  [maxStatus]atomic.Int64
}

func (c *counters) countStatus(status int) {
	if status >= 0 && status < maxStatus {
		c.byStatus[status].Add(1)
	}
}

func (c *counters) snapshot() Stats {
	st := Stats{
		TokenRequests:  c.tokenRequests.Load(),
		TokensIssued:   c.tokensIssued.Load(),
		RESTRequests:   c.restRequests.Load(),
		ByStatus:       map[int]int64{},
		Dropped:        c.dropped.Load(),
		Writes:         c.writes.Load(),
		MaxConcurrency: c.maxConc.Load(),
	}
	for i := range c.byStatus {
		if n := c.byStatus[i].Load(); n != 0 {
			st.ByStatus[i] = n
		}
	}
	return st
}

func (c *counters) reset() {
	c.tokenRequests.Store(0)
	c.tokensIssued.Store(0)
	c.restRequests.Store(0)
	c.dropped.Store(0)
	c.writes.Store(0)
	c.maxConc.Store(0)
	for i := range c.byStatus {
		c.byStatus[i].Store(0)
	}
}
