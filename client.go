package sfmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sfmc-go/sfmc/internal/httpx"
	"golang.org/x/oauth2"
)

// Defaults, documented on the options that change them.
const (
	DefaultRetryMax         = 4
	DefaultRetryWaitMin     = 500 * time.Millisecond
	DefaultRetryWaitMax     = 30 * time.Second
	DefaultRefreshMargin    = 60 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	DefaultHTTPTimeout      = 60 * time.Second
	// DefaultMaxIdleConnsPerHost is how many idle connections per host the
	// client's default transport keeps (see WithHTTPClient).
	DefaultMaxIdleConnsPerHost = 64
)

// Config identifies the tenant and the API integration (an Installed
// Package's server-to-server component). Its String, GoString, Format and
// LogValue methods redact ClientSecret, so printing or logging a Config is
// safe, and encoding/json leaves ClientSecret out (a Config read back from
// JSON has no secret: NewClient then says ClientSecret is required, rather
// than building a client that SFMC refuses at its first call).
type Config struct {
	// Subdomain is the tenant subdomain: the first DNS label of the
	// package's Auth Base URI, e.g. "mcq4jrssqdlyc4lph19nnqgzzs84". It must
	// be one DNS label of lowercase letters, digits and hyphens. SFMC
	// documents 28 characters starting with "mc"; other values are
	// accepted (real tenants vary) with a warning through the logger.
	Subdomain string
	// ClientID and ClientSecret are the API integration's credentials.
	ClientID     string
	ClientSecret string `json:"-"`
	// AccountID is the MID of the business unit to act in; optional
	// (default: the unit that created the package). Digits only.
	AccountID string
	// Scopes restricts the token to these scopes; optional (default: all
	// scopes of the package).
	Scopes []string
}

const redacted = "[REDACTED]"

// String returns the Config with the secret redacted.
func (c Config) String() string {
	sec := ""
	if c.ClientSecret != "" {
		sec = redacted
	}
	return fmt.Sprintf("sfmc.Config{Subdomain:%q, ClientID:%q, ClientSecret:%q, AccountID:%q, Scopes:%q}",
		c.Subdomain, c.ClientID, sec, c.AccountID, c.Scopes)
}

// GoString returns the same redacted text as String, for %#v.
func (c Config) GoString() string { return c.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q)
// prints the redacted form.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue implements slog.LogValuer with the secret redacted.
func (c Config) LogValue() slog.Value {
	sec := ""
	if c.ClientSecret != "" {
		sec = redacted
	}
	return slog.GroupValue(
		slog.String("subdomain", c.Subdomain),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", sec),
		slog.String("account_id", c.AccountID),
		slog.Any("scopes", c.Scopes),
	)
}

// Option configures a Client. Options are applied in order to a copy of
// the defaults; an option given a bad value makes NewClient fail with an
// error matching ErrInvalidConfig.
type Option func(*settings) error

type settings struct {
	hc               *http.Client
	authURL, restURL string
	limiter          Limiter
	rate             float64 // WithRateLimit's ceiling; 0 when not set
	burst            int
	budget           RetryBudget
	hooks            Hooks
	cooldown         Cooldown
	store            TokenStore
	retryMax         int
	waitMin, waitMax time.Duration
	logger           *slog.Logger
	userAgent        string
	margin           time.Duration
	maxBytes         int64
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// WithHTTPClient sets the HTTP client whose Transport, Timeout and Jar are
// used (default: a clone of http.DefaultTransport keeping up to
// DefaultMaxIdleConnsPerHost idle connections per host, and a 60 s
// timeout). Give its Transport at least as many idle connections per host
// as the Upserter has workers. Its
// CheckRedirect is replaced: the client never follows a redirect to
// another host, so neither the token nor the secret can leak there.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return configErr("WithHTTPClient: nil *http.Client")
		}
		s.hc = hc
		return nil
	}
}

// WithAuthURL overrides the token endpoint base (default
// https://{subdomain}.auth.marketingcloudapis.com), e.g. for a proxy or the
// sfmctest simulator. Plain http is accepted only for loopback hosts. With
// an explicit URL the token's rest_instance_url is trusted whatever its host.
func WithAuthURL(u string) Option {
	return func(s *settings) error {
		base, err := explicitURL("WithAuthURL", u)
		if err != nil {
			return err
		}
		s.authURL = base
		return nil
	}
}

// WithRESTURL overrides the REST base (default: the token's
// rest_instance_url, else https://{subdomain}.rest.marketingcloudapis.com).
// Plain http is accepted only for loopback hosts.
func WithRESTURL(u string) Option {
	return func(s *settings) error {
		base, err := explicitURL("WithRESTURL", u)
		if err != nil {
			return err
		}
		s.restURL = base
		return nil
	}
}

