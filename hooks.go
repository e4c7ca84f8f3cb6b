package sfmc

import (
	"context"
	"log/slog"
	"time"
)

// Hooks lets a program observe a client and its Upserters, for metrics and
// tracing, in the style of net/http/httptrace: the module
// github.com/sfmc-go/sfmc/otelsfmc implements them with OpenTelemetry, and
// the core depends on no telemetry library. Set them with WithHooks; every
// field is optional, and a nil field costs nothing.
//
// Hooks run synchronously on the goroutine where the event happens (a
// request's, a worker's, the token refresh's): they must be fast and safe
// for concurrent use, and must not call back into the client. A panic in
// one is recovered and logged. The queue depth and the requests in flight
// are not events: read them from Upserter.Stats (otelsfmc observes them as
// gauges).
type Hooks struct {
	// AttemptStart is called before each HTTP attempt to the REST API is
	// sent — after the waits for the cool-down, a block and the pace, with
	// the token in hand — with the attempt's context, which carries the
	// caller's values (for the Upserter, those of the first Add merged into
	// the request). The context it returns, when not nil, is the attempt's
	// from then on: a tracer starts the attempt's span in it, and it is the
	// one AttemptDone gets.
	AttemptStart func(ctx context.Context, a Attempt) context.Context
	// AttemptDone is called once for every AttemptStart, when the answer's
	// headers are in (or the attempt failed).
	AttemptDone func(ctx context.Context, a Attempt, r AttemptResult)
	// Token is called after every token request (or token taken from a
	// TokenStore).
	Token func(ctx context.Context, t TokenEvent)
	// Pace is called once by NewClient with the pace the client starts
	// at, then when the pace changes, when a cool-down starts, and when a
	// 50200 block episode starts or ends.
	Pace func(p PaceEvent)
	// Outcome is called for every Outcome of an Upserter, after OnResult,
	// with the context of that Add.
	Outcome func(ctx context.Context, o OutcomeEvent)
}

// Attempt describes one HTTP attempt to the REST API.
type Attempt struct {
	// Method is the HTTP method.
	Method string
	// Route is the route template, for example "/contacts/v1/contacts"
	// or "/contacts/v1/attributeSetDefinitions/{id}" (no query, no ids).
	Route string
	// Host is the REST host.
	Host string
	// Number is 1 for the first attempt of a call (or of an Upserter's
	// contact), 2 for its first retry, and so on.
	Number int
	// Links are the contexts of the other Adds merged into an Upserter's
	// request (a coalesced contact): the first Add's is the attempt's own.
	// A tracer links their spans.
	Links []context.Context
}

// AttemptResult is what an attempt came to.
type AttemptResult struct {
	// StatusCode is the HTTP status, 0 when there was no answer.
	StatusCode int
	// ErrorCode is SFMC's errorcode of a 429 or 503 answer, else 0.
	ErrorCode int
	// Class is the retry policy's name for the answer (see retry.go): ok,
	// throttled, blocked, busy, server, unanswered, not sent, auth,
	// rejected, fatal, permanent or canceled.
	Class string
	// Err is the transport error of an attempt without an answer.
	Err error
	// Duration runs from sending to the answer's headers (or the error).
	Duration time.Duration
}

// TokenEvent describes one token refresh.
type TokenEvent struct {
	// Duration of the refresh.
	Duration time.Duration
	// Err is the refresh's error, nil on success.
	Err error
	// FromStore reports a token taken from the TokenStore (fleet mode),
	// not requested from SFMC.
	FromStore bool
}

// PaceEvent describes a change of the client's pace.
type PaceEvent struct {
	// Rate is the pace now, in requests per second.
	Rate float64
	// Cooldown is the pause that just started (a 429's Retry-After, or a
	// block's pause), 0 when none did.
	Cooldown time.Duration
	// Blocked reports a 50200 block episode in progress.
	Blocked bool
}

// OutcomeEvent describes one Outcome of an Upserter.
type OutcomeEvent struct {
	// Outcome is the outcome delivered to OnResult.
	Outcome Outcome
	// Latency runs from the Add to the outcome.
	Latency time.Duration
}

// WithHooks sets the client's Hooks (see Hooks); its Upserters use them
// too.
func WithHooks(h Hooks) Option {
	return func(s *settings) error {
		s.hooks = h
		return nil
	}
}

// hooks calls the configured Hooks, recovering their panics.
type hooks struct {
	Hooks
	logger *slog.Logger
}

func (h *hooks) recover(name string) {
	if r := recover(); r != nil {
		h.logger.Error("sfmc: hook panicked", slog.String("hook", name), slog.Any("panic", r))
	}
}

func (h *hooks) attemptStart(ctx context.Context, a Attempt) (out context.Context) {
	out = ctx // also when the hook panics
	if h.AttemptStart == nil {
		return out
	}
	defer h.recover("AttemptStart")
	if n := h.AttemptStart(ctx, a); n != nil {
		out = n
	}
	return out
}

func (h *hooks) attemptDone(ctx context.Context, a Attempt, r AttemptResult) {
	if h.AttemptDone == nil {
		return
	}
	defer h.recover("AttemptDone")
	h.AttemptDone(ctx, a, r)
}

func (h *hooks) token(ctx context.Context, t TokenEvent) {
	if h.Token == nil {
		return
	}
	defer h.recover("Token")
	h.Token(ctx, t)
}

func (h *hooks) pace(p PaceEvent) {
	if h.Pace == nil {
		return
	}
	defer h.recover("Pace")
	h.Pace(p)
}

func (h *hooks) outcome(ctx context.Context, o OutcomeEvent) {
	if h.Outcome == nil {
		return
	}
	defer h.recover("Outcome")
	h.Outcome(ctx, o)
}

// callerValues returns a context with the values of the caller's ctx and the
// cancellation of work (the Upserter's own): a request made for an Add runs
// under what the caller's context carries for tracing, but is not
// cancelled when the caller's context ends. stop releases it. For a caller
// context that carries nothing (Background, TODO) it returns work itself.
func callerValues(caller, work context.Context) (context.Context, func()) {
	if caller == nil || caller == context.Background() || caller == context.TODO() {
		return work, func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(caller))
	stop := context.AfterFunc(work, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
