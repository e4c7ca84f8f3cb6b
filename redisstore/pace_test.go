package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/redisstore"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLimiterCutsOncePerRound: 4 processes sharing one pace all see a 429
// at once; the fleet's pace is cut once (×0.85), not 4 times, and all four
// take the cut pace.
func TestLimiterCutsOncePerRound(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "cut"}
	ls := newLimiters(t, rdb, cfg, 4, 100, 5, redisstore.WithPrefix(prefix))
	for _, l := range ls {
		require.NoError(t, l.Wait(context.Background()))
		assert.Equal(t, 100.0, l.Rate(), "a configured rate is the start")
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { l.Observe(sfmc.Answer{Signal: sfmc.SignalThrottled, RTT: time.Millisecond}) })
	}
	wg.Wait()
	for i, l := range ls {
		assert.InDelta(t, 85, l.Rate(), 1e-9, "limiter %d: one cut for the fleet", i)
	}
	v, err := rdb.HGet(context.Background(), prefix+":cid:cut:pace", "rate").Float64()
	require.NoError(t, err)
	assert.InDelta(t, 85, v, 1e-9)
}

// TestLimiterRaisesOncePerRound: without a configured rate 4 processes
// start at the cold start (20/s), all held back by the shared limiter and
// answered cleanly; each ends a round that asks to double the pace. The
// fleet doubles once: the first raise counts, the others rest on rounds
// that began before it. (This also checks a refused raise leaves no trace:
// a process whose raise was refused holds the fleet's pace, not its own.)
func TestLimiterRaisesOncePerRound(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "raise"}
	ls := newLimiters(t, rdb, cfg, 4, math.Inf(1), 0, redisstore.WithPrefix(prefix))
	ctx := context.Background()
	ok := sfmc.Answer{Signal: sfmc.SignalSuccess, RTT: time.Millisecond}
	for _, l := range ls {
		require.NoError(t, l.Wait(ctx))
		assert.Equal(t, 20.0, l.Rate(), "the cold start")
	}
	time.Sleep(150 * time.Millisecond) // every process has the pace now
	for _, l := range ls {             // every round starts now
		l.Observe(ok)
	}
	for _, l := range ls { // held back at 20/s: demand exceeds the pace
		require.NoError(t, l.Wait(ctx))
		require.NoError(t, l.Wait(ctx))
	}
	for _, l := range ls { // 4 clean answers, over 100 ms: the round ends
		for range 3 {
			l.Observe(ok)
		}
	}
	for i, l := range ls {
		assert.Equal(t, 40.0, l.Rate(), "limiter %d: doubled once for the fleet", i)
	}
	v, err := rdb.HGet(ctx, prefix+":cid:raise:pace", "rate").Float64()
	require.NoError(t, err)
	assert.Equal(t, 40.0, v)
}

// TestFallbackShareOfLiveProcesses: the heartbeat counts the processes
// live in the last 10 s (a member last seen 11 s ago is dropped), and when
// Redis goes away each process paces itself at the fleet's pace divided
// by the count it last saw, adapting from there; when Redis is back (empty)
// the fleet's pace is rebuilt from the local ones.
func TestFallbackShareOfLiveProcesses(t *testing.T) {
	t.Parallel()
	proc := startRedis(t, 0)
	rdb := newRedis(t, proc.addr)
	ctx := context.Background()
	cfg := sfmc.Config{ClientID: "cid", AccountID: "share"}
	live := "sfmc:cid:share:live"
	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	require.NoError(t, rdb.ZAdd(ctx, live,
		redis.Z{Score: float64(now.Add(-11 * time.Second).UnixMilli()), Member: "gone"},
		redis.Z{Score: float64(now.Add(-time.Second).UnixMilli()), Member: "other"}).Err())

	ls := newLimiters(t, rdb, cfg, 3, 120, 5, redisstore.WithRetryInterval(100*time.Millisecond), redisstore.WithTimeout(300*time.Millisecond))
	for _, l := range ls {
		require.NoError(t, l.Wait(ctx)) // each sees the ones before it, "other" and itself
	}
	members, err := rdb.ZRange(ctx, live, 0, -1).Result()
	require.NoError(t, err)
	assert.Len(t, members, 4, "three limiters and the other process")
	assert.NotContains(t, members, "gone", "not seen for 11 s")

	proc.stop()
	for i, l := range ls {
		require.NoError(t, l.Wait(ctx))
		assert.InDelta(t, 120/float64(i+2), l.Rate(), 1e-9, "limiter %d: its share of the fleet's 120/s", i)
	}
	// It adapts locally: a 429 cuts its own pace.
	ls[2].Observe(sfmc.Answer{Signal: sfmc.SignalThrottled, RTT: time.Millisecond})
	assert.InDelta(t, 30*0.85, ls[2].Rate(), 1e-9)

	startRedis(t, proc.port) // back, empty
	time.Sleep(150 * time.Millisecond)
	require.NoError(t, ls[2].Wait(ctx))
	assert.InDelta(t, 30*0.85*4, ls[2].Rate(), 1e-9, "the fleet's pace again, rebuilt from its local pace × 4 live")
	for _, l := range ls[:2] {
		require.NoError(t, l.Wait(ctx))
		assert.InDelta(t, 30*0.85*4, l.Rate(), 1e-9, "the others take it")
	}
}