// safeURL returns raw for an error message: without user info, query and
// fragment (which may hold credentials), and bounded in length.
func safeURL(raw string) string {
	s := raw
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?[REDACTED]"
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	if i := strings.LastIndexByte(s[start:], '@'); i >= 0 {
		s = s[:start] + "[REDACTED]@" + s[start+i+1:]
	}
	return truncate(s, 200)
}

func explicitURL(opt, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", configErr("%s: %q is not an absolute URL", opt, safeURL(raw))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", configErr("%s: %q must not contain user info, query or fragment", opt, safeURL(raw))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !httpx.IsLoopback(u.Hostname()) {
			return "", configErr("%s: plain http is accepted only for loopback hosts, not %q", opt, u.Host)
		}
	default:
		return "", configErr("%s: scheme %q not supported (https, or http to loopback)", opt, u.Scheme)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// WithLimiter adds a Limiter that every HTTP attempt pays (retries
// included), after the client's own adaptive pace: use it to share one
// rate between clients or processes. A *rate.Limiter from
// golang.org/x/time/rate is a Limiter as it is. When l also implements
// AdaptiveLimiter it replaces the client's pace instead: the client reports
// every answer to it (redisstore.Limiter shares one learned pace across a
// fleet this way).
func WithLimiter(l Limiter) Option {
	return func(s *settings) error {
		if l == nil {
			return configErr("WithLimiter: nil Limiter")
		}
		s.limiter = l
		return nil
	}
}

// WithRateLimit sets the most requests per second the client sends (its
// ceiling) and the burst of its limiter. The client starts at that rate and
// goes below it only while SFMC throttles (429, 503, 50200) or fails most
// requests, then climbs back to it (see the policy table in retry.go).
//
// Without a ceiling (the default, and also with perSecond = rate.Inf) the
// client finds the tenant's pace itself, since SFMC publishes none: it
// starts at 20 requests per second, doubles every pacing round (at least
// 100 ms and two round trips) while answers are clean and requests are
// waiting, and after the first 429 or 503 adapts by AIMD (multiplicative
// decrease on throttling, additive increase while clean; see pacer.go). To run close to a known tenant limit R, use a rate just under R
// and a burst of a few requests: with a burst of 1, every timer that fires
// late is throughput lost for good (measured: ~92% of R with burst 1, ~99%
// with 5).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(s *settings) error {
		if !(perSecond > 0) || burst < 1 {
			return configErr("WithRateLimit: need perSecond > 0 and burst >= 1, got %v and %d", perSecond, burst)
		}
		s.rate, s.burst = perSecond, burst
		if math.IsInf(perSecond, 1) {
			s.rate, s.burst = 0, 0
		}
		return nil
	}
}

// WithCooldown sets the Cooldown shared by the client's requests after a
// 429 (default: NewCooldown, in memory).
func WithCooldown(c Cooldown) Option {
	return func(s *settings) error {
		if c == nil {
			return configErr("WithCooldown: nil Cooldown")
		}
		s.cooldown = c
		return nil
	}
}

// WithRetry sets how one call retries transient failures: at most max
// retries (default 4; 0 disables them, except the one retry with a new
// token after a 401), waits with full jitter between waitMin and waitMax
// (defaults 500 ms and 30 s), and Retry-After honoured but capped at waitMax.
func WithRetry(max int, waitMin, waitMax time.Duration) Option {
	return func(s *settings) error {
		if max < 0 || waitMin < 0 || waitMax < waitMin {
			return configErr("WithRetry: need max >= 0 and 0 <= waitMin <= waitMax, got %d, %v, %v", max, waitMin, waitMax)
		}
		s.retryMax, s.waitMin, s.waitMax = max, waitMin, waitMax
		return nil
	}
}

// WithLogger sets the logger (default: none). The client logs token
// refreshes and retries at debug/warn level; it never logs the secret, the
// token, query strings or attribute values.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		s.logger = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default "sfmc-go/" and the
// module's Version without its "v", e.g. "sfmc-go/0.1.0").
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		// Control characters (other than tab) are invalid in a header
		// value: every request would fail later.
		if ua == "" || strings.ContainsFunc(ua, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			return configErr("WithUserAgent: empty value or control characters")
		}
		s.userAgent = ua
		return nil
	}
}

// WithTokenRefreshMargin sets how long before expiry the token is refreshed
// (default 60 s). The margin is clamped to half the token's lifetime, so a
// short-lived token is not refreshed on every call.
func WithTokenRefreshMargin(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return configErr("WithTokenRefreshMargin: negative duration %v", d)
		}
		s.margin = d
		return nil
	}
}

