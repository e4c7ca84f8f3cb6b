package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
)

// Cooldown is an sfmc.Cooldown shared through Redis: the end of the
// cool-down (Unix milliseconds) under "{prefix}:{clientID}:{accountID}:cooldown",
// expiring with it. Extend moves it later, never earlier; Wait reads it
// (reusing the last read for WithCooldownCache) and also honours the
// process's own in-memory cool-down, which is all it uses while Redis is
// unavailable. The clocks of the fleet's machines are assumed in sync to
// well under a second.
type Cooldown struct {
	rdb      redis.UniversalClient
	key      string
	local    sfmc.Cooldown
	timeout  time.Duration
	cacheFor time.Duration
	g        guard

	mu       sync.Mutex // held during a read, so concurrent waiters share it
	until    time.Time
	cachedAt time.Time
}

var (
	_ sfmc.Cooldown         = (*Cooldown)(nil)
	_ sfmc.FallbackNotifier = (*Cooldown)(nil)
)

// NewCooldown returns a Cooldown for the API integration of cfg.
func NewCooldown(rdb redis.UniversalClient, cfg sfmc.Config, opts ...Option) *Cooldown {
	o := newOptions(opts)
	return &Cooldown{
		rdb:      rdb,
		key:      newKeyspace(o.prefix, cfg).key("cooldown"),
		local:    sfmc.NewCooldown(),
		timeout:  o.timeout,
		cacheFor: o.cacheFor,
		g:        guard{retry: o.retryInterval},
	}
}

// extendScript sets the key to ARGV[1] (Unix ms) with a PX of ARGV[2] ms,
// only when that is later than what it holds.
var extendScript = redis.NewScript(`
local cur = tonumber(redis.call("GET", KEYS[1]) or "0") or 0
if tonumber(ARGV[1]) > cur then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0
`)

// Extend makes the fleet's cool-down last at least until the given time.
func (c *Cooldown) Extend(until time.Time) {
	c.local.Extend(until)
	ms := time.Until(until).Milliseconds()
	if ms < 1 || !c.g.available() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := extendScript.Run(ctx, c.rdb, []string{c.key}, until.UnixMilli(), ms).Err(); err != nil {
		c.g.fail("cool-down", err)
		return
	}
	c.g.ok()
	c.mu.Lock()
	if until.After(c.until) {
		c.until = until
	}
	c.mu.Unlock()
}

// Wait blocks until both the fleet's and the process's cool-down have
// passed, or ctx is done.
func (c *Cooldown) Wait(ctx context.Context) error {
	for {
		if err := c.local.Wait(ctx); err != nil {
			return err
		}
		d := time.Until(c.shared(ctx))
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

// shared returns the end of the fleet's cool-down (zero when none or Redis
// is unavailable), from the cache when it is fresh.
func (c *Cooldown) shared(ctx context.Context) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.cachedAt) < c.cacheFor || !c.g.available() {
		return c.until
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, err := c.rdb.Get(cctx, c.key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		c.until = time.Time{}
	case err != nil:
		if ctx.Err() == nil {
			c.g.fail("cool-down", err)
		}
		return c.until
	default:
		c.g.ok()
		if ms, perr := strconv.ParseInt(v, 10, 64); perr == nil {
			c.until = time.UnixMilli(ms)
		}
	}
	c.cachedAt = time.Now()
	return c.until
}

// NotifyFallback implements sfmc.FallbackNotifier: f is called when the
// Cooldown falls back to local state (once per Redis outage).
func (c *Cooldown) NotifyFallback(f func(err error)) { c.g.notify(f) }
