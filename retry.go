package sfmc

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// This file is the client's one retry and throttling policy. It decides,
// for every answer and error of one HTTP attempt:
//
//   - its class (see answerClass and the table below);
//   - whether the request may be sent again (retryable);
//   - how long to wait first (backoff);
//   - what the class tells the pacer (see pacer.go) and the 50200 block
//     (see block.go).
//
// Both request paths use it: direct calls (ContactsService,
// AttributeSetsService) retry through go-retryablehttp, whose CheckRetry
// and Backoff call into this file and whose retry count is WithRetry's; the
// Upserter sends single attempts (Client.attempt) and owns each contact's
// whole budget (UpserterConfig.MaxAttempts counts every HTTP request for the
// contact), asking the same functions what to do next.
//
//	answer                               class       retried                         wait                       pace
//	2xx                                  ok          -                               -                          additive increase
//	429, errorcode 50100 (or none)       throttled   yes (POST too)                  Retry-After; shared pause  decrease x0.85
//	429, errorcode 50200                 blocked     Upserter: yes, after a pause    client-wide pause, grows   decrease x0.5, fewer in flight
//	                                                 direct call: no (ErrBlocked)
//	503                                  busy        yes (POST too)                  Retry-After, else backoff  decrease x0.85
//	500, 502, 504                        server      GET/PATCH; POST no              backoff                    failure ratio
//	sent, no answer (reset, EOF,         unanswered  GET/PATCH; POST no              backoff                    failure ratio
//	  the attempt's own timeout)
//	never sent (dial error, token        not sent    yes                             backoff                    -
//	  endpoint 5xx/429/unreachable)
//	401                                  auth        once, with a new token          none                       -
//	401 on that new token                rejected    no: ErrUnauthorized;            -                          -
//	                                                 the Upserter stops
//	token endpoint: invalid_client,      fatal       no; the Upserter stops          -                          -
//	  IP not allowlisted
//	other 4xx, other 5xx (501, 505,      permanent   no                              -                          -
//	  596 ...), contact FAIL
//	the caller's context ended           canceled    no                              -                          -
//
// "failure ratio": when most answers of a pacing round are failures
// (server, unanswered, busy, throttled), the pacer halves the client's rate
// each round down to its floor, and retries are bounded by the retry budget
// (see RetryBudget), so that a failing tenant sees less, not more, traffic.

// answerClass is the policy's classification of one attempt.
type answerClass uint8

const (
	classOK         answerClass = iota // 2xx
	classThrottled                     // 429 with errorcode 50100 or none
	classBlocked                       // 429 with errorcode 50200
	classBusy                          // 503
	classServer                        // 500, 502, 504
	classUnanswered                    // sent and got no answer
	classNotSent                       // never reached the REST host
	classAuth                          // 401
	classRejected                      // 401 on a token fetched to replace a rejected one
	classFatal                         // the token endpoint refused the credentials or the IP
	classPermanent                     // anything no retry cures
	classCanceled                      // the caller's context ended
)

var classNames = [...]string{
	classOK: "ok", classThrottled: "throttled", classBlocked: "blocked", classBusy: "busy",
	classServer: "server", classUnanswered: "unanswered", classNotSent: "not sent", classAuth: "auth",
	classRejected: "rejected", classFatal: "fatal", classPermanent: "permanent", classCanceled: "canceled",
}

func (k answerClass) String() string {
	if int(k) < len(classNames) {
		return classNames[k]
	}
	return "unknown"
}

// classifyStatus classifies an HTTP answer by its status and SFMC errorcode.
// A 401 is classAuth here; whether it is classRejected depends on the token
// (see Client.classifyAuth).
func classifyStatus(status, errorcode int) answerClass {
	switch {
	case status >= 200 && status <= 299:
		return classOK
	case status == http.StatusTooManyRequests && errorcode == 50200:
		return classBlocked
	case status == http.StatusTooManyRequests:
		return classThrottled
	case status == http.StatusServiceUnavailable:
		return classBusy
	case status == http.StatusInternalServerError, status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return classServer
	case status == http.StatusUnauthorized:
		return classAuth
	}
	return classPermanent
}

// classifyError classifies a failed attempt: err came from the transport
// (waiting, getting a token or sending). sent reports whether the request
// was handed to the network; callerCtx is the caller's context, without the
// attempt's own timeout.
func classifyError(callerCtx context.Context, err error, sent bool) answerClass {
	if callerCtx.Err() != nil || errors.Is(err, errUpserterStopped) {
		return classCanceled
	}
	switch {
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrIPNotAllowlisted):
		return classFatal
	case errors.Is(err, ErrClientRateLimited), errors.Is(err, ErrResponseTooLarge), errors.Is(err, errRedirect):
		return classPermanent
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		return classPermanent // a token answer no retry changes
	}
	var te *tokenError
	if errors.As(err, &te) {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests {
			return classPermanent
		}
		return classNotSent // token endpoint busy or unreachable: retry later
	}
	if !sent || dialErr(err) {
		return classNotSent
	}
	// Sent and no answer: a reset, an EOF, or the attempt's own timeout
	// (which matches context.DeadlineExceeded although the caller's
	// context is fine).
	return classUnanswered
}