// WithMaxResponseBytes caps the size of any response body the client reads
// (default 32 MiB); a longer body fails with ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(s *settings) error {
		if n < 1 {
			return configErr("WithMaxResponseBytes: need n >= 1, got %d", n)
		}
		s.maxBytes = n
		return nil
	}
}

// Client is an SFMC REST client for one tenant and API integration. It is
// safe for concurrent use; create one per integration and share it.
type Client struct {
	// Contacts groups the Contacts API calls.
	Contacts *ContactsService
	// AttributeSets groups the attribute-set definition calls.
	AttributeSets *AttributeSetsService

	cfg        Config
	authURL    string
	restURL    string // explicit REST base, or "" to use the token's
	tokens     *tokenSource
	rc         *retryablehttp.Client // direct calls: retries per WithRetry
	hc         *http.Client          // single attempts (the Upserter's)
	pace       paceLimiter           // the adaptive pace, paid by every attempt
	limiter    Limiter               // a limiter given to WithLimiter, paid too; nil when none
	cooldown   Cooldown
	block      *block
	budget     *retryBudget
	rtt        ewma         // round-trip time of answered attempts
	lastAnswer atomic.Int64 // unix nanoseconds of the last answer from REST
	events     *events
	hooks      *hooks
	redact     redactor
	logger     *slog.Logger
	userAgent  string
	retryMax   int
	waitMax    time.Duration
	maxBytes   int64
	// attemptTimeout bounds one attempt, from sending to the end of the
	// answer (WithHTTPClient's Timeout), not the waits before it.
	attemptTimeout time.Duration
}

// ContactsService groups the Contacts API calls. Get it from Client.Contacts.
type ContactsService struct{ c *Client }

// AttributeSetsService groups the attribute-set definition calls. Get it
// from Client.AttributeSets.
type AttributeSetsService struct{ c *Client }

// NewClient validates cfg and the options and returns a Client. It makes no
// network call: use Verify to check the credentials. Errors match
// ErrInvalidConfig and name the field or option at fault.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	s := settings{
		retryMax:  DefaultRetryMax,
		waitMin:   DefaultRetryWaitMin,
		waitMax:   DefaultRetryWaitMax,
		logger:    slog.New(slog.DiscardHandler),
		userAgent: "sfmc-go/" + userAgentVersion(Version()),
		margin:    DefaultRefreshMargin,
		maxBytes:  DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	if len(cfg.Subdomain) != 28 || !strings.HasPrefix(cfg.Subdomain, "mc") {
		s.logger.Warn("sfmc: subdomain is not the documented 28 characters starting with \"mc\"; using it anyway", slog.String("subdomain", cfg.Subdomain))
	}
	if s.cooldown == nil {
		s.cooldown = NewCooldown()
	}
	var base http.RoundTripper = defaultTransport()
	timeout := DefaultHTTPTimeout
	var jar http.CookieJar
	if s.hc != nil {
		if s.hc.Transport != nil {
			base = s.hc.Transport
		}
		timeout, jar = s.hc.Timeout, s.hc.Jar
	}
	sameHost := func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("%w: stopped after 5 redirects", errRedirect)
		}
		if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
			return fmt.Errorf("%w: from %s to another host %s", errRedirect, via[0].URL.Host, req.URL.Host)
		}
		return nil
	}
	c := &Client{
		cfg:            cfg,
		authURL:        s.authURL,
		restURL:        s.restURL,
		cooldown:       s.cooldown,
		budget:         newRetryBudget(s.budget),
		events:         &events{logger: s.logger},
		hooks:          &hooks{Hooks: s.hooks, logger: s.logger},
		redact:         redactor{secret: cfg.ClientSecret},
		logger:         s.logger,
		userAgent:      s.userAgent,
		retryMax:       s.retryMax,
		waitMax:        s.waitMax,
		maxBytes:       s.maxBytes,
		attemptTimeout: timeout,
	}
	c.block = newBlock(c.cooldown)
	ceiling := math.Inf(1)
	if s.rate > 0 {
		ceiling = s.rate
	}
	switch l := s.limiter.(type) {
	case AdaptiveLimiter:
		c.pace = adaptive{l}
	default:
		c.pace = newPacer(ceiling, s.burst)
		c.limiter = l
	}
	if c.authURL == "" {
		c.authURL = "https://" + cfg.Subdomain + ".auth.marketingcloudapis.com"
	}
	trustAny := s.authURL != "" || s.restURL != ""
	fallbackREST := "https://" + cfg.Subdomain + ".rest.marketingcloudapis.com"
	c.tokens = &tokenSource{
		tokenURL: c.authURL + "/v2/token",
		body:     tokenRequestBody(cfg),
		// The token request has its own timeout (tokenTimeout); the
		// transport's timeout bounds it too.
		hc:       &http.Client{Transport: base, Timeout: timeout, CheckRedirect: sameHost},
		margin:   s.margin,
		maxBytes: s.maxBytes,
		logger:   s.logger,
		ua:       s.userAgent,
		store:    s.store,
		events:   c.events,
		hooks:    c.hooks,
		redact:   c.redact,
		restURL: func(raw string) (string, error) {
			if s.restURL != "" {
				return s.restURL, nil
			}
			rest, err := normalizeInstanceURL(raw, trustAny)
			if err != nil {
				return "", err
			}
			if rest == "" {
				rest = fallbackREST
			}
			return rest, nil
		},
	}
	for _, sh := range []struct {
		source string
		v      any
	}{{"limiter", s.limiter}, {"cool-down", s.cooldown}, {"token store", s.store}} {
		if n, ok := sh.v.(FallbackNotifier); ok {
			source := sh.source
			n.NotifyFallback(func(err error) { c.events.sharedFailure(source, err) })
		}
	}
	// Each attempt's timeout is the transport's own (attemptTimeout), so
	// that the waits for the cool-down, a block and the limiter do not
	// count against it: the http.Clients have none.
	tr := &transport{c: c, base: base}
	c.hc = &http.Client{Transport: tr, Jar: jar, CheckRedirect: sameHost}
	c.rc = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Jar: jar, CheckRedirect: sameHost},
		Logger:       nil,
		RetryWaitMin: s.waitMin,
		RetryWaitMax: s.waitMax,
		RetryMax:     s.retryMax + 1, // +1: the retry with a new token after a 401
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	c.Contacts = &ContactsService{c}
	c.AttributeSets = &AttributeSetsService{c}
	if c.hooks.Pace != nil {
		// The pace the client starts at, so that a gauge has a value
		// before the first change.
		c.hooks.pace(PaceEvent{Rate: c.pace.Rate()})
	}
	return c, nil
}

