package sfmctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sfmc-go/sfmc"
)

// Subdomain is the tenant subdomain reported by Server.Config.
const Subdomain = "sfmctest"

// documentationURL is the "documentation" value of REST error bodies.
const documentationURL = "https://developer.salesforce.com/docs/atlas.en-us.mc-apis.meta/mc-apis/error-handling.htm"

// Server is a simulated SFMC tenant serving the token endpoint and the
// Contacts REST routes on a loopback HTTP server. Create it with NewServer
// or StartServer and stop it with Close. All methods are safe for
// concurrent use.
type Server struct {
	ts  *httptest.Server
	url string
	cfg serverConfig // immutable after start
	ids *idGen

	done      chan struct{}
	closeOnce sync.Once

	tokenTTL atomic.Int64 // nanoseconds
	latency  atomic.Int64 // nanoseconds
	rejectIP atomic.Bool
	limiter  atomic.Pointer[rate.Limiter]

	tokMu   sync.RWMutex
	tokens  map[string]time.Time // access token -> expiry
	pruneAt int

	defMu sync.RWMutex
	cat   *catalog

	mu       sync.Mutex // guards the contact store and delete operations
	contacts map[string]*contactRec
	byID     map[int64]*contactRec
	nextID   int64
	deletes  map[int64]deleteOp
	nextOp   int64

	faults faultState
	block  blockState
	log    requestLog
	stats  counters
}

// NewServer starts a simulator listening on a random port of 127.0.0.1 (or
// on the address given by WithAddr). Like httptest.NewServer it panics when
// it cannot listen; use StartServer to get an error instead.
func NewServer(opts ...ServerOption) *Server {
	s, err := StartServer(opts...)
	if err != nil {
		panic("sfmctest: " + err.Error())
	}
	return s
}

// StartServer is NewServer returning an error, instead of panicking, when
// the server cannot listen (for example because the WithAddr address is in
// use).
func StartServer(opts ...ServerOption) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	addr := cfg.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{
		cfg:      cfg,
		ids:      newIDGen(),
		done:     make(chan struct{}),
		tokens:   map[string]time.Time{},
		pruneAt:  64,
		contacts: map[string]*contactRec{},
		byID:     map[int64]*contactRec{},
		deletes:  map[int64]deleteOp{},
	}
	s.tokenTTL.Store(int64(cfg.tokenTTL))
	s.latency.Store(int64(cfg.latency))
	s.rejectIP.Store(cfg.rejectIP)
	s.SetRateLimit(cfg.ratePerSecond, cfg.rateBurst)
	s.cat = newCatalog(s.ids, cfg.leadingSets)
	for _, a := range cfg.attrs {
		s.cat.add(a.set, false, a.attrs...)
	}
	s.faults.init(cfg.seed)
	for _, fr := range cfg.faultRates {
		s.faults.setRate(fr.fault, fr.fraction)
	}
	for _, kf := range cfg.keyFaults {
		s.faults.failKey(kf.key, kf.fault)
	}
	s.block.aboveConc.Store(int64(cfg.blockAbove))
	s.block.atRequest.Store(cfg.blockAt)
	s.block.dur.Store(int64(cfg.blockDur))
	s.log.init(cfg.logSize)

	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	_ = s.ts.Listener.Close()
	s.ts.Listener = ln
	s.ts.Start()
	s.url = strings.TrimSuffix(s.ts.URL, "/")
	return s, nil
}

// Close stops the server and waits for outstanding requests to finish.
// Requests waiting for latency return at once. Close may be called more
// than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// URL returns the base URL of the server, for example
// "http://127.0.0.1:41234", without a trailing slash. It serves both the
// token endpoint and the REST routes.
func (s *Server) URL() string { return s.url }

// ClientOptions returns the options pointing an sfmc.Client at the server:
// sfmc.WithAuthURL(s.URL()) and sfmc.WithRESTURL(s.URL()).
func (s *Server) ClientOptions() []sfmc.Option {
	return []sfmc.Option{sfmc.WithAuthURL(s.url), sfmc.WithRESTURL(s.url)}
}

// Credentials returns the client id and secret the token endpoint accepts.
func (s *Server) Credentials() (clientID, clientSecret string) {
	return s.cfg.clientID, s.cfg.clientSecret
}

// Config returns an sfmc.Config accepted by the server: Subdomain
// "sfmctest", the accepted credentials, and the account id if one was set
// with WithAccountID.
func (s *Server) Config() sfmc.Config {
	return sfmc.Config{
		Subdomain:    Subdomain,
		ClientID:     s.cfg.clientID,
		ClientSecret: s.cfg.clientSecret,
		AccountID:    s.cfg.accountID,
	}
}

