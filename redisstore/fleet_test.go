package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/redisstore"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFleetSharesTokenAndRate runs 4 clients — separate sfmc.Clients with
// separate stores, as 4 pods would — against one tenant limit of R = 200
// requests/s, sharing one Redis. Together they must reach at least 90% of R
// (measured at the simulator from its request log), see under 1% of 429s,
// and ask for one token. It does not run in parallel with the other tests:
// starved of CPU, evenly paced requests reach the server in bunches.
func TestFleetSharesTokenAndRate(t *testing.T) {
	addr := redisAddr(t)
	if testing.Short() {
		t.Skip("takes about 6 s")
	}
	const (
		r       = 200
		clients = 4
		n       = 1200
	)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	srv := newSim(t, sfmctest.WithRateLimit(r, 20), sfmctest.WithRequestLogSize(4*n))
	out := newOutcomes()
	var us []*sfmc.Upserter
	var cs []*sfmc.Client
	for range clients {
		fleet, err := redisstore.ClientOptions(rdb, srv.Config(), r*0.97, 5, redisstore.WithPrefix(prefix))
		require.NoError(t, err)
		c := newFleetClient(t, srv, fleet)
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, OnResult: out.add})
		require.NoError(t, err)
		cs = append(cs, c)
		us = append(us, u)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, u := range us {
		wg.Go(func() {
			for j := i; j < n; j += clients {
				assert.NoError(t, u.Add(context.Background(), contact(fmt.Sprint("K", j))))
			}
			assert.NoError(t, u.Close(context.Background()))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	st := srv.Stats()
	var first, last time.Time
	patches := 0
	for _, q := range srv.Requests() {
		if q.Method != http.MethodPatch {
			continue
		}
		patches++
		if first.IsZero() || q.Time.Before(first) {
			first = q.Time
		}
		if q.Time.After(last) {
			last = q.Time
		}
	}
	require.Greater(t, patches, 1)
	achieved := float64(patches-1) / last.Sub(first).Seconds()
	share := float64(st.ByStatus[429]) / float64(st.RESTRequests)
	t.Logf("fleet of %d clients, tenant limit %d/s: %d contacts in %v; achieved %.1f requests/s at the tenant (%.1f%% of R); %d requests, %d 429s (%.2f%%); %d token requests",
		clients, r, n, elapsed.Round(time.Millisecond), achieved, 100*achieved/r, st.RESTRequests, st.ByStatus[429], 100*share, st.TokenRequests)

	assert.Equal(t, n, out.count(), "one outcome per contact")
	assert.Empty(t, out.failures)
	assert.Less(t, share, 0.01, "429 share")
	assert.Equal(t, int64(1), st.TokenRequests, "one token for the fleet")
	assert.GreaterOrEqual(t, achieved, 0.9*r, "aggregate rate")
	for _, c := range cs {
		assert.NoError(t, c.SharedStateErr())
	}
}

// TestNoSecretInRedis checks every key and value the fleet writes.
func TestNoSecretInRedis(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	srv := newSim(t, sfmctest.WithFaultRate(sfmctest.Fault429, 0.2), sfmctest.WithRetryAfter(20*time.Millisecond))
	fleet, err := redisstore.ClientOptions(rdb, srv.Config(), 100, 5, redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	c := newFleetClient(t, srv, fleet)
	for i := range 10 {
		_, err := c.Contacts.Upsert(context.Background(), contact(fmt.Sprint("S", i)))
		require.NoError(t, err)
	}
	require.Positive(t, srv.Stats().ByStatus[429], "a 429 sets the shared cool-down")
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*"+prefix+"*").Result()
	require.NoError(t, err)
	cfg := srv.Config()
	_, secret := srv.Credentials()
	require.NotEmpty(t, secret)
	want := fmt.Sprintf("%s:%s:%s:token", prefix, cfg.ClientID, cfg.AccountID)
	assert.Contains(t, keys, want)
	assert.Contains(t, keys, "rate:"+fmt.Sprintf("%s:%s:%s:rate", prefix, cfg.ClientID, cfg.AccountID))
	base := fmt.Sprintf("%s:%s:%s", prefix, cfg.ClientID, cfg.AccountID)
	assert.Contains(t, keys, base+":pace")
	assert.Contains(t, keys, base+":live")
	for _, k := range keys {
		assert.NotContains(t, k, secret)
		v := redisValue(t, rdb, k)
		assert.NotContains(t, v, secret, "value of %s", k)
		assert.NotContains(t, strings.ToLower(v), "client_secret", "value of %s", k)
	}
	tok, err := c.TokenSource().Token()
	require.NoError(t, err)
	v, err := rdb.Get(ctx, want).Result()
	require.NoError(t, err)
	assert.Contains(t, v, tok.AccessToken, "the access token is what is shared")
	ttl, err := rdb.PTTL(ctx, want).Result()
	require.NoError(t, err)
	assert.Positive(t, ttl, "stored with its expiry")
}

// TestLeaseExpiryWhenRefresherDies: a process took the lease and died
// without releasing it; another client still gets a token once the lease
// expires.
func TestLeaseExpiryWhenRefresherDies(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	srv := newSim(t)
	dead := redisstore.NewTokenStore(rdb, srv.Config(), redisstore.WithPrefix(prefix))
	ok, err := dead.Lease(context.Background(), time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	c := newFleetClient(t, srv, []sfmc.Option{sfmc.WithTokenStore(redisstore.NewTokenStore(rdb, srv.Config(), redisstore.WithPrefix(prefix)))})
	start := time.Now()
	require.NoError(t, c.Verify(context.Background()))
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited for the lease to expire")
	assert.Equal(t, int64(1), srv.Stats().TokenRequests)
	assert.NoError(t, c.SharedStateErr())
	// The dead store's lease is gone: its Release must not delete another's.
	other := redisstore.NewTokenStore(rdb, srv.Config(), redisstore.WithPrefix(prefix))
	ok, err = other.Lease(context.Background(), 5*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, dead.Release(context.Background()))
	ok, err = dead.Lease(context.Background(), time.Second)
	require.NoError(t, err)
	assert.False(t, ok, "release by a former owner left the new lease alone")
	require.NoError(t, other.Release(context.Background()))
}

// TestTokenStoreRoundTrip stores and loads a token with its REST base.
func TestTokenStoreRoundTrip(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	srv := newSim(t)
	a := newFleetClient(t, srv, []sfmc.Option{sfmc.WithTokenStore(redisstore.NewTokenStore(rdb, srv.Config(), redisstore.WithPrefix(prefix)))})
	b := newFleetClient(t, srv, []sfmc.Option{sfmc.WithTokenStore(redisstore.NewTokenStore(rdb, srv.Config(), redisstore.WithPrefix(prefix)))})
	require.NoError(t, a.Verify(context.Background()))
	require.NoError(t, b.Verify(context.Background()))
	ta, err := a.TokenSource().Token()
	require.NoError(t, err)
	tb, err := b.TokenSource().Token()
	require.NoError(t, err)
	assert.Equal(t, ta.AccessToken, tb.AccessToken)
	assert.Equal(t, ta.Extra("rest_instance_url"), tb.Extra("rest_instance_url"))
	assert.WithinDuration(t, ta.Expiry, tb.Expiry, time.Millisecond)
	assert.Equal(t, int64(1), srv.Stats().TokenRequests)
}

func TestCooldownShared(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "1"}
	a := redisstore.NewCooldown(rdb, cfg, redisstore.WithPrefix(prefix))
	b := redisstore.NewCooldown(rdb, cfg, redisstore.WithPrefix(prefix))
	require.NoError(t, b.Wait(context.Background()), "no cool-down yet")
	until := time.Now().Add(400 * time.Millisecond)
	a.Extend(until)
	a.Extend(time.Now().Add(50 * time.Millisecond)) // never shortens
	v, err := rdb.Get(context.Background(), prefix+":cid:1:cooldown").Result()
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(until.UnixMilli(), 10), v)
	time.Sleep(20 * time.Millisecond) // past b's cache
	start := time.Now()
	require.NoError(t, b.Wait(context.Background()))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.Extend(time.Now().Add(time.Second))
	time.Sleep(20 * time.Millisecond) // past b's cache
	assert.ErrorIs(t, b.Wait(ctx), context.DeadlineExceeded, "Wait is bounded by ctx")
}

func TestLimiterShared(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "2"}
	const rate, each = 50, 15
	var ls []*redisstore.Limiter
	for range 2 {
		l, err := redisstore.NewLimiter(rdb, cfg, rate, 1, redisstore.WithPrefix(prefix))
		require.NoError(t, err)
		ls = append(ls, l)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			for range each {
				assert.NoError(t, l.Wait(context.Background()))
			}
		})
	}
	wg.Wait()
	// 2·15 requests at 50/s together: the first is free, 29 more take 0.58 s.
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "the rate is shared")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, ls[0].Wait(ctx), context.Canceled)
}

func TestNewLimiterRejectsBadRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {10, 0}, {math.NaN(), 1}, {math.Inf(-1), 1}} {
		_, err := redisstore.NewLimiter(nil, sfmc.Config{}, c.rate, c.burst)
		assert.ErrorIs(t, err, sfmc.ErrInvalidConfig)
	}
	// No rate configured: the burst follows the pace (any given is ignored).
	l, err := redisstore.NewLimiter(nil, sfmc.Config{}, math.Inf(1), 0)
	require.NoError(t, err)
	assert.Equal(t, 20.0, l.Rate(), "the cold start")
	l, err = redisstore.NewLimiter(nil, sfmc.Config{}, 150, 5)
	require.NoError(t, err)
	assert.Equal(t, 150.0, l.Rate(), "a configured rate is the start")
}

// TestFallbackWhenRedisUnreachable needs no Redis: nothing listens on the
// address, so every component falls back, says so once, and never blocks.
func TestFallbackWhenRedisUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	rdb := newRedis(t, addr)
	srv := newSim(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	fleet, err := redisstore.ClientOptions(rdb, srv.Config(), 500, 5, redisstore.WithRetryInterval(50*time.Millisecond))
	require.NoError(t, err)
	c := newFleetClient(t, srv, fleet, sfmc.WithLogger(logger))
	var alerts atomic.Int64
	out := newOutcomes()
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 4, OnResult: out.add, OnAlert: func(a sfmc.Alert) {
		if a.Kind == sfmc.AlertSharedStateUnavailable {
			alerts.Add(1)
		}
	}})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, u.Add(context.Background(), contact(fmt.Sprint("F", i))))
	}
	require.NoError(t, u.Close(context.Background()))
	assert.Equal(t, 50, out.count())
	assert.Empty(t, out.failures)
	assert.ErrorIs(t, c.SharedStateErr(), sfmc.ErrSharedStateUnavailable)
	assert.Equal(t, 1, strings.Count(logs.String(), "falling back to local state"), logs.String())
	assert.Equal(t, int64(1), alerts.Load())
	assert.Equal(t, int64(1), srv.Stats().TokenRequests)
}