// defaultTransport is the client's own transport when WithHTTPClient is
// not given: http.DefaultTransport's settings, but keeping up to
// DefaultMaxIdleConnsPerHost idle connections to a host instead of 2, so
// that an Upserter's workers reuse their connections instead of opening
// one per request (measured: about 30% less CPU per contact at 16 workers).
func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	t.MaxIdleConns = max(t.MaxIdleConns, DefaultMaxIdleConnsPerHost)
	return t
}

func validateConfig(cfg Config) error {
	if err := ValidateSubdomain(cfg.Subdomain); err != nil {
		return err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return configErr("ClientID is empty")
	}
	if cfg.ClientSecret == "" {
		return configErr("ClientSecret is required (the API integration's client secret; a Config encoded as JSON leaves it out)")
	}
	for _, r := range cfg.AccountID {
		if r < '0' || r > '9' {
			return configErr("AccountID %q must be the business unit's MID: digits only", truncate(cfg.AccountID, 40))
		}
	}
	for i, sc := range cfg.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return configErr("Scopes[%d] %q must be one non-empty scope without spaces", i, truncate(sc, 60))
		}
	}
	return nil
}

// ValidateSubdomain checks a tenant subdomain: one DNS label (1 to 63
// characters) of lowercase letters, digits and hyphens, not starting or
// ending with a hyphen. Anything else (dots, slashes, "@", ":", "?", "#",
// whitespace, empty) is rejected, which blocks host injection. The error
// matches ErrInvalidConfig and names the offending character.
func ValidateSubdomain(s string) error {
	if s == "" {
		return configErr("Subdomain is empty: use the first label of the package's Auth Base URI (https://SUBDOMAIN.auth.marketingcloudapis.com)")
	}
	if len(s) > 63 {
		return configErr("Subdomain is %d characters long; a DNS label has at most 63", len(s))
	}
	pos := 0
	for _, r := range s { // by rune, so a non-ASCII character is named whole
		pos++
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		case r >= 'A' && r <= 'Z':
			return configErr("Subdomain %q has uppercase letter %q at position %d: SFMC subdomains are lowercase", s, string(r), pos)
		default:
			return configErr("Subdomain %q has character %q at position %d: only lowercase letters, digits and '-' are allowed (the subdomain only, not a URL or host name)", truncate(s, 80), string(r), pos)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return configErr("Subdomain %q must not start or end with '-'", s)
	}
	return nil
}

