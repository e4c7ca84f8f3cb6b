package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"golang.org/x/time/rate"
)

// Shared pace timing.
const (
	// paceCache is how long a process reuses the fleet's pace it last
	// read before reading it again (its own changes apply at once).
	paceCache = 100 * time.Millisecond
	// heartbeatEvery is how often a process marks itself live; liveWindow
	// is how recently it must have done so to count.
	heartbeatEvery = 2 * time.Second
	liveWindow     = 10 * time.Second
	// paceTTL is how long the fleet's pace outlives the fleet's last
	// request: a fleet started again within it starts at the pace learned.
	paceTTL = 10 * time.Minute
	// roundMin is the core's shortest pacing round: a cut holds further
	// cuts for at least this long (and two round trips), fleet-wide.
	roundMin = 100 * time.Millisecond
	// congestedEvery is how often at most a process reports throttling
	// that did not make it cut.
	congestedEvery = roundMin / 2
	// stepCap is the longest round the core's additive step grows with.
	stepCap = time.Second
)

// Limiter is an sfmc.AdaptiveLimiter shared through Redis: one pace for
// all the Limiters of the same API integration, learned from the answers
// all of them get, and one GCRA limiter (redis_rate) admitting the fleet's
// requests at that pace.
//
// Each process feeds the answers to its own requests to its own
// sfmc.PaceController (the client's pacing arithmetic: slow start, then
// AIMD) and applies the changes it decides to the fleet's pace in Redis
// atomically, so that the fleet changes its pace as one client would: a
// cut at most once per round however many processes see the same
// throttling, and a raise only on a round that ran wholly at the current
// pace and in which no process saw throttling. Every process then takes
// the fleet's pace as its own (it rereads it every 100 ms), so that Rate,
// and the client's Stats().Rate, agree across the fleet.
//
// A configured rate is the fleet's ceiling and its start; without one
// (perSecond = math.Inf(1), the same as rate.Inf) the fleet finds the
// tenant's pace from the client's cold start, 20 requests per second.
//
// Every process marks itself live in Redis every 2 s. When Redis fails a
// process paces itself locally at its share of the fleet: the fleet's last
// pace divided by the processes seen live in the last 10 s, and adapts
// from there with a PaceController of its own (never above the configured
// rate divided by the same count), so that the fleet together stays at
// about the tenant's rate, not N times it. WithFallbackRate overrides the
// share. It tells the client (sfmc.FallbackNotifier), and takes the
// fleet's pace again once Redis answers (see WithRetryInterval).
//
// Within one process the waiting requests take turns asking Redis, so a
// crowd of waiting workers costs one round trip at a time. See the package
// documentation for the keys.
type Limiter struct {
	rdb     redis.UniversalClient
	rl      *redis_rate.Limiter
	gcraKey string // redis_rate's key (it adds "rate:")
	paceKey string
	liveKey string
	id      string // this process's member of liveKey

	ceiling  float64 // configured rate; +Inf when none
	floor    float64 // the pace's floor (the core's: 1/s, or the ceiling when lower)
	burst    int     // configured burst; 0 = derived from the pace
	fbRate   float64 // WithFallbackRate; 0 when not set
	fbBurst  int
	coldRate float64 // the core's cold start
	timeout  time.Duration
	g        guard
	turn     chan struct{}
	io       sync.Mutex // serializes the calls on paceKey, so that their answers apply in order

	mu     sync.Mutex
	ctl    *sfmc.PaceController // this process's view of the fleet's pace
	pace   float64              // the fleet's pace, as last read
	known  bool                 // pace was read from Redis at least once
	readAt time.Time
	beatAt time.Time
	toldAt time.Time            // throttling last reported
	live   int                  // processes live at the last heartbeat (this one included)
	fb     *sfmc.PaceController // non-nil while on local state
	local  *rate.Limiter        // the local limiter, at fb's rate
}

var (
	_ sfmc.AdaptiveLimiter  = (*Limiter)(nil)
	_ sfmc.FallbackNotifier = (*Limiter)(nil)
)

