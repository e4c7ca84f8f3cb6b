package sfmc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfmc-go/sfmc/internal/httpx"
	"golang.org/x/oauth2"
)

const (
	// defaultExpiresIn is assumed when a token answer has no usable
	// expires_in: SFMC documents about 1080 s.
	defaultExpiresIn = 1080 * time.Second
	// maxTokenLifetime bounds a token answer's expires_in, so an absurd
	// value cannot overflow time.Duration into an already-expired token
	// (which made every call fetch a new one).
	maxTokenLifetime = 24 * time.Hour
	// tokenTimeout bounds one token request. The refresh runs with its own
	// background context, never a caller's, so one caller giving up does
	// not fail the refresh the others wait for.
	tokenTimeout = 30 * time.Second
	// failureSpacing spaces token attempts after a failure: callers that
	// arrive within it share the last failure instead of asking again
	// (at most about 2 attempts per second).
	failureSpacing = 500 * time.Millisecond
	// extraRESTURL is the oauth2.Token extra field holding the REST base.
	extraRESTURL = "rest_instance_url"
	// rejectionHold is how long after a confirmed rejection (a 401 on a
	// token fetched to replace one REST had just rejected) every REST 401
	// is final at once, without asking for yet another token. SFMC asks
	// for about one token per 20 minutes; after the hold, one more 401
	// costs one more token request, so a long-running process recovers by
	// itself once the integration is fixed.
	rejectionHold = time.Minute
)

// tokenSource fetches, caches and refreshes the client-credentials token.
// At most one token request is in flight at a time, however many
// goroutines ask; they all get its result, success or failure.
type tokenSource struct {
	tokenURL string
	body     []byte // JSON request body; holds the secret, never logged
	hc       *http.Client
	margin   time.Duration
	maxBytes int64
	// restURL returns the REST base to use for a token's rest_instance_url
	// ("" when the answer gives none).
	restURL func(raw string) (string, error)
	logger  *slog.Logger
	ua      string
	// store, when set, shares the token with other clients (fleet mode);
	// events hears about its failures.
	store  TokenStore
	events *events
	hooks  *hooks

	mu        sync.Mutex
	tok       *oauth2.Token
	rest      string
	refreshAt time.Time
	inflight  *refreshCall
	lastErr   error
	lastFail  time.Time
	rejected  string // the access token last invalidated (401): never reloaded from the store

	// A REST 401 drops the token it came with and marks the next token a
	// replacement. A 401 on the replacement confirms that the integration
	// itself is rejected (revoked, mis-scoped): see reject.
	wantReplacement bool
	replacement     string    // the replacement token while it is unproven
	rejectedUntil   time.Time // 401s are final until then
	hasReplacement  atomic.Bool
	redact          redactor
}

type refreshCall struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// String describes the token source without the secret or the token.
func (ts *tokenSource) String() string { return "sfmc.TokenSource{" + ts.tokenURL + "}" }

// GoString is String, for %#v.
func (ts *tokenSource) GoString() string { return ts.String() }

// Format prints String's redacted text for every verb, so that printing
// Client.TokenSource() never shows the request body with the secret.
func (ts *tokenSource) Format(f fmt.State, verb rune) { fmt.Fprint(f, ts.String()) }

// Token returns a valid token, fetching one when needed. It implements
// oauth2.TokenSource (with a background context).
func (ts *tokenSource) Token() (*oauth2.Token, error) {
	return ts.token(context.Background())
}

// token returns a valid token and the REST base it came with. A caller
// whose ctx ends while waiting gets ctx.Err(); the refresh goes on for the
// others.
func (ts *tokenSource) token(ctx context.Context) (*oauth2.Token, error) {
	now := time.Now()
	ts.mu.Lock()
	tok := ts.tok
	if tok != nil && now.Before(ts.refreshAt) {
		ts.mu.Unlock()
		return tok, nil
	}
	call := ts.inflight
	if call == nil {
		if ts.lastErr != nil && now.Sub(ts.lastFail) < failureSpacing {
			err := ts.lastErr
			ts.mu.Unlock()
			if tok != nil && now.Before(tok.Expiry) {
				return tok, nil
			}
			return nil, err
		}
		call = &refreshCall{done: make(chan struct{})}
		ts.inflight = call
		go ts.refresh(call)
	}
	ts.mu.Unlock()
	// Inside the refresh margin the current token is still good:
	// use it while the refresh runs in the background.
	if tok != nil && now.Before(tok.Expiry) {
		return tok, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-call.done:
		// The refresh's own result, even if it is already inside its
		// margin (a very short expires_in): looping instead would
		// refresh again and again.
		return call.tok, call.err
	}
}