// String describes the client without secrets.
func (c *Client) String() string {
	if c == nil {
		return "sfmc.Client(nil)"
	}
	return fmt.Sprintf("sfmc.Client{Subdomain:%q, ClientID:%q, AuthURL:%q}", c.cfg.Subdomain, c.cfg.ClientID, c.authURL)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format implements fmt.Formatter so that every verb prints String's
// redacted text, never the fields.
func (c *Client) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// Verify gets a token, as the destination's "Connect to destination" step
// does: nil means the credentials, account and IP allowlist are accepted.
// Errors match ErrInvalidCredentials, ErrIPNotAllowlisted or wrap
// *OAuthError / *APIError.
func (c *Client) Verify(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	_, err := c.tokens.token(ctx)
	return err
}

// errNilContext is returned, rather than panicking, when a nil context is
// passed to a call that does I/O.
var errNilContext = errors.New("sfmc: nil context")

// RESTURL returns the REST base URL the client sends requests to, getting
// a token first when the URL comes from the token answer.
func (c *Client) RESTURL(ctx context.Context) (string, error) {
	if ctx == nil {
		return "", errNilContext
	}
	if c.restURL != "" {
		return c.restURL, nil
	}
	return c.tokens.restBase(ctx)
}

// Invalidate drops the cached token; the next call gets a new one (with a
// TokenStore, a token other than the dropped one: the store's copy of it is
// not reused).
func (c *Client) Invalidate() { c.tokens.invalidate("") }

// TokenSource returns the client's token source as an oauth2.TokenSource:
// cached, refreshed early, one request in flight. Its tokens carry
// "rest_instance_url" in their extra fields.
func (c *Client) TokenSource() oauth2.TokenSource { return c.tokens }

// request describes one REST call going through the client's pipeline.
type request struct {
	method string     // http.MethodGet, http.MethodPatch, ...
	path   string     // path below the REST base, starting with "/", e.g. "/contacts/v1/contacts"
	route  string     // the path's template for Hooks, when it holds an id ("" = path)
	query  url.Values // optional query
	body   []byte     // JSON body or nil; replayed on retries

	// For an Upserter's attempt: the contact's attempts before this one,
	// the contexts of the other Adds merged into it (Hooks), and the
	// context the waits before sending use (the Upserter ends it when it
	// stops: an attempt still waiting for the cool-down then sends nothing).
	attemptBase int
	links       []context.Context
	waitCtx     context.Context
}

// callState follows one call through its attempts; the transport and the
// retry policy share it through the request context. Attempts of one call
// are sequential, so it needs no lock.
type callState struct {
	host    string // REST host: the token goes to no other
	method  string
	route   string
	base    int // attempts made before this call (an Upserter's contact)
	links   []context.Context
	waitCtx context.Context // for the waits before sending; nil: the request's

	// The last attempt.
	token      string        // access token it carried
	class      answerClass   // how the policy classified it
	code       int           // SFMC errorcode of a 429/503 answer
	retryAfter time.Duration // the wait SFMC asked for, uncapped (0: none)
	sent       bool          // the request was handed to the network

	// The whole call.
	attempts    int  // HTTP requests sent
	throttled   int  // 429 answers
	retries     int  // retries other than the one after a 401
	authRetried bool // the retry with a new token after a 401 is used
	unanswered  bool // an attempt was sent and got no answer: SFMC may have applied it
}

type callStateKey struct{}

// prepare builds the URL and the call state of r.
func (c *Client) prepare(ctx context.Context, r request) (u, clean string, st *callState, err error) {
	base, err := c.RESTURL(ctx)
	if err != nil {
		return "", "", nil, err
	}
	clean = base + r.path
	u = clean
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	host := base
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	route := r.route
	if route == "" {
		route = r.path
	}
	return u, clean, &callState{host: host, method: r.method, route: route, base: r.attemptBase, links: r.links, waitCtx: r.waitCtx}, nil
}

func (c *Client) setHeaders(h http.Header, r request) {
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	if r.body != nil {
		h.Set("Content-Type", "application/json")
	}
}

// do sends r through the pipeline — build URL → cool-down → block probe →
// limiter → token → send, retrying as WithRetry and the policy (retry.go)
// allow — and returns the size-limited body of a 2xx answer, or a typed
// error: *APIError, *RateLimitError, *OAuthError (or one matching
// ErrInvalidCredentials / ErrIPNotAllowlisted), ErrClientRateLimited, a
// context error or a transport error.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	u, clean, st, err := c.prepare(ctx, r)
	if err != nil {
		return nil, err
	}
	var rawBody any
	if r.body != nil {
		rawBody = r.body
	}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, callStateKey{}, st), r.method, u, rawBody)
	if err != nil {
		return nil, fmt.Errorf("sfmc: %s %s: %w", r.method, clean, err)
	}
	c.setHeaders(req.Header, r)
	start := time.Now()
	resp, err := c.rc.Do(req)
	return c.finish(ctx, r.method, clean, st, resp, err, start)
}