// TestFallbackWithoutFleet: a process that never reached Redis has no
// share to take: it finds its pace alone from the cold start (20/s), up
// to the configured rate; WithFallbackRate overrides that.
func TestFallbackWithoutFleet(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rdb := newRedis(t, addr)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "alone"}
	l, err := redisstore.NewLimiter(rdb, cfg, 500, 5)
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background()))
	assert.Equal(t, 20.0, l.Rate())

	l, err = redisstore.NewLimiter(rdb, cfg, 500, 5, redisstore.WithFallbackRate(30, 2))
	require.NoError(t, err)
	require.NoError(t, l.Wait(context.Background()))
	assert.Equal(t, 30.0, l.Rate())
	l.Observe(sfmc.Answer{Signal: sfmc.SignalThrottled, RTT: time.Millisecond})
	assert.InDelta(t, 25.5, l.Rate(), 1e-9, "and adapts below it")
}

func newLimiters(t *testing.T, rdb *redis.Client, cfg sfmc.Config, n int, perSecond float64, burst int, opts ...redisstore.Option) []*redisstore.Limiter {
	t.Helper()
	var ls []*redisstore.Limiter
	for range n {
		l, err := redisstore.NewLimiter(rdb, cfg, perSecond, burst, opts...)
		require.NoError(t, err)
		ls = append(ls, l)
	}
	return ls
}

// fleetRun is a push by several pods (separate clients with separate
// redisstore components) against one simulated tenant.
type fleetRun struct {
	pods        int
	limit       float64       // the tenant's limit R
	rate        float64       // the fleet's configured rate; math.Inf(1) for none
	dur         time.Duration // how long the pods add contacts
	killAt      time.Duration // when the test's own Redis is killed; 0: never (the shared test Redis)
	tenantBurst int
}

// fleetResult is what the simulator saw, from its request log.
type fleetResult struct {
	sent, ok, throttled int     // PATCHes over the whole run, 2xx, 429
	aggregate           float64 // PATCHes per second from the first to the last
	achieved            float64 // 2xx per second over the pushing window
	outage              float64 // PATCHes per second from the kill to the end of pushing
	perPod              []float64
	rates               [][]float64 // each pod's Stats().Rate, sampled every 200 ms
	final               []float64   // each pod's Stats().Rate after the run
	timeline            []string    // requests/429s in each second of the run
	added               int
	out                 *outcomes
}