// TestRedisStoppedMidRun kills the fleet's Redis while two clients push
// contacts: every contact still gets exactly one outcome (a success), and
// each client logs the fallback once and alerts once.
func TestRedisStoppedMidRun(t *testing.T) {
	t.Parallel()
	srvRedis := startRedis(t, 0)
	rdb := newRedis(t, srvRedis.addr)

	const n = 600
	srv := newSim(t, sfmctest.WithRateLimit(400, 10))
	out := newOutcomes()
	type member struct {
		c      *sfmc.Client
		u      *sfmc.Upserter
		logs   *syncBuffer
		alerts *atomic.Int64
	}
	var ms []member
	for range 2 {
		fleet, err := redisstore.ClientOptions(rdb, srv.Config(), 300, 5, redisstore.WithRetryInterval(100*time.Millisecond), redisstore.WithTimeout(500*time.Millisecond))
		require.NoError(t, err)
		m := member{logs: &syncBuffer{}, alerts: &atomic.Int64{}}
		m.c = newFleetClient(t, srv, fleet, sfmc.WithLogger(slog.New(slog.NewTextHandler(m.logs, nil))))
		m.u, err = sfmc.NewUpserter(m.c, sfmc.UpserterConfig{Workers: 4, OnResult: out.add, OnAlert: func(a sfmc.Alert) {
			if a.Kind == sfmc.AlertSharedStateUnavailable {
				m.alerts.Add(1)
			}
		}})
		require.NoError(t, err)
		ms = append(ms, m)
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			for j := i; j < n; j += len(ms) {
				assert.NoError(t, m.u.Add(context.Background(), contact(fmt.Sprint("M", j))))
			}
		})
	}
	require.Eventually(t, func() bool { return out.count() >= n/4 }, 20*time.Second, 5*time.Millisecond)
	srvRedis.stop()
	wg.Wait()
	for _, m := range ms {
		require.NoError(t, m.u.Close(context.Background()))
	}
	assert.Equal(t, n, out.count())
	assert.Len(t, out.byKey, n)
	for k, v := range out.byKey {
		if v != 1 {
			t.Errorf("%s: %d outcomes", k, v)
		}
	}
	assert.Empty(t, out.failures)
	for i, m := range ms {
		assert.ErrorIs(t, m.c.SharedStateErr(), sfmc.ErrSharedStateUnavailable, "client %d", i)
		assert.Equal(t, 1, strings.Count(m.logs.String(), "falling back to local state"), "client %d:\n%s", i, m.logs.String())
		assert.Equal(t, int64(1), m.alerts.Load(), "client %d", i)
	}
	assert.Equal(t, int64(1), srv.Stats().TokenRequests)
}

