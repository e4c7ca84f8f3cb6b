package sfmc

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Pauses after SFMC answers 429 with errorcode 50200 ("Your requests are
// temporarily blocked."), when the answer carries no Retry-After.
const (
	blockPauseFirst = 5 * time.Second
	blockPauseMax   = 5 * time.Minute
)

// blockPause is the pause before probe number n of a block episode (0 for
// the first pause): blockPauseFirst doubling up to blockPauseMax, with ±20%
// jitter so that a fleet's processes do not probe in step.
func blockPause(n int) time.Duration {
	d := blockPauseFirst
	for i := 0; i < n && d < blockPauseMax; i++ {
		d *= 2
	}
	d = min(d, blockPauseMax)
	return d - d/5 + rand.N(2*d/5+1)
}

// block follows SFMC's 50200 blocks of one client. SFMC blocks a caller
// whose (concurrent) load hurts it, for a time it does not say; the client
// then pauses every request (through the shared Cooldown, so a fleet on
// redisstore pauses as a whole), for Retry-After when the answer gives one,
// else for a growing pause (blockPause), and afterwards sends one probe at a
// time until an answer other than 50200 ends the episode. The pacer lowers
// the rate (cutBlocked) and with it the Upserter's concurrency.
type block struct {
	cooldown Cooldown

	mu      sync.Mutex
	active  bool   // an episode is on: pausing or probing
	episode uint64 // number of the current or last episode
	level   int    // probes answered 50200 in this episode
	probe   chan struct{}
}

func newBlock(cd Cooldown) *block {
	return &block{cooldown: cd, probe: make(chan struct{}, 1)}
}

// admit is called before an attempt, after the cool-down: while an episode
// is on, only one attempt (the probe) is in flight at a time. It returns
// whether this attempt is the probe (release it with answered).
func (b *block) admit(ctx context.Context) (probe bool, err error) {
	b.mu.Lock()
	active := b.active
	b.mu.Unlock()
	if !active {
		return false, nil
	}
	select {
	case b.probe <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	b.mu.Lock()
	still := b.active
	b.mu.Unlock()
	if !still { // the episode ended while this attempt waited
		<-b.probe
		return false, nil
	}
	// The pause may have been extended while this attempt waited its
	// turn: wait it out before probing.
	if err := b.cooldown.Wait(ctx); err != nil {
		<-b.probe
		return false, err
	}
	return true, nil
}

// answered records the answer to an attempt; probe is what admit returned.
// A 50200 answer starts an episode, or, for a probe, grows the pause; a
// probe's other answer (even an error) ends the episode. Answers to
// requests sent before the episode began say nothing about its end. It
// returns the episode number and whether this answer started it.
func (b *block) answered(probe bool, k answerClass, retryAfter time.Duration) (episode uint64, started bool) {
	if probe {
		defer func() { <-b.probe }()
	}
	if k == classNotSent || k == classCanceled {
		return 0, false // says nothing about the block
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k != classBlocked {
		if b.active && probe {
			b.active, b.level = false, 0
		}
		return b.episode, false
	}
	switch {
	case !b.active:
		b.active, b.level = true, 0
		b.episode++
		started = true
	case probe:
		b.level++
	default:
		// Sent before the pause began: part of the same block.
		return b.episode, false
	}
	pause := retryAfter
	if pause <= 0 {
		pause = blockPause(b.level)
	}
	b.cooldown.Extend(time.Now().Add(pause))
	return b.episode, started
}

// current returns the number of the current or last episode and whether it
// is still on.
func (b *block) current() (episode uint64, active bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.episode, b.active
}