// NewLimiter returns a Limiter for the API integration of cfg (its
// ClientID and AccountID name the keys).
//
// perSecond is the fleet's ceiling and start, with the given burst (>= 1);
// perSecond = math.Inf(1) (rate.Inf) configures no rate: the fleet finds
// the tenant's pace, and the burst (then ignored, may be 0) follows the
// pace as the client's own does (sfmc.BurstFor).
func NewLimiter(rdb redis.UniversalClient, cfg sfmc.Config, perSecond float64, burst int, opts ...Option) (*Limiter, error) {
	inf := math.IsInf(perSecond, 1)
	if !(perSecond > 0) || (!inf && burst < 1) {
		return nil, fmt.Errorf("%w: redisstore.NewLimiter: need perSecond > 0 (math.Inf(1) for none) and burst >= 1, got %v and %d", sfmc.ErrInvalidConfig, perSecond, burst)
	}
	if inf {
		burst = 0
	}
	o := newOptions(opts)
	ks := newKeyspace(o.prefix, cfg)
	var id [8]byte
	_, _ = rand.Read(id[:])
	l := &Limiter{
		rdb:      rdb,
		rl:       redis_rate.NewLimiter(rdb),
		gcraKey:  ks.key("rate"),
		paceKey:  ks.key("pace"),
		liveKey:  ks.key("live"),
		id:       hex.EncodeToString(id[:]),
		ceiling:  perSecond,
		floor:    min(1, perSecond),
		burst:    burst,
		fbRate:   o.fallbackRate,
		fbBurst:  o.fallbackBurst,
		coldRate: sfmc.NewPaceController(math.Inf(1)).Rate(),
		timeout:  o.timeout,
		g:        guard{retry: o.retryInterval},
		turn:     make(chan struct{}, 1),
		ctl:      sfmc.NewPaceController(perSecond),
		live:     1,
	}
	l.local = rate.NewLimiter(rate.Limit(l.ctl.Rate()), sfmc.BurstFor(l.ctl.Rate(), burst))
	return l, nil
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
	return l.waitLocal(ctx)
}

// waitShared waits for the fleet's limiter; false when Redis is
// unavailable and the local limiter must be used instead.
func (l *Limiter) waitShared(ctx context.Context) (bool, error) {
	for {
		if !l.g.available() {
			l.fallback()
			return false, nil
		}
		if err := l.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			l.failed("pace", err)
			return false, nil
		}
		l.mu.Lock()
		limit := gcraLimit(l.pace, sfmc.BurstFor(l.pace, l.burst))
		l.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, l.timeout)
		res, err := l.rl.Allow(cctx, l.gcraKey, limit)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			l.failed("rate limiter", err)
			return false, nil
		}
		l.g.ok()
		if res.Allowed > 0 {
			return true, nil
		}
		// Demand exceeds the pace: a clean round may raise it.
		l.mu.Lock()
		l.ctl.Saturated()
		l.mu.Unlock()
		t := time.NewTimer(max(res.RetryAfter, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return true, ctx.Err()
		case <-t.C:
		}
	}
}

// gcraLimit is redis_rate's limit for perSecond requests per second: the
// same emission interval over 1000 s, so that fractional rates work.
func gcraLimit(perSecond float64, burst int) redis_rate.Limit {
	return redis_rate.Limit{Rate: max(1, int(math.Round(perSecond*1000))), Burst: max(burst, 1), Period: 1000 * time.Second}
}

// waitLocal waits for the local limiter (Redis is unavailable).
func (l *Limiter) waitLocal(ctx context.Context) error {
	l.fallback()
	l.mu.Lock()
	if l.local.TokensAt(time.Now()) < 1 && l.fb != nil {
		l.fb.Saturated()
	}
	l.mu.Unlock()
	return l.local.Wait(ctx)
}

// sync marks the process live when that is due, and reads the fleet's
// pace when the one it holds is older than paceCache (or it is on local
// state: then Redis is back, and the fleet's pace replaces the local one).
func (l *Limiter) sync(ctx context.Context) error {
	now := time.Now()
	l.mu.Lock()
	beat := now.Sub(l.beatAt) >= heartbeatEvery
	fresh := l.fb == nil && l.known && now.Sub(l.readAt) < paceCache
	// Should Redis hold no pace (a new fleet, or Redis lost it), this
	// process's is the fleet's; coming back from local state, its
	// local pace times the processes live.
	init, ss := l.ctl.Rate(), l.ctl.Threshold()
	if l.fb != nil {
		init = l.fb.Rate() * float64(l.live)
		ss = init
	}
	l.mu.Unlock()
	if beat {
		n, err := l.heartbeat(ctx)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.beatAt, l.live = now, max(n, 1)
		l.mu.Unlock()
	}
	if fresh {
		return nil
	}
	return l.update(ctx, paceUpdate{op: opRead, rate: init, threshold: ss})
}

