package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sentCfg = sfmc.Config{Subdomain: "mc-test", ClientID: "client-a", ClientSecret: "not-stored", AccountID: "100"}

// sentKey is where a SentStore of cfg under prefix keeps key's record.
func sentKey(prefix string, cfg sfmc.Config, key string) string {
	return fmt.Sprintf("%s:%s:%s:sent:%s", prefix, cfg.ClientID, cfg.AccountID, key)
}

func TestSentStoreRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	s := redisstore.NewSentStore(rdb, sentCfg, redisstore.WithPrefix(prefix))
	ctx := context.Background()
	for _, tc := range []struct {
		name, key string
		record    []byte
	}{
		{"plain", "K1", []byte{1, 2, 3}},
		{"colons", "a:b::c:", []byte("x")},
		{"utf-8", "Zoë ключ 鍵 😀", []byte("y")},
		{"looks like another kind", "token", []byte("z")},
		{"binary", "bin", []byte{0, 0xff, 0, '\n', ':'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.Put(ctx, tc.key, tc.record))
			got, err := s.Get(ctx, tc.key)
			require.NoError(t, err)
			assert.Equal(t, tc.record, got)
			raw, err := rdb.Get(ctx, sentKey(prefix, sentCfg, tc.key)).Bytes()
			require.NoError(t, err)
			assert.Equal(t, tc.record, raw, "stored under {prefix}:{clientID}:{accountID}:sent:{key}")

			replaced := append([]byte("new"), tc.record...)
			require.NoError(t, s.Put(ctx, tc.key, replaced))
			got, err = s.Get(ctx, tc.key)
			require.NoError(t, err)
			assert.Equal(t, replaced, got, "Put replaces")
		})
	}
	// The store's keys are its own: the token key is untouched.
	n, err := rdb.Exists(ctx, fmt.Sprintf("%s:%s:%s:token", prefix, sentCfg.ClientID, sentCfg.AccountID)).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSentStoreAbsent(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	s := redisstore.NewSentStore(rdb, sentCfg, redisstore.WithPrefix(testPrefix(t, rdb)))
	got, err := s.Get(context.Background(), "never-put")
	require.NoError(t, err)
	assert.Nil(t, got)
}

func TestSentStoreEmptyRecordDeletes(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	s := redisstore.NewSentStore(rdb, sentCfg, redisstore.WithPrefix(prefix))
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		record []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "D-" + tc.name
			require.NoError(t, s.Put(ctx, key, []byte{1}))
			require.NoError(t, s.Put(ctx, key, tc.record))
			got, err := s.Get(ctx, key)
			require.NoError(t, err)
			assert.Nil(t, got)
			n, err := rdb.Exists(ctx, sentKey(prefix, sentCfg, key)).Result()
			require.NoError(t, err)
			assert.Zero(t, n, "the key is deleted, not set empty")
			assert.NoError(t, s.Put(ctx, key, tc.record), "deleting what is absent is no error")
		})
	}
}

func TestSentStoreTTL(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []redisstore.Option
		want time.Duration
	}{
		{"default", nil, sfmc.DefaultSentTTL},
		{"WithSentTTL", []redisstore.Option{redisstore.WithSentTTL(time.Hour)}, time.Hour},
		{"zero ignored", []redisstore.Option{redisstore.WithSentTTL(0)}, sfmc.DefaultSentTTL},
		{"negative ignored", []redisstore.Option{redisstore.WithSentTTL(-time.Hour)}, sfmc.DefaultSentTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := redisstore.NewSentStore(rdb, sentCfg, append(tc.opts, redisstore.WithPrefix(prefix))...)
			key := "T-" + tc.name
			k := sentKey(prefix, sentCfg, key)
			require.NoError(t, s.Put(ctx, key, []byte{1}))
			// Age the key, then Put again: each Put sets the TTL anew.
			require.NoError(t, rdb.Expire(ctx, k, time.Minute).Err())
			require.NoError(t, s.Put(ctx, key, []byte{2}))
			ttl, err := rdb.TTL(ctx, k).Result()
			require.NoError(t, err)
			assert.LessOrEqual(t, ttl, tc.want)
			assert.Greater(t, ttl, tc.want-time.Minute)
		})
	}
}

// Records of one integration are invisible to another, also when a contact
// key holds ':' so that a plain concatenation would give the same key.
func TestSentStoreIntegrationsApart(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t, redisAddr(t))
	prefix := testPrefix(t, rdb)
	other := testPrefix(t, rdb)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		a, b       sfmc.Config
		prefixB    string
		keyA, keyB string
	}{
		{"other client", sentCfg, sfmc.Config{ClientID: "client-b", AccountID: "100"}, prefix, "K", "K"},
		{"other account", sentCfg, sfmc.Config{ClientID: "client-a", AccountID: "200"}, prefix, "K", "K"},
		{"other prefix", sentCfg, sentCfg, other, "K", "K"},
		{"colon in account", sfmc.Config{ClientID: "c", AccountID: "1"}, sfmc.Config{ClientID: "c", AccountID: "1:sent:2"}, prefix, "2:sent:k", "k"},
		{"colon in client", sfmc.Config{ClientID: "a:b", AccountID: "1"}, sfmc.Config{ClientID: "a", AccountID: "b:1"}, prefix, "k", "k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := redisstore.NewSentStore(rdb, tc.a, redisstore.WithPrefix(prefix))
			b := redisstore.NewSentStore(rdb, tc.b, redisstore.WithPrefix(tc.prefixB))
			require.NoError(t, a.Put(ctx, tc.keyA, []byte("from a")))
			got, err := b.Get(ctx, tc.keyB)
			require.NoError(t, err)
			assert.Nil(t, got, "b does not see a's record")

			require.NoError(t, b.Put(ctx, tc.keyB, []byte("from b")))
			got, err = a.Get(ctx, tc.keyA)
			require.NoError(t, err)
			assert.Equal(t, []byte("from a"), got, "b's Put left a's record alone")
			require.NoError(t, b.Put(ctx, tc.keyB, nil))
			got, err = a.Get(ctx, tc.keyA)
			require.NoError(t, err)
			assert.Equal(t, []byte("from a"), got, "b's delete left a's record alone")
			require.NoError(t, a.Put(ctx, tc.keyA, nil))
		})
	}
}