// SetLatency sets the delay applied to every REST request before it is
// processed. 0 removes it; negative values are ignored.
func (s *Server) SetLatency(d time.Duration) {
	if d >= 0 {
		s.latency.Store(int64(d))
	}
}

// SetRateLimit sets the tenant rate limit (see WithRateLimit). perSecond
// <= 0 removes the limit.
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	if !(perSecond > 0) { // also catches NaN
		s.limiter.Store(nil)
		return
	}
	if burst < 1 {
		burst = 1
	}
	s.limiter.Store(rate.NewLimiter(rate.Limit(perSecond), burst))
}

// SetTokenTTL sets the lifetime of tokens issued from now on (see
// WithTokenTTL). Tokens already issued keep their expiry. Values <= 0 are
// ignored.
func (s *Server) SetTokenTTL(d time.Duration) {
	if d > 0 {
		s.tokenTTL.Store(int64(d))
	}
}

// RejectIP turns the IP-allowlist rejection of the token endpoint on or off
// (see WithIPAllowlistRejection). Tokens already issued stay valid.
func (s *Server) RejectIP(on bool) { s.rejectIP.Store(on) }

// RevokeTokens makes every token issued so far invalid: REST requests
// carrying one are answered 401.
func (s *Server) RevokeTokens() {
	s.tokMu.Lock()
	clear(s.tokens)
	s.tokMu.Unlock()
}

// AddAttribute adds an attribute to the set named set, creating the set if
// needed (see WithAttributes).
func (s *Server) AddAttribute(set string, a Attribute) {
	s.defMu.Lock()
	s.cat.add(set, false, a)
	s.defMu.Unlock()
}

// serveHTTP is the entry point of every request: it counts, logs and
// dispatches.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cur := s.stats.inflight.Add(1)
	for {
		m := s.stats.maxConc.Load()
		if cur <= m || s.stats.maxConc.CompareAndSwap(m, cur) {
			break
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	var dropped bool
	if r.URL.Path == "/v2/token" {
		s.stats.tokenRequests.Add(1)
		s.handleToken(sw, r)
	} else {
		n := s.stats.restRequests.Add(1)
		dropped = s.serveREST(sw, r, cur, n)
	}
	status := sw.status
	if dropped {
		status = 0
		s.stats.dropped.Add(1)
	} else {
		if status == 0 {
			status = http.StatusOK
		}
		s.stats.countStatus(status)
	}
	s.log.add(Request{Method: r.Method, Path: r.URL.Path, Status: status, Time: start})
	s.stats.inflight.Add(-1)
	if sw.conn != nil {
		// Closed only now, after the counting: the client sees the drop
		// only once Stats and Requests show it.
		_ = sw.conn.Close()
	}
	if dropped && !sw.hijacked {
		// The connection could not be hijacked (not HTTP/1.x): abort the
		// response the way net/http documents.
		panic(http.ErrAbortHandler)
	}
}

// serveREST applies the block, latency, rate limit, faults, per-key faults
// and authentication, in that order, then routes the request. inflight is
// the number of requests in progress, n the request's number. It reports
// whether the connection was dropped without an answer.
func (s *Server) serveREST(w *statusWriter, r *http.Request, inflight, n int64) (dropped bool) {
	blocked := s.block.check(time.Now(), inflight, n)
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		case <-s.done:
			t.Stop()
		}
	}
	if blocked {
		s.writeFault(w, FaultBlocked)
		return false
	}
	if lim := s.limiter.Load(); lim != nil && !lim.Allow() {
		wait := time.Second
		if l := float64(lim.Limit()); l > 0 {
			need := 1 - lim.Tokens()
			if need > 0 {
				wait = time.Duration(need / l * float64(time.Second))
			}
		}
		s.writeThrottled(w, retryAfterValue(wait))
		return false
	}
	f, ok := s.faults.next()
	if !ok && s.faults.keyFaults() {
		f, ok = s.faults.forKey(contactKeyOf(r))
	}
	dropAfter := false
	if ok {
		switch f {
		case FaultDrop:
			s.drop(w)
			return true
		case FaultDropAfterWrite:
			dropAfter = true
		default:
			s.writeFault(w, f)
			return false
		}
	}
	if dropAfter {
		s.authAndRoute(discardWriter{h: http.Header{}}, r)
		s.drop(w)
		return true
	}
	s.authAndRoute(w, r)
	return false
}

func (s *Server) authAndRoute(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeAPIError(w, http.StatusUnauthorized, 0, "Not Authorized")
		return
	}
	s.route(w, r)
}