// attempt sends r exactly once through the same pipeline as do (no
// retries: the Upserter owns its contacts' budgets) and returns the body or
// the typed error with the call state, whose class says what the policy
// makes of it.
func (c *Client) attempt(ctx context.Context, r request) ([]byte, *callState, error) {
	u, clean, st, err := c.prepare(ctx, r)
	if err != nil {
		return nil, &callState{class: classifyError(ctx, &tokenError{err}, false)}, err
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, callStateKey{}, st), r.method, u, body)
	if err != nil {
		st.class = classPermanent
		return nil, st, fmt.Errorf("sfmc: %s %s: %w", r.method, clean, err)
	}
	c.setHeaders(req.Header, r)
	start := time.Now()
	resp, err := c.hc.Do(req)
	out, err := c.finish(ctx, r.method, clean, st, resp, err, start)
	return out, st, err
}

// finish reads the answer of a call (or of one attempt), turns it into the
// body or a typed error, redacts the client's secrets from server text, and
// logs the call.
func (c *Client) finish(ctx context.Context, method, clean string, st *callState, resp *http.Response, err error, start time.Time) ([]byte, error) {
	if err != nil {
		if resp != nil {
			// The passthrough error handler hands back the last answer
			// with the error (e.g. the context ended as it arrived).
			resp.Body.Close()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		c.logCall(ctx, method, clean, 0, st.attempts, start, err)
		if st.unanswered && method != http.MethodGet {
			return nil, fmt.Errorf("sfmc: %s %s: %w (%w)", method, clean, err, ErrOutcomeUnknown)
		}
		return nil, fmt.Errorf("sfmc: %s %s: %w", method, clean, err)
	}
	defer resp.Body.Close()
	body, err := httpx.ReadLimited(resp.Body, resp.ContentLength, c.maxBytes)
	if err != nil {
		if errors.Is(err, httpx.ErrTooLarge) {
			err = fmt.Errorf("%w (limit %d bytes)", ErrResponseTooLarge, c.maxBytes)
			st.class = classPermanent
		} else {
			// The answer broke off: SFMC may have applied the request.
			st.class = classUnanswered
			st.unanswered = true
		}
		c.logCall(ctx, method, clean, resp.StatusCode, st.attempts, start, err)
		return nil, fmt.Errorf("sfmc: %s %s: reading answer (HTTP %d): %w", method, clean, resp.StatusCode, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		c.logCall(ctx, method, clean, resp.StatusCode, st.attempts, start, nil)
		return body, nil
	}
	body = c.redact.body(body, st.token)
	apiErr := decodeAPIError(resp.StatusCode, method, clean, body, resp.Header.Get("X-Request-Id"), st.retryAfter)
	if st.class == classRejected {
		apiErr = &rejectedError{apiErr}
	}
	c.logCall(ctx, method, clean, resp.StatusCode, st.attempts, start, apiErr)
	if st.unanswered && method != http.MethodGet {
		// This answer is not the whole story: an earlier attempt was sent
		// and never answered, and SFMC may have applied it.
		return nil, fmt.Errorf("%w (%w)", apiErr, ErrOutcomeUnknown)
	}
	return nil, apiErr
}

// rejectedError is a REST 401 that came on a token fetched to replace a
// rejected one: the integration itself is refused (revoked, disabled, or
// without the scopes the route needs), and no new token helps. It matches
// ErrUnauthorized and reaches the *APIError.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string {
	return e.err.Error() + " — a new token was refused too: the API integration is rejected (revoked, disabled, or without the scopes list_and_subscribers_read and list_and_subscribers_write)"
}

func (e *rejectedError) Unwrap() error { return e.err }

func (c *Client) logCall(ctx context.Context, method, path string, status, attempts int, start time.Time, err error) {
	level := slog.LevelDebug
	if err != nil || status >= 400 || attempts > 1 {
		level = slog.LevelInfo
	}
	if !c.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", method), slog.String("url", path), slog.Int("status", status),
		slog.Int("attempts", attempts), slog.Duration("elapsed", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, level, "sfmc: request", attrs...)
}

// transport adds the pipeline's per-attempt steps in front of the base
// RoundTripper: cool-down, block probe, pacer and limiter, token, the
// attempt's own timeout, and the classification of the answer, which it
// reports to the pacer, the block and the retry budget. It adds the token
// only to requests for the REST host of the call.
type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil || req.URL.Host != st.host {
		// Not a call of this client's (or, should sameHost ever let a
		// redirect through, another host): no token, no pipeline. A
		// second guard behind sameHost, so the token never leaves the
		// REST host.
		return t.base.RoundTrip(req)
	}
	c := t.c
	st.sent, st.code, st.retryAfter, st.token = false, 0, 0, ""
	resp, probe, err := t.send(ctx, req, st)
	if err != nil {
		st.class = classifyError(ctx, err, st.sent)
		if st.class == classUnanswered {
			st.unanswered = true
		}
		if st.sent {
			c.observe(st, probe, 0)
		} else if probe {
			c.block.answered(true, classNotSent, 0)
		}
		return nil, err
	}
	return resp, nil
}

