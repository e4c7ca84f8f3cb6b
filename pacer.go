package sfmc

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacing defaults. SFMC publishes no per-second limit, so the client finds
// the tenant's pace itself: AIMD on a token-bucket limiter, with slow start,
// the way TCP finds a path's capacity.
const (
	// initialRate is where the pace starts when no rate is configured.
	initialRate = 20.0
	// minRate is the floor the pace never goes below (unless a lower
	// ceiling is configured): a failing tenant still gets a probe a second.
	minRate = 1.0
	// A pacing round lasts at least roundMin and two round trips, and
	// until roundAnswers answers are in (at most roundMax): one decision
	// per round.
	roundMin     = 100 * time.Millisecond
	roundMax     = time.Second
	roundAnswers = 4
	// cutThrottled and cutBlocked are the multiplicative decreases on a 429
	// or 503, and on a 50200 block; cutFailing the one per round while most
	// answers fail.
	cutThrottled = 0.85
	cutBlocked   = 0.5
	cutFailing   = 0.5
	// stepShare is the additive increase per stepEvery of clean rounds, as
	// a share of the peak rate: back to the peak from a throttling cut in
	// about 1.25 s, whatever the round length.
	stepShare = 0.03
	stepEvery = 250 * time.Millisecond
	// peakHalfLife is how fast the remembered peak rate fades while the
	// rate stays below it.
	peakHalfLife = time.Minute
)

// aimd is the pacer's arithmetic, free of clocks and locks so that it can be
// tested alone: the caller passes the time.
//
//   - Without a configured rate it starts at initialRate in slow start:
//     the rate doubles every round in which the limiter held requests back
//     (demand exceeds the rate) and answers were clean, until the first
//     congestion signal. A configured rate is the ceiling, and the start.
//   - A 429 or 503 multiplies the rate by cutThrottled, a 50200 block (or
//     a 429 in slow start, whose last doubling overshot) by cutBlocked; at
//     most once per round, and not again until the answers to requests
//     sent at the old rate are in (two round trips).
//   - A round in which most answers (of at least half a round's worth) are
//     failures (500, 502, 504, no answer, 429, 503) halves the rate, down
//     to the floor.
//   - Growth after a cut: slow start again while the rate is below half the
//     remembered peak (so a deep cut recovers in a few rounds), then a step
//     of stepShare of the peak per stepEvery of clean, saturated rounds.
//     The peak is the highest rate of a clean round, and a round throttled
//     by a 429 or 503 (but not mostly failing, as in an outage) sets it to
//     the rate the throttling came at: so an overshoot in slow start (a
//     tenant's burst lets a short high rate through) is not taken for the
//     tenant's pace. The rate never
//     passes the ceiling and never grows while demand is below it.
type aimd struct {
	ceiling float64 // configured maximum; +Inf when none
	floor   float64
	rate    float64

	ssthresh float64 // slow start while rate < ssthresh
	peak     float64 // highest rate of a healthy round, fading

	roundStart time.Time
	holdUntil  time.Time // no cut before this: answers still reflect the old rate

	// This round.
	answers, failures int
	congested         bool
	saturated         bool    // the limiter held a request back
	cutFrom           float64 // the rate before this round's cut, if any
}

func newAIMD(ceiling float64) aimd {
	a := aimd{ceiling: ceiling, floor: min(minRate, ceiling), ssthresh: math.Inf(1), rate: initialRate}
	if !math.IsInf(ceiling, 1) {
		// A configured rate is the operator's word for what the tenant
		// takes: start there, and go below it only when told to.
		a.rate, a.ssthresh = ceiling, ceiling
	}
	a.rate = min(max(a.rate, a.floor), a.ceiling)
	a.peak = a.rate
	return a
}

// saturate records that the limiter held a request back: demand exceeds
// the rate, so a clean round may increase it.
func (a *aimd) saturate() { a.saturated = true }