func runFleet(t *testing.T, fr fleetRun) fleetResult {
	t.Helper()
	var (
		rdb  *redis.Client
		proc *redisProc
	)
	if fr.killAt > 0 {
		proc = startRedis(t, 0)
		rdb = newRedis(t, proc.addr)
	} else {
		rdb = newRedis(t, redisAddr(t))
	}
	prefix := testPrefix(t, rdb)
	srv := newSim(t, sfmctest.WithRateLimit(fr.limit, fr.tenantBurst), sfmctest.WithRequestLogSize(int(fr.limit*(fr.dur.Seconds()+10)*3)))
	res := fleetResult{out: newOutcomes()}
	var us []*sfmc.Upserter
	var ls []*redisstore.Limiter
	cfg := srv.Config()
	for range fr.pods {
		opts := []redisstore.Option{redisstore.WithPrefix(prefix), redisstore.WithRetryInterval(250 * time.Millisecond), redisstore.WithTimeout(500 * time.Millisecond)}
		lim, err := redisstore.NewLimiter(rdb, cfg, fr.rate, 5, opts...)
		require.NoError(t, err)
		fleet := []sfmc.Option{sfmc.WithTokenStore(redisstore.NewTokenStore(rdb, cfg, opts...)),
			sfmc.WithLimiter(lim), sfmc.WithCooldown(redisstore.NewCooldown(rdb, cfg, opts...))}
		u, err := sfmc.NewUpserter(newFleetClient(t, srv, fleet), sfmc.UpserterConfig{QueueSize: 64, OnResult: res.out.add})
		require.NoError(t, err)
		us = append(us, u)
		ls = append(ls, lim)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), fr.dur)
	defer cancel()
	var killed time.Time
	var wg sync.WaitGroup
	if proc != nil {
		wg.Go(func() {
			select {
			case <-time.After(fr.killAt):
				killed = time.Now()
				proc.stop()
			case <-ctx.Done():
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				var s []float64
				for _, u := range us {
					s = append(s, u.Stats().Rate)
				}
				res.rates = append(res.rates, s)
			}
		}
	})
	added := make([]int, len(us))
	for i, u := range us {
		wg.Go(func() {
			for n := 0; ; n++ {
				if err := u.Add(ctx, contact(fmt.Sprintf("P%d-%d", i, n))); err != nil {
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					added[i] = n
					break
				}
			}
			assert.NoError(t, u.Close(context.Background()))
		})
	}
	wg.Wait()
	pushEnd := start.Add(fr.dur)
	for i, u := range us {
		res.added += added[i]
		res.perPod = append(res.perPod, float64(u.Stats().Requests)/time.Since(start).Seconds())
	}
	if proc == nil {
		// Once each has read the pace again (past its cache), they hold
		// the one pace.
		time.Sleep(150 * time.Millisecond)
		for _, l := range ls {
			require.NoError(t, l.Wait(context.Background()))
		}
		for _, u := range us {
			res.final = append(res.final, u.Stats().Rate)
		}
	}

	var first, last time.Time
	okIn, outageN := 0, 0
	for _, q := range srv.Requests() {
		if q.Method != http.MethodPatch {
			continue
		}
		res.sent++
		switch q.Status {
		case http.StatusOK:
			res.ok++
			if q.Time.Before(pushEnd) {
				okIn++
			}
		case http.StatusTooManyRequests:
			res.throttled++
		}
		if !killed.IsZero() && !q.Time.Before(killed) && q.Time.Before(pushEnd) {
			outageN++
		}
		if first.IsZero() || q.Time.Before(first) {
			first = q.Time
		}
		if q.Time.After(last) {
			last = q.Time
		}
	}
	require.Greater(t, res.sent, 1)
	// The timeline, per second: requests/429s.
	per := map[int][2]int{}
	for _, q := range srv.Requests() {
		if q.Method == http.MethodPatch {
			s := int(q.Time.Sub(first) / time.Second)
			c := per[s]
			c[0]++
			if q.Status == http.StatusTooManyRequests {
				c[1]++
			}
			per[s] = c
		}
	}
	for s := range len(per) {
		res.timeline = append(res.timeline, fmt.Sprintf("%d/%d", per[s][0], per[s][1]))
	}
	res.aggregate = float64(res.sent-1) / last.Sub(first).Seconds()
	res.achieved = float64(okIn) / pushEnd.Sub(first).Seconds()
	if !killed.IsZero() {
		res.outage = float64(outageN) / pushEnd.Sub(killed).Seconds()
	}
	return res
}

// checkOutcomes asserts one outcome, a success, per contact added.
func (res fleetResult) checkOutcomes(t *testing.T) {
	t.Helper()
	assert.Equal(t, res.added, res.out.count(), "one outcome per contact")
	assert.Len(t, res.out.byKey, res.added)
	for k, v := range res.out.byKey {
		if v != 1 {
			t.Errorf("%s: %d outcomes", k, v)
		}
	}
	assert.Empty(t, res.out.failures)
}

