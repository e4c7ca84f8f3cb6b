package redisstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"golang.org/x/time/rate"
)

// Limiter is an sfmc.Limiter shared through Redis: a GCRA limiter
// (redis_rate) admitting perSecond requests per second, with the given
// burst, to all the Limiters of the same API integration together. When
// Redis fails it falls back to a local limiter (see WithFallbackRate) and
// tells the client (sfmc.FallbackNotifier).
//
// Within one process the waiting requests take turns asking Redis, so a
// crowd of waiting workers costs one round trip at a time.
type Limiter struct {
	rl      *redis_rate.Limiter
	key     string
	limit   redis_rate.Limit
	local   *rate.Limiter
	timeout time.Duration
	g       guard
	turn    chan struct{}
}

var (
	_ sfmc.Limiter          = (*Limiter)(nil)
	_ sfmc.FallbackNotifier = (*Limiter)(nil)
)

// NewLimiter returns a Limiter for the API integration of cfg (its
// ClientID and AccountID name the key). perSecond must be > 0 and burst
// >= 1.
func NewLimiter(rdb redis.UniversalClient, cfg sfmc.Config, perSecond float64, burst int, opts ...Option) (*Limiter, error) {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) || burst < 1 {
		return nil, fmt.Errorf("%w: redisstore.NewLimiter: need 0 < perSecond < +Inf and burst >= 1, got %v and %d", sfmc.ErrInvalidConfig, perSecond, burst)
	}
	o := newOptions(opts)
	if o.fallbackRate == 0 {
		o.fallbackRate, o.fallbackBurst = perSecond, burst
	}
	limit := redis_rate.Limit{Rate: int(perSecond), Burst: burst, Period: time.Second}
	if perSecond != math.Trunc(perSecond) || perSecond < 1 {
		// A fractional rate: the same emission interval over a longer period.
		limit = redis_rate.Limit{Rate: int(math.Round(perSecond * 1000)), Burst: burst, Period: 1000 * time.Second}
	}
	return &Limiter{
		rl:      redis_rate.NewLimiter(rdb),
		key:     newKeyspace(o.prefix, cfg).key("rate"),
		limit:   limit,
		local:   rate.NewLimiter(rate.Limit(o.fallbackRate), o.fallbackBurst),
		timeout: o.timeout,
		g:       guard{retry: o.retryInterval},
		turn:    make(chan struct{}, 1),
	}, nil
}

// Wait blocks until the fleet may send one more request, or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error {
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	shared, err := l.waitShared(ctx)
	<-l.turn
	if shared {
		return err
	}
	return l.local.Wait(ctx)
}

// waitShared waits for the shared limiter; false when Redis is unavailable
// and the local limiter must be used instead.
func (l *Limiter) waitShared(ctx context.Context) (bool, error) {
	for {
		if !l.g.available() {
			return false, nil
		}
		cctx, cancel := context.WithTimeout(ctx, l.timeout)
		res, err := l.rl.Allow(cctx, l.key, l.limit)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			l.g.fail("rate limiter", err)
			return false, nil
		}
		l.g.ok()
		if res.Allowed > 0 {
			return true, nil
		}
		d := max(res.RetryAfter, time.Millisecond)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return true, ctx.Err()
		case <-t.C:
		}
	}
}

// NotifyFallback implements sfmc.FallbackNotifier: f is called when the
// Limiter falls back to its local limiter (once per Redis outage).
func (l *Limiter) NotifyFallback(f func(err error)) { l.g.notify(f) }