// observe records one answer (its signal) at now; latency is the client's
// current round-trip estimate. It reports whether the rate changed.
func (a *aimd) observe(now time.Time, sig Signal, latency time.Duration) bool {
	congestion := sig == SignalThrottled || sig == SignalBlocked
	switch {
	case congestion || sig == SignalFailure:
		a.answers++
		a.failures++
	case sig == SignalSuccess:
		a.answers++
	}
	changed := false
	if congestion {
		first := !a.congested // one cut per round at most
		a.congested = true
		if first && !now.Before(a.holdUntil) {
			factor := cutThrottled
			if sig == SignalBlocked || a.rate < a.ssthresh {
				// A block, or throttling in slow start, whose last
				// doubling overshot: back to about the last good rate.
				factor = cutBlocked
			}
			a.cutFrom = a.rate
			a.cut(now, factor, latency)
			changed = true
		}
	}
	return a.tick(now, latency) || changed
}

// tick ends the round once it is over and applies its increase or failure
// cut. It reports whether the rate changed.
func (a *aimd) tick(now time.Time, latency time.Duration) bool {
	if a.roundStart.IsZero() {
		a.roundStart = now
		return false
	}
	elapsed := now.Sub(a.roundStart)
	if elapsed < max(roundMin, 2*latency) || (a.answers < roundAnswers && elapsed < roundMax) {
		return false
	}
	old := a.rate
	failing := 2*a.answers >= roundAnswers && 2*a.failures > a.answers
	switch {
	case failing:
		if !now.Before(a.holdUntil) {
			a.cut(now, cutFailing, latency)
		}
	case a.congested:
		// Cut when the signal came. The rate at which the tenant pushed
		// back (in a round of mostly clean answers: throttling, not an
		// outage) is the most it takes now: the peak, for growth after
		// the cut.
		if a.cutFrom > 0 && 2*a.answers >= roundAnswers && 2*a.failures <= a.answers {
			a.peak = a.cutFrom
		}
	default:
		a.peak = max(a.peak, a.rate)
		if a.saturated && 4*a.failures <= a.answers {
			if a.rate < a.ssthresh {
				a.rate = min(a.rate*2, a.ssthresh)
			} else {
				a.rate += max(a.peak*stepShare*min(elapsed.Seconds()/stepEvery.Seconds(), 4), 0.5)
			}
		}
	}
	a.rate = min(max(a.rate, a.floor), a.ceiling)
	// The peak fades while the rate stays below it.
	a.peak = max(a.rate, a.peak*math.Exp2(-elapsed.Seconds()/peakHalfLife.Seconds()))
	a.answers, a.failures, a.congested, a.saturated, a.cutFrom = 0, 0, false, false, 0
	a.roundStart = now
	return a.rate != old
}

// cut multiplies the rate by factor, sets where slow start ends (half the
// peak, or the new rate when that is higher), and holds further cuts until
// the answers to requests sent at the old rate are in.
func (a *aimd) cut(now time.Time, factor float64, latency time.Duration) {
	a.rate = min(max(a.rate*factor, a.floor), a.ceiling)
	a.ssthresh = max(a.rate, a.peak/2)
	a.holdUntil = now.Add(max(roundMin, 2*latency))
}

// PaceController is the client's pacing arithmetic (slow start, then AIMD;
// see WithRateLimit), exported for AdaptiveLimiter implementations that
// keep one pace for several processes, such as redisstore.Limiter: each
// process feeds it its own answers and shares the rate it arrives at. It
// reads no clock (Observe takes the time) and is not safe for concurrent
// use.
type PaceController struct{ a aimd }

// NewPaceController returns a controller whose rate never exceeds ceiling
// (math.Inf(1) for none: it then starts at 20 requests per second in slow
// start; with a ceiling it starts at the ceiling).
func NewPaceController(ceiling float64) *PaceController {
	if !(ceiling > 0) {
		ceiling = math.Inf(1)
	}
	return &PaceController{a: newAIMD(ceiling)}
}

// Observe feeds the answer to one attempt, received at now, and returns
// the rate in requests per second and whether this answer changed it.
func (p *PaceController) Observe(now time.Time, a Answer) (rate float64, changed bool) {
	changed = p.a.observe(now, a.Signal, a.RTT)
	return p.a.rate, changed
}

