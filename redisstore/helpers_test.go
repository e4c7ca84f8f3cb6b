package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/require"
)

// TestMain silences go-redis's own logger (dial failures are expected in
// the fallback tests).
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// redisAddr returns the test Redis address from SFMC_TEST_REDIS_ADDR. Without
// it the test is skipped, unless CI is set: then it fails, so that CI cannot
// skip the fleet tests silently.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("SFMC_TEST_REDIS_ADDR")
	if addr == "" {
		msg := "SFMC_TEST_REDIS_ADDR is not set: start a redis-server (e.g. redis-server --port 6390 --save '' --appendonly no --daemonize yes) and set SFMC_TEST_REDIS_ADDR=127.0.0.1:6390"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set: not skipping)")
		}
		t.Skip(msg)
	}
	return addr
}

// newRedis returns a client for addr that fails fast, closed at cleanup.
func newRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testPrefix returns a key prefix of its own for the test, and deletes its
// keys at cleanup.
func testPrefix(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "sfmctest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, "*"+prefix+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return prefix
}

// newSim starts a simulator closed at cleanup.
func newSim(t *testing.T, opts ...sfmctest.ServerOption) *sfmctest.Server {
	t.Helper()
	srv := sfmctest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// newFleetClient returns a client of srv with its own fleet components.
func newFleetClient(t *testing.T, srv *sfmctest.Server, fleet []sfmc.Option, opts ...sfmc.Option) *sfmc.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	all := append(srv.ClientOptions(),
		sfmc.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		sfmc.WithRetry(4, time.Millisecond, 200*time.Millisecond))
	all = append(all, fleet...)
	c, err := sfmc.NewClient(srv.Config(), append(all, opts...)...)
	require.NoError(t, err)
	return c
}

func contact(key string) sfmc.Contact {
	return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: strings.ToLower(key) + "@example.com"},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
	}}
}

// outcomes counts outcomes by key.
type outcomes struct {
	mu       sync.Mutex
	byKey    map[string]int
	failures []sfmc.Outcome
	n        int
}

func newOutcomes() *outcomes { return &outcomes{byKey: map[string]int{}} }

func (o *outcomes) add(out sfmc.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byKey[out.Key]++
	o.n++
	if out.Err != nil {
		o.failures = append(o.failures, out)
	}
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// redisValue returns the value of key k as text, whatever its type.
func redisValue(t *testing.T, rdb *redis.Client, k string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, k).Result()
	require.NoError(t, err, k)
	switch typ {
	case "string":
		v, err := rdb.Get(ctx, k).Result()
		require.NoError(t, err, k)
		return v
	case "hash":
		v, err := rdb.HGetAll(ctx, k).Result()
		require.NoError(t, err, k)
		return fmt.Sprint(v)
	case "zset":
		v, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		require.NoError(t, err, k)
		return fmt.Sprint(v)
	}
	t.Fatalf("%s: unexpected type %s", k, typ)
	return ""
}
