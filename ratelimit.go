package sfmc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the client's requests. Wait blocks until one request may be
// sent or ctx is done. The client calls it once for every HTTP attempt,
// retries included, so a Limiter shared by several clients (or processes)
// bounds what they send together.
//
// The default is NewRateLimiter(rate.Inf, 1): no client-side limit, because
// SFMC publishes no per-second REST limit and signals throttling with 429
// and Retry-After, which the client obeys through its cool-down. Set
// WithRateLimit to the rate agreed for your account.
type Limiter interface {
	Wait(ctx context.Context) error
}

// NewRateLimiter returns the default Limiter: a golang.org/x/time/rate token
// bucket admitting perSecond requests per second with the given burst.
// perSecond may be rate.Inf (no limit).
func NewRateLimiter(perSecond float64, burst int) Limiter {
	return &rateLimiter{l: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

type rateLimiter struct{ l *rate.Limiter }

func (r *rateLimiter) Wait(ctx context.Context) error { return r.l.Wait(ctx) }

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