// route dispatches an authenticated REST request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	type handler struct {
		method string
		fn     func(http.ResponseWriter, *http.Request)
	}
	var hs []handler
	switch {
	case p == "/contacts/v1/contacts":
		hs = []handler{{http.MethodPatch, s.handleUpdate}, {http.MethodPost, s.handleCreate}}
	case p == "/contacts/v1/attributeSetDefinitions":
		hs = []handler{{http.MethodGet, s.handleListDefinitions}}
	case strings.HasPrefix(p, "/contacts/v1/attributeSetDefinitions/"):
		hs = []handler{{http.MethodGet, s.handleGetDefinition}}
	case p == "/contacts/v1/addresses/email/search":
		hs = []handler{{http.MethodPost, s.handleEmailSearch}}
	case p == "/contacts/v1/contacts/actions/delete":
		hs = []handler{{http.MethodPost, s.handleDelete}}
	case p == "/contacts/v1/contacts/actions/delete/status":
		hs = []handler{{http.MethodGet, s.handleDeleteStatus}}
	default:
		writeAPIError(w, http.StatusNotFound, 30003, "Not Found")
		return
	}
	for _, h := range hs {
		if r.Method == h.method {
			h.fn(w, r)
			return
		}
	}
	writeAPIError(w, http.StatusBadRequest, 30001,
		"Invalid operation: HTTP method "+r.Method+" is not supported on "+p+".")
}

// authorized reports whether r carries a valid, unexpired bearer token.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	s.tokMu.RLock()
	exp, ok := s.tokens[tok]
	s.tokMu.RUnlock()
	return ok && time.Now().Before(exp)
}

// drop takes over the connection of w without writing an answer;
// serveHTTP closes it once the request is counted.
func (s *Server) drop(w *statusWriter) {
	conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return
	}
	w.hijacked = true
	w.conn = conn
}

// writeThrottled answers 429 with errorcode 50100 and Retry-After.
func (s *Server) writeThrottled(w http.ResponseWriter, secs float64) {
	w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
	writeJSON(w, http.StatusTooManyRequests, apiError{
		Message: "Rate limit exceeded", ErrorCode: intp(50100), RetryAfter: &secs, Documentation: documentationURL,
	})
}

// writeFault answers with the error of an injected fault.
func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	secs := retryAfterValue(s.cfg.retryAfter)
	switch f {
	case Fault429:
		s.writeThrottled(w, secs)
	case FaultBlocked:
		writeAPIError(w, http.StatusTooManyRequests, 50200, "Your requests are temporarily blocked.")
	case Fault401:
		writeAPIError(w, http.StatusUnauthorized, 0, "Not Authorized")
	case Fault501:
		writeJSON(w, http.StatusNotImplemented, apiError{Message: "Not Implemented", Documentation: documentationURL})
	case Fault503:
		w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', -1, 64))
		writeJSON(w, http.StatusServiceUnavailable, apiError{
			Message: "Service Unavailable", ErrorCode: intp(50300), RetryAfter: &secs, Documentation: documentationURL,
		})
	default: // Fault500
		writeJSON(w, http.StatusInternalServerError, apiError{
			Message: "An internal server error occurred.", Documentation: documentationURL,
		})
	}
}

// retryAfterValue is the Retry-After for a wait of d: whole seconds rounded
// up, as SFMC sends, for d of a second or more; for shorter waits the
// fraction in seconds (e.g. 0.05), so tests need not wait whole seconds.
// SFMC itself never sends fractions; the sfmc client accepts them.
func retryAfterValue(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	if d < time.Second {
		return float64(d.Milliseconds()+1) / 1000
	}
	return float64(ceilSeconds(d))
}

// ceilSeconds is d in whole seconds, rounded up; 0 for d <= 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func intp(n int) *int { return &n }

// apiError is the REST error body.
type apiError struct {
	Message       string   `json:"message"`
	ErrorCode     *int     `json:"errorcode,omitempty"`
	RetryAfter    *float64 `json:"retryAfter,omitempty"`
	Documentation string   `json:"documentation"`
}

func writeAPIError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiError{Message: msg, ErrorCode: &code, Documentation: documentationURL})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"sfmctest: cannot encode the answer","documentation":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusWriter records the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
	conn     net.Conn // hijacked connection, closed by serveHTTP
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter swallows an answer (used by FaultDropAfterWrite).
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// contactKeyOf returns the contactKey of a contact write, putting the body
// back for the handler; "" for other requests.
func contactKeyOf(r *http.Request) string {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if p != "/contacts/v1/contacts" || (r.Method != http.MethodPatch && r.Method != http.MethodPost) {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var k struct {
		ContactKey string `json:"contactKey"`
	}
	_ = json.Unmarshal(body, &k)
	return k.ContactKey
}
