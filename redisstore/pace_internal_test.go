package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paceRedis returns a client of the test Redis (SFMC_TEST_REDIS_ADDR;
// skipped without it, failed under CI) and a fresh key, deleted at cleanup.
func paceRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("SFMC_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SFMC_TEST_REDIS_ADDR is not set (CI is set: not skipping)")
		}
		t.Skip("SFMC_TEST_REDIS_ADDR is not set")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "sfmctest-" + hex.EncodeToString(b[:]) + ":pace"
	t.Cleanup(func() {
		_ = rdb.Del(context.Background(), key).Err()
		_ = rdb.Close()
	})
	return rdb, key
}

// TestPaceScriptOncePerRound: N processes that see the same congestion
// each propose their cut at once; the fleet's pace is cut once, and every
// process gets the cut pace and the new slow-start threshold back. A
// further cut within the hold is refused; after it, applied.
func TestPaceScriptOncePerRound(t *testing.T) {
	t.Parallel()
	rdb, key := paceRedis(t)
	ctx := context.Background()
	inf := math.Inf(1)
	st, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRead, rate: 200, threshold: inf}, inf, 1)
	require.NoError(t, err)
	assert.Equal(t, paceState{rate: 200, threshold: inf}, st, "created from the first process's rate")

	const procs = 8
	var wg sync.WaitGroup
	got := make([]paceState, procs)
	for i := range procs {
		wg.Go(func() {
			s, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opCut, rate: 170, factor: 0.85, threshold: 100, round: 300 * time.Millisecond}, inf, 1)
			assert.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	applied := 0
	for _, s := range got {
		if s.applied {
			applied++
		}
		assert.InDelta(t, 170, s.rate, 1e-9, "every process gets the one cut")
		assert.InDelta(t, 170, s.threshold, 1e-9, "slow start ends at the cut pace (its threshold is max(rate, proposed))")
	}
	assert.Equal(t, 1, applied, "one cut for %d processes", procs)

	time.Sleep(450 * time.Millisecond) // past the hold: 300 ms, and paceCache for the cut to reach every process
	st, err = runPaceUpdate(ctx, rdb, key, paceUpdate{op: opCut, factor: 0.5, threshold: 50, round: 100 * time.Millisecond}, inf, 1)
	require.NoError(t, err)
	assert.True(t, st.applied, "a cut after the hold")
	assert.InDelta(t, 85, st.rate, 1e-9)
}

// TestPaceScriptRaiseOncePerRound: a raise counts only when the round it
// rests on ran wholly at the current pace (it began at least paceCache
// after the last change, by when every process had it) and was clean
// fleet-wide (no process reported throttling during it): N processes
// whose rounds overlap the last change raise the fleet once. Raises stop
// at the ceiling.
func TestPaceScriptRaiseOncePerRound(t *testing.T) {
	t.Parallel()
	rdb, key := paceRedis(t)
	ctx := context.Background()
	const ceiling = 150.0
	st, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRead, rate: 20, threshold: math.Inf(1)}, ceiling, 1)
	require.NoError(t, err)
	require.Equal(t, 20.0, st.rate)
	raise := func(factor float64, round time.Duration) paceState {
		t.Helper()
		s, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRaise, rate: 40, factor: factor, threshold: math.Inf(1), round: round}, ceiling, 1)
		require.NoError(t, err)
		return s
	}
	time.Sleep(250 * time.Millisecond)
	assert.False(t, raise(2, 200*time.Millisecond).applied, "the round began before the pace reached every process")

	// 4 processes end rounds of 140 ms, all begun paceCache after the creation.
	time.Sleep(100 * time.Millisecond)
	var applied []bool
	for range 4 {
		s := raise(2, 140*time.Millisecond)
		applied = append(applied, s.applied)
		assert.Equal(t, 40.0, s.rate, "doubled once")
		assert.True(t, math.IsInf(s.threshold, 1), "still in slow start")
	}
	assert.Equal(t, []bool{true, false, false, false}, applied)

	// A round that began before that raise does not count; one that
	// began after it (and paceCache more) does.
	time.Sleep(250 * time.Millisecond)
	assert.False(t, raise(2, 300*time.Millisecond).applied, "round overlapped the last raise")
	s := raise(2, 140*time.Millisecond)
	assert.True(t, s.applied)
	assert.Equal(t, 80.0, s.rate)

	// Throttling seen by any process spoils the rounds running then.
	time.Sleep(250 * time.Millisecond)
	_, err = runPaceUpdate(ctx, rdb, key, paceUpdate{op: opCongested, rate: 80, threshold: math.Inf(1)}, ceiling, 1)
	require.NoError(t, err)
	assert.False(t, raise(2, 140*time.Millisecond).applied, "another process saw a 429 in the round")
	time.Sleep(150 * time.Millisecond)
	s = raise(4, 140*time.Millisecond)
	assert.True(t, s.applied, "a clean round after it")
	assert.Equal(t, ceiling, s.rate, "the ceiling bounds it")

	// A cut restarts the round: a raise resting on a round that began
	// before it is refused.
	c, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opCut, factor: 0.85, threshold: 75, round: 100 * time.Millisecond}, ceiling, 1)
	require.NoError(t, err)
	require.True(t, c.applied)
	assert.Equal(t, 127.5, c.rate)
	assert.Equal(t, 127.5, c.threshold, "slow start ends at the cut pace or the proposed threshold, whichever is higher")
	assert.False(t, raise(1.1, time.Second).applied)

	ttl, err := rdb.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.InDelta(t, paceTTL.Seconds(), ttl.Seconds(), 5, "the pace expires when the fleet is idle")
}

// TestPaceScriptFloor: cuts stop at the floor.
func TestPaceScriptFloor(t *testing.T) {
	t.Parallel()
	rdb, key := paceRedis(t)
	ctx := context.Background()
	st, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opCut, rate: 0.5, factor: 0.5, threshold: 0.5, round: time.Millisecond}, math.Inf(1), 1)
	require.NoError(t, err)
	assert.True(t, st.applied)
	assert.Equal(t, 1.0, st.rate, "the floor")
}

// TestPaceScriptStepScaledToFleetRound: an additive step grows with the
// time since the fleet's last change (the fleet's round), not the
// proposer's shorter round, so the fleet grows as fast as one client; a
// slow-start doubling is not scaled.
func TestPaceScriptStepScaledToFleetRound(t *testing.T) {
	t.Parallel()
	rdb, key := paceRedis(t)
	ctx := context.Background()
	inf := math.Inf(1)
	_, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRead, rate: 100, threshold: 50}, inf, 1)
	require.NoError(t, err)
	time.Sleep(400 * time.Millisecond)
	st, err := runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRaise, factor: 1.01, round: 100 * time.Millisecond, step: true}, inf, 1)
	require.NoError(t, err)
	require.True(t, st.applied)
	// 1 step per 100 ms of the process's round, over 400-460 ms of the fleet's.
	assert.GreaterOrEqual(t, st.rate, 104.0)
	assert.LessOrEqual(t, st.rate, 104.7)

	time.Sleep(400 * time.Millisecond)
	st, err = runPaceUpdate(ctx, rdb, key, paceUpdate{op: opRaise, factor: 2, round: 100 * time.Millisecond}, inf, 1)
	require.NoError(t, err)
	require.True(t, st.applied)
	assert.InDelta(t, 2*104.0, st.rate, 1.5, "a doubling is a doubling")
}