func (res fleetResult) String() string {
	pods := make([]string, len(res.perPod))
	for i, r := range res.perPod {
		pods[i] = fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%d requests (%d 429s, %.2f%%), aggregate %.1f/s, 2xx while pushing %.1f/s, per pod %v/s, %d contacts; requests/429s per second %v",
		res.sent, res.throttled, 100*float64(res.throttled)/float64(res.sent), res.aggregate, res.achieved, pods, res.added, res.timeline)
}

// TestFleetRedisKilled: 4 pods against a tenant limit R = 200/s, Redis
// killed 2.5 s into a 7 s push, with a fleet rate just under R and without
// any. Each pod falls back to its share of the fleet's pace (not the whole
// rate, which sent 316% of R before) and adapts from there: the aggregate
// stays under 1.1·R over the run and during the outage, and every contact
// gets exactly one outcome.
func TestFleetRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 17 s")
	}
	const r = 200
	for _, rate := range []float64{0.97 * r, math.Inf(1)} {
		t.Run(fmt.Sprintf("rate=%v", rate), func(t *testing.T) {
			res := runFleet(t, fleetRun{pods: 4, limit: r, rate: rate, dur: 7 * time.Second, killAt: 2500 * time.Millisecond, tenantBurst: 5})
			t.Logf("4 pods, R = %d/s, fleet rate %v/s, Redis killed at 2.5 s of 7: %v; aggregate %.3f·R over the run, %.3f·R during the outage",
				r, rate, res, res.aggregate/r, res.outage/r)
			res.checkOutcomes(t)
			assert.LessOrEqual(t, res.aggregate, 1.1*r, "aggregate over the run")
			assert.LessOrEqual(t, res.outage, 1.1*r, "aggregate during the outage")
			assert.Greater(t, res.outage, 0.5*r, "the pods went on at their shares")
		})
	}
}

// TestFleetLearnsSharedPace: 4 pods without a configured rate share the
// pace they learn from a cold start against R = 200/s: together they reach
// at least 0.85·R over a 20 s push with at most 5% of requests answered
// 429, and their Stats().Rate agree (one pace): while running (each
// rereads the pace every 100 ms, so a sample taken just after a change
// may differ) and exactly after the run.
func TestFleetLearnsSharedPace(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 21 s")
	}
	const r = 200
	res := runFleet(t, fleetRun{pods: 4, limit: r, rate: math.Inf(1), dur: 20 * time.Second, tenantBurst: 5})
	share := float64(res.throttled) / float64(res.sent)
	agree, spread := agreement(res.rates)
	t.Logf("4 pods, R = %d/s, no rate configured: %v; achieved %.3f·R, 429 share %.2f%%; Stats().Rate within 10%% of each other in %.0f%% of %d samples (median spread %.1f%%), after the run %v",
		r, res, res.achieved/r, 100*share, 100*agree, len(res.rates), 100*spread, res.final)
	res.checkOutcomes(t)
	assert.GreaterOrEqual(t, res.achieved, 0.85*r, "achieved")
	assert.LessOrEqual(t, share, 0.05, "429 share")
	assert.GreaterOrEqual(t, agree, 0.8, "the pods' rates agree while running")
	assert.LessOrEqual(t, spread, 0.01, "the pods' rates agree while running")
	for i, v := range res.final {
		assert.Equal(t, res.final[0], v, "pod %d: one pace", i)
	}
}

// agreement returns the share of samples whose rates lie within 10% of
// each other, and the median spread (max/min - 1).
func agreement(samples [][]float64) (float64, float64) {
	if len(samples) == 0 {
		return 0, 0
	}
	var spreads []float64
	within := 0
	for _, s := range samples {
		lo, hi := math.Inf(1), 0.0
		for _, v := range s {
			lo, hi = min(lo, v), max(hi, v)
		}
		spread := hi/lo - 1
		spreads = append(spreads, spread)
		if spread <= 0.1 {
			within++
		}
	}
	sort.Float64s(spreads)
	return float64(within) / float64(len(samples)), spreads[len(spreads)/2]
}