// refresh performs one token request and publishes its result.
func (ts *tokenSource) refresh(call *refreshCall) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	start := time.Now()
	ts.mu.Lock()
	rejected := ts.rejected
	ts.mu.Unlock()
	var fromStore bool
	tok, rest, err := ts.obtain(ctx, rejected, &fromStore)
	ts.mu.Lock()
	if err != nil {
		ts.lastErr, ts.lastFail = err, time.Now()
	} else {
		ts.tok, ts.rest, ts.refreshAt = tok, rest, ts.refreshTime(tok, start)
		ts.lastErr = nil
		if ts.wantReplacement {
			ts.wantReplacement = false
			ts.replacement = tok.AccessToken
			ts.hasReplacement.Store(true)
		}
	}
	ts.inflight = nil
	call.tok, call.err = tok, err
	ts.mu.Unlock()
	close(call.done)
	if err != nil {
		ts.logger.LogAttrs(ctx, slog.LevelWarn, "sfmc: token request failed", slog.String("error", err.Error()))
	} else {
		ts.logger.LogAttrs(ctx, slog.LevelDebug, "sfmc: token obtained", slog.Duration("expires_in", tok.Expiry.Sub(start).Round(time.Second)))
	}
	if ts.hooks != nil {
		ts.hooks.token(ctx, TokenEvent{Duration: time.Since(start), Err: err, FromStore: fromStore})
	}
}

// refreshTime is when tok is due for a refresh: the margin before its
// expiry, clamped to half its lifetime. A token fetched at start lived
// from then; a stored one says its lifetime in ExpiresIn.
func (ts *tokenSource) refreshTime(tok *oauth2.Token, start time.Time) time.Time {
	lifetime := tok.Expiry.Sub(start)
	if tok.ExpiresIn > 0 && time.Duration(tok.ExpiresIn)*time.Second > lifetime {
		lifetime = time.Duration(tok.ExpiresIn) * time.Second
	}
	margin := min(ts.margin, lifetime/2)
	return tok.Expiry.Add(-margin)
}