// Saturated records that the limiter held a request back (demand exceeds
// the rate): only then may a clean round raise the rate.
func (p *PaceController) Saturated() { p.a.saturate() }

// Rate returns the current rate in requests per second.
func (p *PaceController) Rate() float64 { return p.a.rate }

// SetRate makes r the current rate, kept between the floor and the
// ceiling: for example the fleet's rate, read from a shared store. A rate
// above the remembered peak raises the peak.
func (p *PaceController) SetRate(r float64) {
	if r != r || r <= 0 {
		return
	}
	p.a.rate = min(max(r, p.a.floor), p.a.ceiling)
	p.a.peak = max(p.a.peak, p.a.rate)
}

// Threshold returns the rate at which slow start ends: below it a clean,
// saturated round doubles the rate; from it the rate grows by additive
// steps. It is +Inf until the first cut when no ceiling is configured.
func (p *PaceController) Threshold() float64 { return p.a.ssthresh }

// SetThreshold makes s the rate at which slow start ends (see Threshold),
// for example a fleet's, read from a shared store, so that every process
// leaves slow start when one of them was cut. Values <= 0 or NaN are
// ignored; +Inf restores slow start until the next cut.
func (p *PaceController) SetThreshold(s float64) {
	if s != s || s <= 0 {
		return
	}
	p.a.ssthresh = s
}

// Peak returns the remembered peak: the highest rate of a healthy round,
// fading (half-life one minute) while the rate stays below it. The
// additive step and where slow start ends after a cut follow it.
func (p *PaceController) Peak() float64 { return p.a.peak }

// SetPeak sets the remembered peak, never below the current rate: for
// example back to what it was before a round whose increase a shared pace
// refused, since the rate never got there. Values <= 0 or NaN are ignored.
func (p *PaceController) SetPeak(r float64) {
	if r != r || r <= 0 {
		return
	}
	p.a.peak = max(r, p.a.rate)
}

// RoundStart returns when the current pacing round began (zero before the
// first answer). Read before Observe, it tells how long the round that
// Observe ends lasted: a shared pace uses it to accept a round's increase
// only when the whole round ran at the current shared rate.
func (p *PaceController) RoundStart() time.Time { return p.a.roundStart }

// pacer is the client's default adaptive Limiter: an x/time/rate token
// bucket whose rate aimd sets from the answers the transport reports.
type pacer struct {
	mu    sync.Mutex
	ctl   PaceController
	burst int // fixed burst, or 0 to derive it from the rate
	lim   *rate.Limiter
}

func newPacer(ceiling float64, burst int) *pacer {
	p := &pacer{ctl: *NewPaceController(ceiling), burst: burst}
	p.lim = rate.NewLimiter(rate.Limit(p.ctl.Rate()), BurstFor(p.ctl.Rate(), burst))
	return p
}

// BurstFor is the limiter burst the client uses at rate r: fixed when
// fixed > 0 (WithRateLimit's), else a few requests, so that a timer firing
// late does not lose throughput for good (measured: ~92% of R with a burst
// of 1, ~99% with 5), but never a large burst at once: r/20, between 1 and
// 10.
func BurstFor(r float64, fixed int) int {
	if fixed > 0 {
		return fixed
	}
	return int(min(max(r/20, 1), 10))
}

// Wait blocks until one more request may be sent.
func (p *pacer) Wait(ctx context.Context) error {
	now := time.Now()
	p.mu.Lock()
	if p.lim.TokensAt(now) < 1 {
		p.ctl.Saturated()
	}
	p.mu.Unlock()
	return p.lim.Wait(ctx)
}

// observe feeds one answer to the AIMD arithmetic.
func (p *pacer) observe(k answerClass, latency time.Duration) {
	now := time.Now()
	p.mu.Lock()
	if r, changed := p.ctl.Observe(now, Answer{Signal: signalOf(k), RTT: latency}); changed {
		p.lim.SetLimitAt(now, rate.Limit(r))
		p.lim.SetBurstAt(now, BurstFor(r, p.burst))
	}
	p.mu.Unlock()
}

// Rate returns the current pace in requests per second.
func (p *pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ctl.Rate()
}