// send waits for the pipeline's gates, gets the token and sends one attempt.
func (t *transport) send(ctx context.Context, req *http.Request, st *callState) (*http.Response, bool, error) {
	c := t.c
	wctx := ctx
	if st.waitCtx != nil {
		wctx = st.waitCtx
	}
	stopped := func(err error) error {
		if ctx.Err() == nil && wctx.Err() != nil {
			return errUpserterStopped
		}
		return err
	}
	if err := c.cooldown.Wait(wctx); err != nil {
		return nil, false, stopped(err)
	}
	probe, err := c.block.admit(wctx)
	if err != nil {
		return nil, false, stopped(err)
	}
	if err := c.pace.Wait(wctx); err != nil {
		return nil, probe, stopped(limiterError(wctx, err))
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(wctx); err != nil {
			return nil, probe, stopped(limiterError(wctx, err))
		}
	}
	tok, err := c.tokens.token(wctx)
	if err != nil {
		return nil, probe, stopped(&tokenError{err})
	}
	st.token = tok.AccessToken
	st.attempts++
	r2 := new(http.Request)
	*r2 = *req
	r2.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r2.Header[k] = v
	}
	r2.Header["Authorization"] = []string{"Bearer " + tok.AccessToken}
	info := Attempt{Method: st.method, Route: st.route, Host: st.host, Number: st.base + st.attempts, Links: st.links}
	hctx := c.hooks.attemptStart(ctx, info)
	actx := hctx
	cancel := context.CancelFunc(func() {})
	if c.attemptTimeout > 0 {
		actx, cancel = context.WithTimeout(hctx, c.attemptTimeout)
	}
	if actx != ctx {
		r2 = r2.WithContext(actx)
	}
	st.sent = true
	sentAt := time.Now()
	resp, err := t.base.RoundTrip(r2)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w: no answer within %v", errAttemptTimeout, c.attemptTimeout)
		}
		if c.hooks.AttemptDone != nil {
			c.hooks.attemptDone(hctx, info, AttemptResult{Class: classifyError(ctx, err, true).String(), Err: err, Duration: time.Since(sentAt)})
		}
		return nil, probe, err
	}
	latency := time.Since(sentAt)
	defer func() {
		if c.hooks.AttemptDone != nil {
			c.hooks.attemptDone(hctx, info, AttemptResult{StatusCode: resp.StatusCode, ErrorCode: st.code, Class: st.class.String(), Duration: latency})
		}
	}()
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	st.class = classifyStatus(resp.StatusCode, 0)
	switch st.class {
	case classThrottled, classBusy:
		if err := t.readThrottle(resp, st); err != nil {
			cancel()
			return nil, probe, err
		}
		st.class = classifyStatus(resp.StatusCode, st.code)
		if st.class == classThrottled {
			st.throttled++
			if ra, ok := cappedRetryAfter(resp.Header.Get("Retry-After"), c.waitMax); ok && ra > 0 {
				c.cooldown.Extend(time.Now().Add(ra))
				if c.hooks.Pace != nil {
					_, blocked := c.block.current()
					c.hooks.pace(PaceEvent{Rate: c.pace.Rate(), Cooldown: ra, Blocked: blocked})
				}
			}
		}
		if st.class == classBlocked {
			st.throttled++
		}
	case classAuth:
		if c.tokens.reject(st.token) {
			st.class = classRejected
		}
	case classOK:
		c.tokens.accepted(st.token)
	}
	c.observe(st, probe, latency)
	return resp, false, nil
}

