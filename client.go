package sfmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sfmc-go/sfmc/internal/httpx"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
)

// Version is the SDK version, sent in the default User-Agent.
const Version = "0.1.0"

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
// Package's server-to-server component). Its String, GoString and LogValue
// methods redact ClientSecret, so printing or logging a Config is safe.
type Config struct {
	// Subdomain is the tenant subdomain: the first DNS label of the
	// package's Auth Base URI, e.g. "mcq4jrssqdlyc4lph19nnqgzzs84". It must
	// be one DNS label of lowercase letters, digits and hyphens. SFMC
	// documents 28 characters starting with "mc"; other values are
	// accepted (real tenants vary) with a warning through the logger.
	Subdomain string
	// ClientID and ClientSecret are the API integration's credentials.
	ClientID     string
	ClientSecret string
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

// MarshalJSON encodes the Config with the secret redacted, so a Config
// inside a value logged by a JSON handler (or otherwise encoded) does not
// leak it.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // without methods: no recursion
	p := plain(c)
	if p.ClientSecret != "" {
		p.ClientSecret = redacted
	}
	return json.Marshal(p)
}

// Option configures a Client. Options are applied in order to a copy of
// the defaults; an option given a bad value makes NewClient fail with an
// error matching ErrInvalidConfig.
type Option func(*settings) error

type settings struct {
	hc               *http.Client
	authURL, restURL string
	limiter          Limiter
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

// WithLimiter sets the client-side Limiter, paid once per HTTP attempt
// (retries included). Use it to share one limiter between clients.
func WithLimiter(l Limiter) Option {
	return func(s *settings) error {
		if l == nil {
			return configErr("WithLimiter: nil Limiter")
		}
		s.limiter = l
		return nil
	}
}

// WithRateLimit sets the default Limiter to perSecond requests per second
// with the given burst (rate.Inf, the default, means no client-side limit).
// To run close to a tenant limit R, use a rate just under R and a burst of
// a few requests: with a burst of 1, every timer that fires late is
// throughput lost for good (measured: ~92% of R with burst 1, ~99% with 5).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(s *settings) error {
		if !(perSecond > 0) || burst < 1 {
			return configErr("WithRateLimit: need perSecond > 0 and burst >= 1, got %v and %d", perSecond, burst)
		}
		s.limiter = NewRateLimiter(perSecond, burst)
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

// WithUserAgent sets the User-Agent header (default "sfmc-go/" + Version).
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

	cfg       Config
	authURL   string
	restURL   string // explicit REST base, or "" to use the token's
	tokens    *tokenSource
	rc        *retryablehttp.Client
	limiter   Limiter
	cooldown  Cooldown
	fallbacks *fallbacks
	logger    *slog.Logger
	userAgent string
	retryMax  int
	waitMax   time.Duration
	maxBytes  int64
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
		userAgent: "sfmc-go/" + Version,
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
	if s.limiter == nil {
		s.limiter = NewRateLimiter(float64(rate.Inf), 1)
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
			return errors.New("sfmc: stopped after 5 redirects")
		}
		if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
			return fmt.Errorf("sfmc: refusing redirect from %s to another host %s", via[0].URL.Host, req.URL.Host)
		}
		return nil
	}
	c := &Client{
		cfg:       cfg,
		authURL:   s.authURL,
		restURL:   s.restURL,
		limiter:   s.limiter,
		cooldown:  s.cooldown,
		fallbacks: &fallbacks{logger: s.logger},
		logger:    s.logger,
		userAgent: s.userAgent,
		retryMax:  s.retryMax,
		waitMax:   s.waitMax,
		maxBytes:  s.maxBytes,
	}
	if c.authURL == "" {
		c.authURL = "https://" + cfg.Subdomain + ".auth.marketingcloudapis.com"
	}
	trustAny := s.authURL != "" || s.restURL != ""
	fallbackREST := "https://" + cfg.Subdomain + ".rest.marketingcloudapis.com"
	c.tokens = &tokenSource{
		tokenURL:  c.authURL + "/v2/token",
		body:      tokenRequestBody(cfg),
		hc:        &http.Client{Transport: base, Timeout: timeout, CheckRedirect: sameHost},
		margin:    s.margin,
		maxBytes:  s.maxBytes,
		logger:    s.logger,
		ua:        s.userAgent,
		store:     s.store,
		fallbacks: c.fallbacks,
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
			n.NotifyFallback(func(err error) { c.fallbacks.report(source, err) })
		}
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: &transport{c: c, base: base}, Timeout: timeout, Jar: jar, CheckRedirect: sameHost},
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
		return configErr("ClientSecret is empty")
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
	query  url.Values // optional query
	body   []byte     // JSON body or nil; replayed on retries
}