// A Redis that refuses connections, or accepts them and never answers,
// makes every call fail (within WithTimeout), never answer "no record".
func TestSentStoreRedisDown(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	for _, tc := range []struct{ name, addr string }{
		{"connection refused", closedAddr},
		{"no answer", silent.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := redisstore.NewSentStore(newRedis(t, tc.addr), sentCfg, redisstore.WithTimeout(100*time.Millisecond))
			ctx := context.Background()
			start := time.Now()
			got, err := s.Get(ctx, "K")
			assert.Nil(t, got)
			assert.ErrorContains(t, err, "redisstore: get sent record: ")
			assert.ErrorContains(t, s.Put(ctx, "K", []byte{1}), "redisstore: put sent record: ")
			assert.ErrorContains(t, s.Put(ctx, "K", nil), "redisstore: delete sent record: ")
			assert.Less(t, time.Since(start), 3*time.Second, "each call bounded by WithTimeout")
			assert.NotContains(t, err.Error(), sentCfg.ClientSecret)
		})
	}
}

// upsertAll pushes contacts through a new Upserter with store and returns
// the outcomes by key.
func upsertAll(t *testing.T, c *sfmc.Client, store sfmc.SentStore, contacts []sfmc.Contact) map[string]sfmc.Outcome {
	t.Helper()
	var mu sync.Mutex
	out := map[string]sfmc.Outcome{}
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{
		Workers:   8,
		SentStore: store,
		OnResult:  func(o sfmc.Outcome) { mu.Lock(); out[o.Key] = o; mu.Unlock() },
		OnAlert: func(a sfmc.Alert) {
			if a.Kind == sfmc.AlertSentStoreUnavailable {
				t.Errorf("unexpected alert: %v", a.Err)
			}
		},
	})
	require.NoError(t, err)
	for _, ct := range contacts {
		require.NoError(t, u.Add(context.Background(), ct))
	}
	require.NoError(t, u.Close(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, out, len(contacts))
	for k, o := range out {
		require.NoError(t, o.Err, k)
	}
	return out
}

// Two pods (separate Redis clients, stores and sfmc.Clients) push the same
// contacts: the second sends nothing; then only the contacts that changed
// are sent.
func TestSentStoreUpserterSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	addr := redisAddr(t)
	rdb := newRedis(t, addr)
	prefix := testPrefix(t, rdb)
	srv := newSim(t)
	const n = 40
	contacts := make([]sfmc.Contact, n)
	for i := range contacts {
		contacts[i] = contact(fmt.Sprint("e2e-", i))
		contacts[i].Key = fmt.Sprint("E2E:", i) // ':' in the key on purpose
	}
	pod := func() (*sfmc.Client, *redisstore.SentStore) {
		return newFleetClient(t, srv, nil), redisstore.NewSentStore(newRedis(t, addr), srv.Config(), redisstore.WithPrefix(prefix))
	}

	c1, s1 := pod()
	before := srv.Stats()
	out := upsertAll(t, c1, s1, contacts)
	st := srv.Stats()
	assert.Equal(t, int64(n), st.Writes-before.Writes, "first pass: every contact written")
	for k, o := range out {
		assert.False(t, o.Skipped, k)
	}

	c2, s2 := pod()
	before = srv.Stats()
	out = upsertAll(t, c2, s2, contacts)
	st = srv.Stats()
	assert.Zero(t, st.RESTRequests-before.RESTRequests, "second pass: no contact request")
	for k, o := range out {
		assert.True(t, o.Skipped, k)
		assert.Zero(t, o.Attempts, k)
	}

	changed := map[string]bool{}
	for _, i := range []int{3, 17, 31} {
		contacts[i].Attributes[1].Value = "Changed"
		changed[contacts[i].Key] = true
	}
	before = srv.Stats()
	out = upsertAll(t, c1, s1, contacts)
	st = srv.Stats()
	assert.Equal(t, int64(len(changed)), st.RESTRequests-before.RESTRequests, "third pass: only the changed contacts")
	assert.Equal(t, int64(len(changed)), st.Writes-before.Writes)
	for k, o := range out {
		assert.Equal(t, !changed[k], o.Skipped, k)
	}
	for k := range changed {
		got, ok := srv.Contact(k)
		require.True(t, ok, k)
		assert.Equal(t, "Changed", got.Sets["Email Demographics"]["First Name"], k)
	}
}
