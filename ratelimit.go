package sfmc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Limiter paces the client's requests. Wait blocks until one request may be
// sent or ctx is done. The client calls it once for every HTTP attempt,
// retries included, so a Limiter shared by several clients (or processes)
// bounds what they send together. A *rate.Limiter from golang.org/x/time/rate
// is a Limiter.
//
// The client always paces itself adaptively (see WithRateLimit and the
// policy table in retry.go); a Limiter given to WithLimiter is paid on top
// of that, unless it is an AdaptiveLimiter, which replaces the client's own
// pace.
type Limiter interface {
	Wait(ctx context.Context) error
}

// AdaptiveLimiter is a Limiter that sets its own pace from SFMC's answers.
// The client reports the answer to every attempt it admitted; Rate reports
// the pace (requests per second) for Stats. redisstore.Limiter is one: it
// shares one learned pace across the processes of a fleet.
type AdaptiveLimiter interface {
	Limiter
	// Observe reports the answer to one attempt the limiter admitted.
	Observe(a Answer)
	// Rate returns the current pace in requests per second.
	Rate() float64
}

// Answer is what the answer to one attempt tells a pacer.
type Answer struct {
	// Signal classifies the answer.
	Signal Signal
	// RTT is the client's current round-trip estimate (a moving average of
	// the answered attempts), zero before the first answer.
	RTT time.Duration
}

// Signal classifies an answer for a pacer.
type Signal int

// The signals, from the client's retry policy (see retry.go).
const (
	// SignalOther: an answer that says nothing about the tenant's load
	// (a refused contact, a 4xx, a 401, an attempt never sent).
	SignalOther Signal = iota
	// SignalSuccess: a 2xx answer.
	SignalSuccess
	// SignalThrottled: 429 with errorcode 50100, or 503: slow down.
	SignalThrottled
	// SignalBlocked: 429 with errorcode 50200: slow down a lot.
	SignalBlocked
	// SignalFailure: 500, 502, 504, or no answer: the tenant is failing.
	SignalFailure
)

// signalOf maps a policy class to the Signal an AdaptiveLimiter sees.
func signalOf(k answerClass) Signal {
	switch k {
	case classOK:
		return SignalSuccess
	case classThrottled, classBusy:
		return SignalThrottled
	case classBlocked:
		return SignalBlocked
	case classServer, classUnanswered:
		return SignalFailure
	}
	return SignalOther
}

// paceLimiter is the client's pace: its own pacer, or a configured
// AdaptiveLimiter.
type paceLimiter interface {
	Wait(ctx context.Context) error
	observe(k answerClass, rtt time.Duration)
	Rate() float64
}

// adaptive adapts an AdaptiveLimiter to paceLimiter.
type adaptive struct{ AdaptiveLimiter }

func (a adaptive) observe(k answerClass, rtt time.Duration) {
	a.Observe(Answer{Signal: signalOf(k), RTT: rtt})
}

// ewma is a moving average of durations, safe for concurrent use.
type ewma struct{ v atomic.Int64 }

// observe folds d into the average (weight 1/8).
func (e *ewma) observe(d time.Duration) {
	for {
		old := e.v.Load()
		n := int64(d)
		if old != 0 {
			n = old + (int64(d)-old)/8
		}
		if e.v.CompareAndSwap(old, n) {
			return
		}
	}
}

func (e *ewma) get() time.Duration { return time.Duration(e.v.Load()) }

// limiterError turns a Limiter failure into the client's error: the context
// error when ctx is done, else ErrClientRateLimited (never a server 429).
func limiterError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrClientRateLimited, err)
}

// Cooldown is the pause every request of a client honours after SFMC
// answers 429 with a Retry-After: one cool-down for all goroutines rather
// than N parallel retries. The default is in memory (NewCooldown); a shared
// implementation lets several clients or processes pause together.
type Cooldown interface {
	// Wait blocks until the current cool-down, if any, has passed or ctx
	// is done (then it returns ctx.Err()).
	Wait(ctx context.Context) error
	// Extend makes the cool-down last at least until the given time. It
	// never shortens a running cool-down.
	Extend(until time.Time)
}

// NewCooldown returns the default in-memory Cooldown.
func NewCooldown() Cooldown { return &memCooldown{} }

type memCooldown struct {
	until atomic.Int64 // unix nanoseconds; 0 = none
}

func (c *memCooldown) Wait(ctx context.Context) error {
	for {
		until := c.until.Load()
		if until == 0 {
			return nil
		}
		d := time.Until(time.Unix(0, until))
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *memCooldown) Extend(until time.Time) {
	n := until.UnixNano()
	for {
		cur := c.until.Load()
		if cur >= n {
			return
		}
		if c.until.CompareAndSwap(cur, n) {
			return
		}
	}
}