// readThrottle reads the (small) body of a 429 or 503 for its errorcode and
// retryAfter, puts the body back, and records the wait SFMC asked for.
func (t *transport) readThrottle(resp *http.Response, st *callState) error {
	body, err := httpx.ReadLimited(resp.Body, -1, 64<<10)
	resp.Body.Close()
	if err != nil && !errors.Is(err, httpx.ErrTooLarge) {
		return err
	}
	resp.Body = readCloser{strings.NewReader(string(body))}
	resp.ContentLength = int64(len(body))
	var w wireError
	_ = jsonUnmarshalLenient(body, &w)
	st.code = w.code()
	raw := resp.Header.Get("Retry-After")
	if _, ok := httpx.ParseRetryAfter(raw, time.Now(), 0); !ok && w.RetryAfter != nil {
		// Pass SFMC's own value on: the retry waits read the header.
		raw = strconv.FormatFloat(*w.RetryAfter, 'f', -1, 64)
		resp.Header = resp.Header.Clone()
		resp.Header.Set("Retry-After", raw)
	}
	st.retryAfter, _ = httpx.ParseRetryAfter(raw, time.Now(), 0)
	return nil
}

// observe reports an attempt's answer to the pacer, the round-trip
// estimate, the retry budget and the block, and publishes a new block
// episode.
func (c *Client) observe(st *callState, probe bool, latency time.Duration) {
	if latency > 0 {
		c.rtt.observe(latency)
		c.lastAnswer.Store(time.Now().UnixNano())
	}
	watch := c.hooks.Pace != nil
	var before float64
	var wasBlocked bool
	if watch {
		before = c.pace.Rate()
		_, wasBlocked = c.block.current()
	}
	c.pace.observe(st.class, c.rtt.get())
	if st.class == classOK {
		c.budget.success()
	}
	if ep, started := c.block.answered(probe, st.class, st.retryAfter); started {
		c.events.publish(event{kind: AlertBlocked, episode: ep,
			err: fmt.Errorf("%w: pausing every request", ErrBlocked)})
	}
	if watch {
		after := c.pace.Rate()
		_, blocked := c.block.current()
		if after != before || blocked != wasBlocked {
			ev := PaceEvent{Rate: after, Blocked: blocked}
			if blocked && !wasBlocked {
				ev.Cooldown = c.cooldownLeft()
			}
			c.hooks.pace(ev)
		}
	}
}

// cooldownLeft is what is left of the client's in-memory cool-down (0 for
// a shared one, which it cannot read cheaply).
func (c *Client) cooldownLeft() time.Duration {
	if m, ok := c.cooldown.(*memCooldown); ok {
		return max(time.Until(time.Unix(0, m.until.Load())), 0)
	}
	return 0
}

// errAttemptTimeout marks an attempt cut off by the client's own timeout
// (WithHTTPClient's Timeout): the request was sent and got no answer in
// time; it is retried like a dropped connection.
var errAttemptTimeout = errors.New("sfmc: attempt timed out")

// cancelBody ends an attempt's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// cappedRetryAfter parses a Retry-After value capped at max, where a max
// of zero caps at zero (httpx.ParseRetryAfter treats 0 as "no cap", which
// let WithRetry(n, 0, 0) wait, and pause the whole client, for as long as
// the server asked).
func cappedRetryAfter(v string, max time.Duration) (time.Duration, bool) {
	ra, ok := httpx.ParseRetryAfter(v, time.Now(), max)
	if max <= 0 {
		ra = 0
	}
	return ra, ok
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// checkRetry is the retry policy of direct calls (retryablehttp.CheckRetry):
// the class the transport gave the attempt, retryable for the method, within
// WithRetry's count. A 401 is retried once with a new token (not counted),
// unless it came on a replacement token. A 50200 block is not retried by a
// direct call: it returns ErrBlocked (the client still pauses, see block.go).
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil {
		return false, err
	}
	switch st.class {
	case classAuth:
		if st.authRetried {
			return false, nil
		}
		st.authRetried = true
		return true, nil
	case classBlocked:
		return false, nil
	}
	if !retryable(st.class, st.method) || st.retries >= c.retryMax {
		return false, nil
	}
	st.retries++
	return true, nil
}

// backoff is the wait before a retry of a direct call
// (retryablehttp.Backoff): none after a 401 (a new token is all it needs),
// else the policy's backoffWait (Retry-After capped at max, or equal jitter
// growing from min), and at least what the retry budget asks.
func (c *Client) backoff(waitMin, waitMax time.Duration, attempt int, resp *http.Response) time.Duration {
	var ra time.Duration
	if resp != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return 0
		}
		if resp.StatusCode == 429 || resp.StatusCode == 503 {
			ra, _ = cappedRetryAfter(resp.Header.Get("Retry-After"), waitMax)
		}
	}
	return max(backoffWait(attempt+1, waitMin, waitMax, ra), c.budget.reserve())
}

func httpStatusText(code int) string { return http.StatusText(code) }