// callState follows one call through its attempts; the transport and the
// retry policy share it through the request context.
type callState struct {
	host       string // REST host: the token goes to no other
	method     string
	token      string // access token of the last attempt
	retried    bool   // the 401 retry has been used
	retries    int    // other retries so far
	lastCode   int    // errorcode of the last 429/503 answer
	attempts   int
	throttled  int  // 429 answers seen
	unanswered bool // an attempt was sent and got no answer
}

type callStateKey struct{}

// CallStats reports what happened inside one call.
type callStats struct {
	Attempts  int
	Throttled int
	// Unanswered reports that an attempt was sent and got no answer
	// (dropped connection, timeout): SFMC may have applied it.
	Unanswered bool
}

type callStatsKey struct{}

// withCallStats returns a context under which do records its attempts and
// 429s into st (used by the Upserter's Stats).
func withCallStats(ctx context.Context, st *callStats) context.Context {
	return context.WithValue(ctx, callStatsKey{}, st)
}

// do sends r through the pipeline — build URL → cool-down → limiter → token
// → send, with retries — and returns the size-limited body of a 2xx answer,
// or a typed error: *APIError, *RateLimitError, *OAuthError (or one matching
// ErrInvalidCredentials / ErrIPNotAllowlisted), ErrClientRateLimited, a
// context error or a transport error.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	base, err := c.RESTURL(ctx)
	if err != nil {
		return nil, err
	}
	clean := base + r.path
	u := clean
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
	st := &callState{host: host, method: r.method}
	ctx = context.WithValue(ctx, callStateKey{}, st)
	var rawBody any
	if r.body != nil {
		rawBody = r.body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, u, rawBody)
	if err != nil {
		return nil, fmt.Errorf("sfmc: %s %s: %w", r.method, clean, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.rc.Do(req)
	if cs, ok := ctx.Value(callStatsKey{}).(*callStats); ok {
		cs.Attempts += st.attempts
		cs.Throttled += st.throttled
		cs.Unanswered = cs.Unanswered || st.unanswered
	}
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
		c.logCall(ctx, r.method, clean, 0, st.attempts, start, err)
		if st.unanswered && r.method != http.MethodGet {
			return nil, fmt.Errorf("sfmc: %s %s: %w (%w)", r.method, clean, err, ErrOutcomeUnknown)
		}
		return nil, fmt.Errorf("sfmc: %s %s: %w", r.method, clean, err)
	}
	defer resp.Body.Close()
	body, err := httpx.ReadLimited(resp.Body, resp.ContentLength, c.maxBytes)
	c.logCall(ctx, r.method, clean, resp.StatusCode, st.attempts, start, err)
	if err != nil {
		if errors.Is(err, httpx.ErrTooLarge) {
			err = fmt.Errorf("%w (limit %d bytes)", ErrResponseTooLarge, c.maxBytes)
		}
		return nil, fmt.Errorf("sfmc: %s %s: reading answer (HTTP %d): %w", r.method, clean, resp.StatusCode, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, nil
	}
	// The error reports the wait SFMC asked for, uncapped (see
	// RateLimitError.RetryAfter); only the client's own waits are capped.
	ra, _ := httpx.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), 0)
	apiErr := decodeAPIError(resp.StatusCode, r.method, clean, body, resp.Header.Get("X-Request-Id"), ra)
	if st.unanswered && r.method != http.MethodGet {
		// This answer is not the whole story: an earlier attempt was sent
		// and never answered, and SFMC may have applied it.
		return nil, fmt.Errorf("%w (%w)", apiErr, ErrOutcomeUnknown)
	}
	return nil, apiErr
}

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
// RoundTripper: cool-down, limiter, token. It adds the token only to
// requests for the REST host of the call.
type transport struct {
	c    *Client
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil || req.URL.Host != st.host {
		return t.base.RoundTrip(req)
	}
	if err := t.c.cooldown.Wait(ctx); err != nil {
		return nil, err
	}
	if err := t.c.limiter.Wait(ctx); err != nil {
		return nil, limiterError(ctx, err)
	}
	tok, err := t.c.tokens.token(ctx)
	if err != nil {
		return nil, err
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
	resp, err := t.base.RoundTrip(r2)
	if err != nil && !dialErr(err) {
		st.unanswered = true
	}
	if err != nil || (resp.StatusCode != 429 && resp.StatusCode != 503) {
		return resp, err
	}
	// Throttled: read the (small) body for errorcode and retryAfter, put
	// the body back, and start the shared cool-down.
	body, rerr := httpx.ReadLimited(resp.Body, -1, 64<<10)
	resp.Body.Close()
	if rerr != nil {
		body = nil
	}
	resp.Body = readCloser{strings.NewReader(string(body))}
	resp.ContentLength = int64(len(body))
	var w wireError
	_ = jsonUnmarshalLenient(body, &w)
	st.lastCode = w.code()
	ra, ok := cappedRetryAfter(resp.Header.Get("Retry-After"), t.c.waitMax)
	if !ok && w.RetryAfter != nil {
		v := strconv.FormatFloat(*w.RetryAfter, 'f', -1, 64)
		ra, ok = cappedRetryAfter(v, t.c.waitMax)
		if ok {
			// Pass SFMC's own value on (backoff caps it; the error
			// reports it as asked).
			resp.Header = resp.Header.Clone()
			resp.Header.Set("Retry-After", v)
		}
	}
	if resp.StatusCode == 429 {
		st.throttled++
		if ok && ra > 0 && st.lastCode != 50200 {
			t.c.cooldown.Extend(time.Now().Add(ra))
		}
	}
	return resp, nil
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

// idempotent reports whether a method may be retried after an answer that
// does not say the request was not processed.
func idempotent(method string) bool {
	return method != http.MethodPost
}

// checkRetry is the retry policy (retryablehttp.CheckRetry).
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil {
		return false, err
	}
	retry := func() (bool, error) {
		if st.retries >= c.retryMax {
			return false, nil
		}
		st.retries++
		return true, nil
	}
	if err != nil {
		if !transientErr(err) {
			return false, nil
		}
		if idempotent(st.method) || dialErr(err) {
			return retry()
		}
		return false, nil
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if !st.retried {
			st.retried = true
			c.tokens.invalidate(st.token)
			return true, nil
		}
	case http.StatusTooManyRequests:
		if st.lastCode != 50200 {
			return retry()
		}
	case http.StatusServiceUnavailable:
		return retry()
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		if idempotent(st.method) {
			return retry()
		}
	}
	return false, nil
}

// transientErr reports whether an error from an attempt (transport or
// token) may go away on retry.
func transientErr(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrClientRateLimited) || errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) { // from the token endpoint
		return ae.StatusCode >= 500 || (ae.StatusCode == 429 && ae.Code != 50200)
	}
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "redirect") {
		return false
	}
	return true
}

// dialErr reports whether the request never reached the server, so even a
// POST may be retried.
func dialErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// backoff is the wait before a retry (retryablehttp.Backoff): none after a
// 401 (a new token is all it needs), Retry-After when the server gave one
// (capped at max), else full jitter up to min·2^attempt capped at max.
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return 0
		}
		if resp.StatusCode == 429 || resp.StatusCode == 503 {
			if ra, ok := cappedRetryAfter(resp.Header.Get("Retry-After"), max); ok {
				return ra
			}
		}
	}
	ceil := min
	for i := 0; i < attempt && ceil < max; i++ {
		if ceil > max/2 { // doubling would pass max, or overflow
			ceil = max
			break
		}
		ceil *= 2
	}
	if ceil > max {
		ceil = max
	}
	if ceil <= 0 {
		return 0
	}
	if ceil == math.MaxInt64 {
		return rand.N(ceil) // ceil+1 would overflow and make rand.N panic
	}
	return rand.N(ceil + 1)
}

func httpStatusText(code int) string { return http.StatusText(code) }