// Observe implements sfmc.AdaptiveLimiter: it feeds the answer to this
// process's PaceController and applies the change it decides, if any, to
// the fleet's pace (or, on local state, to the local limiter).
func (l *Limiter) Observe(a sfmc.Answer) {
	now := time.Now()
	l.mu.Lock()
	if l.fb != nil {
		if r, changed := l.fb.Observe(now, a); changed {
			l.local.SetLimitAt(now, rate.Limit(r))
			l.local.SetBurstAt(now, l.localBurst(r))
		}
		l.mu.Unlock()
		return
	}
	old, peak, roundStart, ss := l.ctl.Rate(), l.ctl.Peak(), l.ctl.RoundStart(), l.ctl.Threshold()
	r, changed := l.ctl.Observe(now, a)
	congestion := a.Signal == sfmc.SignalThrottled || a.Signal == sfmc.SignalBlocked
	var u paceUpdate
	switch {
	case changed && r < old:
		u = paceUpdate{op: opCut, rate: r, factor: r / old, threshold: l.ctl.Threshold(), round: max(roundMin, 2*a.RTT)}
	case changed && old > 0:
		u = paceUpdate{op: opRaise, rate: r, factor: r / old, threshold: l.ctl.Threshold(), round: now.Sub(roundStart), peak: peak, step: old >= ss}
	case congestion && now.Sub(l.toldAt) >= congestedEvery:
		// No cut of its own (one this round already), but the other
		// processes' rounds are not clean either.
		u = paceUpdate{op: opCongested, rate: r, threshold: l.ctl.Threshold()}
	default:
		l.mu.Unlock()
		return
	}
	if congestion {
		l.toldAt = now
	}
	l.mu.Unlock()
	if !l.g.available() {
		return // the next Wait falls back
	}
	if err := l.update(context.Background(), u); err != nil {
		l.failed("pace", err)
	}
}

// update runs u on the fleet's pace and makes the answer this process's
// pace.
func (l *Limiter) update(ctx context.Context, u paceUpdate) error {
	l.io.Lock()
	defer l.io.Unlock()
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	st, err := runPaceUpdate(cctx, l.rdb, l.paceKey, u, l.ceiling, l.floor)
	if err != nil {
		return err
	}

	l.g.ok()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pace, l.known, l.readAt = st.rate, true, time.Now()
	l.ctl.SetRate(st.rate)
	l.ctl.SetThreshold(st.threshold)
	if u.op == opRaise && !st.applied {
		// The fleet refused the raise (a process elsewhere saw throttling
		// in the round, or the round began before the last change): as
		// for a congested round, the peak stays where it was.
		l.ctl.SetPeak(u.peak)
	}
	l.fb = nil // back on the fleet's pace, if it was local
	return nil
}

// failed records a failed Redis call and falls back to local state.
func (l *Limiter) failed(op string, err error) {
	l.g.fail(op, err)
	l.fallback()
}

// fallback puts the process on local state, unless it is already: its
// share of the fleet's last pace, adapted by a PaceController of its own.
func (l *Limiter) fallback() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fb != nil {
		return
	}
	live := float64(max(l.live, 1))
	switch {
	case l.fbRate > 0:
		// The operator's word: the start and the most.
		l.fb = sfmc.NewPaceController(l.fbRate)
	case l.known:
		// Its share, growing from there by steps only, and never past
		// its share of the ceiling.
		share := l.pace / live
		l.fb = sfmc.NewPaceController(l.ceiling / live)
		l.fb.SetRate(share)
		l.fb.SetThreshold(share)
	default:
		// It never reached Redis: no share to take. It finds its pace
		// alone, from the cold start, up to the configured rate.
		l.fb = sfmc.NewPaceController(l.ceiling)
		l.fb.SetRate(l.coldRate)
	}
	r := l.fb.Rate()
	now := time.Now()
	l.local.SetLimitAt(now, rate.Limit(r))
	l.local.SetBurstAt(now, l.localBurst(r))
}

// localBurst is the local limiter's burst at rate r.
func (l *Limiter) localBurst(r float64) int {
	if l.fbRate > 0 {
		return l.fbBurst
	}
	return sfmc.BurstFor(r, l.burst)
}

// Rate implements sfmc.AdaptiveLimiter: the fleet's pace as this process
// last read it, or its local pace while Redis is unavailable.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.fb != nil:
		return l.fb.Rate()
	case l.known:
		return l.pace
	}
	return l.ctl.Rate()
}

// NotifyFallback implements sfmc.FallbackNotifier: f is called when the
// Limiter falls back to its local limiter (once per Redis outage).
func (l *Limiter) NotifyFallback(f func(err error)) { l.g.notify(f) }
