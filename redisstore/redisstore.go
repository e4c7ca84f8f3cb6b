package redisstore

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
)

// Defaults, documented on the options that change them.
const (
	DefaultPrefix        = "sfmc"
	DefaultTimeout       = 2 * time.Second
	DefaultRetryInterval = 5 * time.Second
	DefaultCooldownCache = 10 * time.Millisecond
)

// Option configures the components of this package.
type Option func(*options)

type options struct {
	prefix        string
	timeout       time.Duration
	retryInterval time.Duration
	cacheFor      time.Duration
	fallbackRate  float64
	fallbackBurst int
	sentTTL       time.Duration
}

func newOptions(opts []Option) options {
	o := options{prefix: DefaultPrefix, timeout: DefaultTimeout, retryInterval: DefaultRetryInterval, cacheFor: DefaultCooldownCache, sentTTL: sfmc.DefaultSentTTL}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// WithPrefix sets the first part of every key (default "sfmc"), e.g. to
// keep several environments apart in one Redis. Empty values are ignored.
func WithPrefix(p string) Option {
	return func(o *options) {
		if p != "" {
			o.prefix = p
		}
	}
}

// WithTimeout bounds each Redis call (default 2 s). Values <= 0 are ignored.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithRetryInterval sets how long the Limiter and the Cooldown stay on
// local state after a Redis failure before trying Redis again (default
// 5 s). Values <= 0 are ignored.
func WithRetryInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retryInterval = d
		}
	}
}

// WithCooldownCache sets how long the Cooldown reuses the shared cool-down
// it last read (default 10 ms), so that not every request costs a Redis
// round trip. Values < 0 are ignored.
func WithCooldownCache(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.cacheFor = d
		}
	}
}

// WithFallbackRate sets the local pace a Limiter takes while Redis is
// unavailable: it starts there and adapts below it (on 429s, as the
// client's own pace does), never above. The default is the process's
// share of the fleet: the fleet's last pace divided by the processes seen
// live in the last 10 s (see Limiter), so that the fleet together stays
// at about the tenant's rate. Set it when the share is known better, e.g.
// the tenant's rate divided by a fixed number of pods.
func WithFallbackRate(perSecond float64, burst int) Option {
	return func(o *options) {
		if perSecond > 0 && burst >= 1 {
			o.fallbackRate, o.fallbackBurst = perSecond, burst
		}
	}
}

// WithSentTTL sets how long a SentStore keeps a record after its last Put
// (default sfmc.DefaultSentTTL, 30 days). Give it the Upserters'
// UpserterConfig.SentTTL: a record older than that is not trusted anyway,
// so a longer TTL only holds memory, and a shorter one only makes contacts
// be sent again. Values <= 0 are ignored.
func WithSentTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.sentTTL = d
		}
	}
}

// keyspace names the keys of one API integration.
type keyspace string

func newKeyspace(prefix string, cfg sfmc.Config) keyspace {
	clean := func(s string) string { return strings.NewReplacer(":", "_", " ", "_").Replace(s) }
	return keyspace(prefix + ":" + clean(cfg.ClientID) + ":" + clean(cfg.AccountID))
}

func (k keyspace) key(kind string) string { return string(k) + ":" + kind }

// ClientOptions returns the sfmc options that put a client into the fleet
// of every client given the same rdb and cfg.ClientID/AccountID: the shared
// TokenStore, a Limiter at perSecond with the given burst (perSecond =
// math.Inf(1) for none: the fleet finds the tenant's pace; see NewLimiter),
// and the shared Cooldown. Give each client its own options (each call
// makes new components), as separate processes would.
func ClientOptions(rdb redis.UniversalClient, cfg sfmc.Config, perSecond float64, burst int, opts ...Option) ([]sfmc.Option, error) {
	lim, err := NewLimiter(rdb, cfg, perSecond, burst, opts...)
	if err != nil {
		return nil, err
	}
	return []sfmc.Option{
		sfmc.WithTokenStore(NewTokenStore(rdb, cfg, opts...)),
		sfmc.WithLimiter(lim),
		sfmc.WithCooldown(NewCooldown(rdb, cfg, opts...)),
	}, nil
}

// guard tracks Redis health for one component: after a failure it stays
// down (local state) for the retry interval, and it tells the registered
// handlers when an outage starts.
type guard struct {
	retry time.Duration

	mu        sync.Mutex
	down      bool
	downUntil time.Time
	handlers  []func(error)
}

// available reports whether Redis should be tried now.
func (g *guard) available() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.down || !time.Now().Before(g.downUntil)
}

// fail records a failed call of op and, when it starts an outage, tells
// the handlers.
func (g *guard) fail(op string, err error) {
	err = fmt.Errorf("%w: redis %s: %w", sfmc.ErrSharedStateUnavailable, op, err)
	g.mu.Lock()
	first := !g.down
	g.down, g.downUntil = true, time.Now().Add(g.retry)
	var hs []func(error)
	if first {
		hs = append(hs, g.handlers...)
	}
	g.mu.Unlock()
	for _, h := range hs {
		h(err)
	}
}

// ok records a successful call: the outage, if any, is over.
func (g *guard) ok() {
	g.mu.Lock()
	g.down = false
	g.mu.Unlock()
}

func (g *guard) notify(f func(error)) {
	if f == nil {
		return
	}
	g.mu.Lock()
	g.handlers = append(g.handlers, f)
	g.mu.Unlock()
}