// redisProc is a redis-server started by a test.
type redisProc struct {
	addr string
	port int
	cmd  *exec.Cmd
}

// startRedis starts a redis-server of the test's own on port (a free one
// when 0), stopped at cleanup. Without the binary the test is skipped,
// unless CI is set: then it fails.
func startRedis(t *testing.T, port int) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found and CI is set: install Debian's redis-server")
		}
		t.Skip("redis-server not found: install it (apt-get install -y redis-server) to run this test")
	}
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port = ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
	}
	p := &redisProc{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port,
		cmd: exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())}
	require.NoError(t, p.cmd.Start())
	t.Cleanup(p.stop)
	probe := newRedis(t, p.addr)
	require.Eventually(t, func() bool { return probe.Ping(context.Background()).Err() == nil }, 5*time.Second, 20*time.Millisecond, "redis-server did not start")
	return p
}

// stop kills the server (idempotent).
func (p *redisProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// TestRecoveryWhenRedisComesBack: after an outage the Limiter and the
// Cooldown use Redis again once the retry interval has passed.
func TestRecoveryWhenRedisComesBack(t *testing.T) {
	t.Parallel()
	first := startRedis(t, 0)
	rdb := newRedis(t, first.addr)
	cfg := sfmc.Config{ClientID: "cid", AccountID: "3"}
	var falls atomic.Int64
	lim, err := redisstore.NewLimiter(rdb, cfg, 1000, 10, redisstore.WithRetryInterval(50*time.Millisecond))
	require.NoError(t, err)
	lim.NotifyFallback(func(err error) {
		assert.ErrorIs(t, err, sfmc.ErrSharedStateUnavailable)
		falls.Add(1)
	})
	cd := redisstore.NewCooldown(rdb, cfg, redisstore.WithRetryInterval(50*time.Millisecond))
	ctx := context.Background()
	require.NoError(t, lim.Wait(ctx))
	first.stop()
	for range 3 {
		require.NoError(t, lim.Wait(ctx), "local limiter while Redis is down")
	}
	cd.Extend(time.Now().Add(30 * time.Millisecond)) // local cool-down only
	require.NoError(t, cd.Wait(ctx))
	assert.Equal(t, int64(1), falls.Load(), "one notice per outage")

	startRedis(t, first.port) // back, empty
	time.Sleep(100 * time.Millisecond)
	require.Eventually(t, func() bool {
		_ = lim.Wait(ctx)
		n, _ := rdb.Exists(ctx, "rate:sfmc:cid:3:rate").Result()
		return n == 1
	}, 5*time.Second, 20*time.Millisecond, "the limiter uses Redis again")
	require.Eventually(t, func() bool {
		cd.Extend(time.Now().Add(time.Second))
		n, _ := rdb.Exists(ctx, "sfmc:cid:3:cooldown").Result()
		return n == 1
	}, 5*time.Second, 20*time.Millisecond, "the cool-down uses Redis again")
}