// retryable reports whether an attempt of class k may be sent again for
// method. POST is retried only when SFMC said it did not process the
// request (429, 503) or the request never left; GET and PATCH are
// idempotent (PATCH writes the same values again).
func retryable(k answerClass, method string) bool {
	switch k {
	case classThrottled, classBusy, classNotSent, classAuth:
		return true
	case classServer, classUnanswered:
		return method != http.MethodPost
	case classBlocked:
		return true // the Upserter waits the block out; direct calls do not retry it (see checkRetry)
	}
	return false
}

// backoffWait is the wait before retry number n (1 for the first retry):
// the server's Retry-After when it gave one, capped at waitMax; else "equal
// jitter": half of min(waitMin·2^(n-1), waitMax) plus a random part of the
// other half. The fixed half makes the waits grow for sure, so that a
// contact's MaxAttempts span at least sum(waitMin·2^(n-2)) — 10 attempts with
// the Upserter's defaults take at least ~45 s, enough to ride out a short
// outage — while the random half spreads the retries of many contacts.
func backoffWait(n int, waitMin, waitMax, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, waitMax)
	}
	ceil := waitMin
	for i := 1; i < n && ceil < waitMax; i++ {
		if ceil > waitMax/2 {
			ceil = waitMax
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, waitMax)
	if ceil <= 0 {
		return 0
	}
	half := ceil / 2
	return half + rand.N(ceil-half+1)
}

// dialErr reports whether the request never reached the server (so even a
// POST may be retried).
func dialErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// errUpserterStopped ends an Upserter's attempt that was still waiting to
// be sent when the Upserter stopped.
var errUpserterStopped = errors.New("sfmc: the Upserter stopped before the attempt was sent")

// errRedirect marks a redirect the client refused (to another host, or too
// many): never retried.
var errRedirect = errors.New("sfmc: redirect refused")

// tokenError marks an error from getting the access token for an attempt
// (as opposed to sending the request).
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// Retry budget defaults (see RetryBudget).
const (
	DefaultRetryRatio        = 0.5
	DefaultRetryMinPerSecond = 5.0
)

// RetryBudget bounds the extra load retries put on a failing tenant, in the
// spirit of gRPC's retry throttling and Finagle's retry budgets: a client
// may send Ratio retries per successful answer, plus MinPerSecond retries a
// second whatever the answers (at most 10 seconds of them saved up). A
// retry beyond the budget is not dropped: it waits until the budget covers
// it, so contacts wait (backpressure) instead of failing early, and while
// most answers are failures the pacer also lowers the client's rate (see
// the policy table in retry.go), so that first attempts slow down too.
// Every retry pays it: the Upserter's and those of direct calls
// (WithRetry).
//
// The defaults (DefaultRetryRatio, DefaultRetryMinPerSecond) let a tenant
// failing a third of the requests at random be ridden out at full speed
// (each success earns more than the retries a third of failures needs),
// while an outage leaves retries at MinPerSecond.
type RetryBudget struct {
	// Ratio is the retries earned per successful answer (default 0.5).
	Ratio float64
	// MinPerSecond is the retries allowed per second without successes
	// (default 5).
	MinPerSecond float64
}

// WithRetryBudget sets the client's retry budget (see RetryBudget; zero
// fields take the defaults). Ratio and MinPerSecond must not be negative,
// and not both zero once the defaults are applied.
func WithRetryBudget(b RetryBudget) Option {
	return func(s *settings) error {
		if b.Ratio < 0 || b.MinPerSecond < 0 || b.Ratio != b.Ratio || b.MinPerSecond != b.MinPerSecond ||
			math.IsInf(b.Ratio, 0) || math.IsInf(b.MinPerSecond, 0) {
			return configErr("WithRetryBudget: need finite Ratio >= 0 and MinPerSecond >= 0, got %v and %v", b.Ratio, b.MinPerSecond)
		}
		s.budget = b
		return nil
	}
}

// retryBudget is RetryBudget at work: a token bucket that successes and
// time fill and retries drain. A retry may drive it negative; its wait is
// then the time MinPerSecond takes to cover the debt, so reservations are
// served in order.
type retryBudget struct {
	mu       sync.Mutex
	ratio    float64
	perSec   float64
	capacity float64
	tokens   float64
	last     time.Time
}

func newRetryBudget(b RetryBudget) *retryBudget {
	if b.Ratio == 0 && b.MinPerSecond == 0 {
		b = RetryBudget{DefaultRetryRatio, DefaultRetryMinPerSecond}
	}
	capacity := max(10*b.MinPerSecond, 10)
	return &retryBudget{ratio: b.Ratio, perSec: b.MinPerSecond, capacity: capacity, tokens: capacity}
}

func (b *retryBudget) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.capacity, b.tokens+b.perSec*now.Sub(b.last).Seconds())
	}
	b.last = now
}

// success earns Ratio retries.
func (b *retryBudget) success() {
	b.mu.Lock()
	b.refill(time.Now())
	b.tokens = min(b.capacity, b.tokens+b.ratio)
	b.mu.Unlock()
}

// reserve takes one retry from the budget and returns how long the retry
// must wait for it to be covered (0 when it is).
func (b *retryBudget) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	if b.perSec <= 0 {
		// Only successes refill it: wait a little and let the pacer's
		// probes earn it.
		return time.Second
	}
	return time.Duration(-b.tokens / b.perSec * float64(time.Second))
}