// obtain gets a new token: from the TokenStore when there is one (see
// TokenStore for the protocol), else, or when the store fails, from the
// token endpoint.
// fromStore is set when the token came from the store.
func (ts *tokenSource) obtain(ctx context.Context, rejected string, fromStore *bool) (*oauth2.Token, string, error) {
	if ts.store == nil {
		return ts.fetch(ctx)
	}
	fail := func(op string, err error) (*oauth2.Token, string, error) {
		ts.events.sharedFailure("token store", fmt.Errorf("%w: token store %s: %w", ErrSharedStateUnavailable, op, err))
		return ts.fetch(ctx)
	}
	leased := false
	defer func() {
		if leased {
			if _, err := storeCall(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, ts.store.Release(ctx) }); err != nil {
				ts.events.sharedFailure("token store", fmt.Errorf("%w: token store release: %w", ErrSharedStateUnavailable, err))
			}
		}
	}()
	deadline := time.Now().Add(tokenLeaseWait)
	for {
		tok, rest, err := ts.load(ctx, rejected)
		if err != nil {
			return fail("load", err)
		}
		if tok != nil {
			*fromStore = true
			return tok, rest, nil
		}
		got, err := storeCall(ctx, func(ctx context.Context) (bool, error) { return ts.store.Lease(ctx, tokenLeaseTTL) })
		if err != nil {
			return fail("lease", err)
		}
		if got {
			leased = true
			// Another client may have stored a token between the Load
			// and the Lease.
			if tok, rest, err := ts.load(ctx, rejected); err == nil && tok != nil {
				*fromStore = true
				return tok, rest, nil
			}
			tok, rest, err := ts.fetch(ctx)
			if err != nil {
				return nil, "", err
			}
			if _, err := storeCall(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, ts.store.Store(ctx, tok) }); err != nil {
				ts.events.sharedFailure("token store", fmt.Errorf("%w: token store save: %w", ErrSharedStateUnavailable, err))
			}
			return tok, rest, nil
		}
		// Another client is refreshing: wait for its token.
		if !time.Now().Before(deadline) {
			ts.logger.LogAttrs(ctx, slog.LevelWarn, "sfmc: no token from the token store in time; fetching one",
				slog.Duration("waited", tokenLeaseWait))
			return ts.fetch(ctx)
		}
		t := time.NewTimer(tokenPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", fmt.Errorf("sfmc: waiting for the shared token: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// load returns the stored token when it is usable: valid beyond the
// refresh margin and not the token rejected with a 401. Its REST base goes
// through the same checks as a fetched token's.
func (ts *tokenSource) load(ctx context.Context, rejected string) (*oauth2.Token, string, error) {
	tok, err := storeCall(ctx, ts.store.Load)
	if err != nil || tok == nil || tok.AccessToken == "" {
		return nil, "", err
	}
	if tok.AccessToken == rejected || !time.Now().Before(ts.refreshTime(tok, time.Now())) {
		return nil, "", nil
	}
	raw, _ := tok.Extra(extraRESTURL).(string)
	rest, err := ts.restURL(raw)
	if err != nil {
		return nil, "", nil // unusable: fetch a new one
	}
	return tok, rest, nil
}

// invalidate drops the cached token. With old non-empty it drops it only
// when it is still that token, so many goroutines seeing 401 for the same
// token cause one refresh, not many.
func (ts *tokenSource) invalidate(old string) {
	ts.mu.Lock()
	if old != "" {
		ts.rejected = old
	}
	if ts.tok != nil && (old == "" || ts.tok.AccessToken == old) {
		ts.rejected = ts.tok.AccessToken
		ts.tok = nil
		ts.refreshAt = time.Time{}
	}
	ts.mu.Unlock()
}

// reject handles a REST 401 answered for the access token tok and reports
// whether the rejection is confirmed: the 401 came on a replacement token
// (one fetched because REST had rejected the token before it), or within
// rejectionHold of such a confirmation. Then no new token can help and the
// caller must not ask for one. Otherwise tok is dropped (as invalidate
// does) and the next token fetched is a replacement; the caller may retry
// once with it.
//
// So however many goroutines see 401s, a rejected integration costs at most
// two token requests beyond the first per rejectionHold.
func (ts *tokenSource) reject(tok string) (confirmed bool) {
	now := time.Now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if now.Before(ts.rejectedUntil) {
		return true
	}
	if tok != "" && tok == ts.replacement {
		ts.rejectedUntil = now.Add(rejectionHold)
		ts.replacement = ""
		ts.hasReplacement.Store(false)
		return true
	}
	if tok != "" {
		ts.rejected = tok
	}
	if ts.tok != nil && ts.tok.AccessToken == tok {
		ts.rejected = tok
		ts.tok = nil
		ts.refreshAt = time.Time{}
		ts.wantReplacement = true
	}
	return false
}

// accepted records a 2xx answer for tok: a replacement token that works
// is an ordinary token again.
func (ts *tokenSource) accepted(tok string) {
	if !ts.hasReplacement.Load() {
		return
	}
	ts.mu.Lock()
	if tok == ts.replacement {
		ts.replacement = ""
		ts.hasReplacement.Store(false)
	}
	ts.mu.Unlock()
}

// restBase returns the REST base URL from the cached token, fetching a
// token if there is none.
func (ts *tokenSource) restBase(ctx context.Context) (string, error) {
	ts.mu.Lock()
	rest := ts.rest
	ts.mu.Unlock()
	if rest != "" {
		return rest, nil
	}
	if _, err := ts.token(ctx); err != nil {
		return "", err
	}
	ts.mu.Lock()
	rest = ts.rest
	ts.mu.Unlock()
	return rest, nil
}

type tokenAnswer struct {
	AccessToken     string          `json:"access_token"`
	TokenType       string          `json:"token_type"`
	ExpiresIn       json.RawMessage `json:"expires_in"`
	Scope           string          `json:"scope"`
	RestInstanceURL string          `json:"rest_instance_url"`
	SoapInstanceURL string          `json:"soap_instance_url"`
	// OAuth error fields.
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
}

// fetch performs the token request.
func (ts *tokenSource) fetch(ctx context.Context) (*oauth2.Token, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, bytes.NewReader(ts.body))
	if err != nil {
		return nil, "", fmt.Errorf("sfmc: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", ts.ua)
	// The lifetime counts from the request, not the answer: SFMC starts
	// the clock when it issues the token, and a slow answer must not make
	// the client use a token the server has already expired.
	sent := time.Now()
	resp, err := ts.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("sfmc: token request to %s: %w", ts.tokenURL, err)
	}
	defer resp.Body.Close()
	body, err := httpx.ReadLimited(resp.Body, resp.ContentLength, ts.maxBytes)
	if err != nil {
		if errors.Is(err, httpx.ErrTooLarge) {
			err = ErrResponseTooLarge
		}
		return nil, "", fmt.Errorf("sfmc: token request to %s: reading answer: %w", ts.tokenURL, err)
	}
	return parseTokenAnswer(resp.StatusCode, resp.Header, ts.redact.body(body), ts.tokenURL, sent, ts.restURL)
}

// parseTokenAnswer turns a token endpoint answer into a token, the REST
// base, or a typed error.
func parseTokenAnswer(status int, h http.Header, body []byte, tokenURL string, now time.Time, restURL func(string) (string, error)) (*oauth2.Token, string, error) {
	var a tokenAnswer
	jsonErr := json.Unmarshal(body, &a)
	if status < 200 || status > 299 {
		if jsonErr == nil && a.Error != "" {
			return nil, "", &OAuthError{StatusCode: status, Code: a.Error, Description: a.ErrorDescription, URI: a.ErrorURI}
		}
		ra, _ := httpx.ParseRetryAfter(h.Get("Retry-After"), now, 0)
		return nil, "", fmt.Errorf("sfmc: token request: %w", decodeAPIError(status, http.MethodPost, tokenURL, body, h.Get("X-Request-Id"), ra))
	}
	if jsonErr != nil {
		return nil, "", fmt.Errorf("sfmc: token request to %s: answer is not a token: %w", tokenURL, jsonErr)
	}
	if a.AccessToken == "" {
		return nil, "", fmt.Errorf("sfmc: token request to %s: answer has no access_token", tokenURL)
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "bearer") {
		return nil, "", fmt.Errorf("sfmc: token request to %s: unsupported token_type %q", tokenURL, a.TokenType)
	}
	lifetime := defaultExpiresIn
	if secs, err := parseSeconds(a.ExpiresIn); err == nil && secs > 0 {
		lifetime = maxTokenLifetime
		if secs < maxTokenLifetime.Seconds() {
			lifetime = time.Duration(secs * float64(time.Second))
		}
	}
	rest, err := restURL(a.RestInstanceURL)
	if err != nil {
		return nil, "", err
	}
	tok := &oauth2.Token{AccessToken: a.AccessToken, TokenType: "Bearer", Expiry: now.Add(lifetime), ExpiresIn: int64(lifetime / time.Second)}
	tok = tok.WithExtra(map[string]any{extraRESTURL: rest, "soap_instance_url": a.SoapInstanceURL, "scope": a.Scope})
	return tok, rest, nil
}

func parseSeconds(raw json.RawMessage) (float64, error) {
	s := strings.Trim(string(raw), `" `)
	var f float64
	_, err := fmt.Sscan(s, &f)
	return f, err
}

// tokenRequestBody builds the JSON body of the token request.
func tokenRequestBody(cfg Config) []byte {
	m := struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		AccountID    string `json:"account_id,omitempty"`
		Scope        string `json:"scope,omitempty"`
	}{"client_credentials", cfg.ClientID, cfg.ClientSecret, cfg.AccountID, strings.Join(cfg.Scopes, " ")}
	b, _ := json.Marshal(m) // cannot fail: strings only
	return b
}

// normalizeInstanceURL turns a rest_instance_url into a base URL: scheme
// added when missing, trailing "/" trimmed. Unless trustAny, it must be
// https under marketingcloudapis.com. Plain http is accepted only for
// loopback hosts.
func normalizeInstanceURL(raw string, trustAny bool) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("sfmc: token answer has an unusable rest_instance_url %q", safeURL(raw))
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if !httpx.IsLoopback(host) {
			return "", fmt.Errorf("sfmc: token answer names plain-http REST URL %q; only https (or http to loopback) is accepted", safeURL(raw))
		}
	default:
		return "", fmt.Errorf("sfmc: token answer has an unusable rest_instance_url %q", safeURL(raw))
	}
	if !trustAny && u.Scheme == "https" && host != "marketingcloudapis.com" && !strings.HasSuffix(host, ".marketingcloudapis.com") {
		return "", fmt.Errorf("sfmc: token answer names REST URL %q outside marketingcloudapis.com; refusing to send the token there (set WithRESTURL to use a proxy)", safeURL(raw))
	}
	if !trustAny && u.Scheme != "https" {
		return "", fmt.Errorf("sfmc: token answer names REST URL %q that is not https", safeURL(raw))
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}
