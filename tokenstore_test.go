package sfmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// memBackend is the shared state of fake token stores: what Redis would
// hold for a fleet.
type memBackend struct {
	mu         sync.Mutex
	tok        *oauth2.Token
	leaseOwner string
	leaseUntil time.Time
	loads      atomic.Int64
	stores     atomic.Int64
}

// memStore is one process's handle on a memBackend. fail, when set, is
// returned by every call; hang makes every call block until its context
// ends, or (ignoreCtx) until release is closed.
type memStore struct {
	b         *memBackend
	owner     string
	fail      error
	hang      bool
	ignoreCtx bool
	release   chan struct{} // ends an ignoreCtx hang
}

func (s *memStore) check(ctx context.Context) error {
	if s.hang {
		if s.ignoreCtx {
			<-s.release // as a store that ignores its context would
			return errors.New("released")
		}
		<-ctx.Done()
		return ctx.Err()
	}
	return s.fail
}

func (s *memStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.b.loads.Add(1)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.tok == nil || !time.Now().Before(s.b.tok.Expiry) {
		return nil, nil
	}
	return s.b.tok, nil
}

func (s *memStore) Store(ctx context.Context, tok *oauth2.Token) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.b.stores.Add(1)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.tok = tok
	return nil
}

func (s *memStore) Lease(ctx context.Context, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.leaseOwner != "" && time.Now().Before(s.b.leaseUntil) {
		return false, nil
	}
	s.b.leaseOwner, s.b.leaseUntil = s.owner, time.Now().Add(ttl)
	return true, nil
}

func (s *memStore) Release(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.leaseOwner == s.owner {
		s.b.leaseOwner = ""
	}
	return nil
}

func storedToken(access string, lifetime time.Duration) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer", Expiry: time.Now().Add(lifetime), ExpiresIn: int64(lifetime / time.Second)}
	return tok.WithExtra(map[string]any{extraRESTURL: testRESTBase})
}

// newFleetClients returns n clients with their own stores on one backend,
// sharing one token endpoint mock and one REST transport.
func newFleetClients(t *testing.T, n int, b *memBackend, tm *tokenMock, opts ...Option) ([]*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
	var cs []*Client
	for i := range n {
		all := append([]Option{WithHTTPClient(&http.Client{Transport: mt}), fastRetry(2), WithRateLimit(1e5, 100),
			WithTokenStore(&memStore{b: b, owner: string(rune('A' + i))})}, opts...)
		c, err := NewClient(testConfig(), all...)
		require.NoError(t, err)
		cs = append(cs, c)
	}
	return cs, mt
}

// Two clients of a fleet need a token at once: one fetches it under the
// lease while the other polls the store every tokenPoll, and gets it from
// there.
func TestTokenStoreSingleRefreshAcrossClients(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tm := newTokenMock()
		tm.gate = make(chan struct{})
		b := &memBackend{}
		cs, _ := newFleetClients(t, 2, b, tm)
		errs := make(chan error, 2)
		for _, c := range cs {
			go func() { errs <- c.Verify(context.Background()) }()
		}
		synctest.Wait() // one client is fetching under the lease, the other waits to poll
		require.Equal(t, 1, tm.count())
		loads := b.loads.Load()
		time.Sleep(3*tokenPoll + tokenPoll/2)
		assert.Equal(t, loads+3, b.loads.Load(), "the waiting client polls the store every tokenPoll")
		close(tm.gate) // let the fetch finish
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		assert.Equal(t, 1, tm.count(), "one token request for the fleet")
		for _, c := range cs {
			tok, err := c.TokenSource().Token()
			require.NoError(t, err)
			assert.Equal(t, tokenN(1), tok.AccessToken)
			rest, err := c.RESTURL(context.Background())
			require.NoError(t, err)
			assert.Equal(t, testRESTBase, rest)
		}
		assert.Equal(t, int64(1), b.stores.Load())
		assert.Empty(t, b.leaseOwner, "lease released")
	})
}

func TestTokenStoreUsesStoredToken(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	b := &memBackend{tok: storedToken("STORED-1", 20*time.Minute)}
	cs, mt := newFleetClients(t, 1, b, tm)
	rm := newRESTMock(jsonResponder(200, `{}`))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	_, err := cs[0].do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Equal(t, 0, tm.count())
	assert.Equal(t, []string{"Bearer STORED-1"}, rm.authHeaders())
}

func TestTokenStoreIgnoresTokenInsideMargin(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	// Valid for 30 s more, but the margin is 60 s (the lifetime says 1080 s).
	tok := storedToken("STORED-OLD", 30*time.Second)
	tok.ExpiresIn = 1080
	b := &memBackend{tok: tok}
	cs, _ := newFleetClients(t, 1, b, tm)
	got, err := cs[0].TokenSource().Token()
	require.NoError(t, err)
	assert.Equal(t, tokenN(1), got.AccessToken)
	assert.Equal(t, tokenN(1), b.tok.AccessToken, "the new token is stored")
}

func TestTokenStore401DoesNotReloadRejectedToken(t *testing.T) {
	t.Parallel()
	tm := newTokenMock()
	b := &memBackend{tok: storedToken("STORED-1", 20*time.Minute)}
	cs, mt := newFleetClients(t, 1, b, tm)
	rm := newRESTMock(jsonResponder(401, `{"message":"Not Authorized","errorcode":0}`), jsonResponder(200, `{}`))
	mt.RegisterResponder(http.MethodGet, testRESTURL, rm.respond)
	_, err := cs[0].do(context.Background(), request{method: http.MethodGet, path: testPath})
	require.NoError(t, err)
	assert.Equal(t, []string{"Bearer STORED-1", "Bearer " + tokenN(1)}, rm.authHeaders())
	assert.Equal(t, 1, tm.count(), "a new token is fetched, not the rejected one reloaded")
	assert.Equal(t, tokenN(1), b.tok.AccessToken, "and stored for the fleet")
}

func TestTokenStoreErrorsFallBack(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tm := newTokenMock()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
	c, err := NewClient(testConfig(), WithHTTPClient(&http.Client{Transport: mt}), WithLogger(logger),
		WithTokenStore(&memStore{b: &memBackend{}, owner: "A", fail: errors.New("connection refused")}))
	require.NoError(t, err)
	require.NoError(t, c.Verify(context.Background()))
	c.Invalidate()
	require.NoError(t, c.Verify(context.Background()))
	assert.Equal(t, 2, tm.count(), "tokens fetched locally")
	assert.ErrorIs(t, c.SharedStateErr(), ErrSharedStateUnavailable)
	assert.Equal(t, 1, strings.Count(logs.String(), "falling back to local state"), "fallback logged once:\n%s", logs.String())
	requireNoSecret(t, "log", logs.String())
}

// A store that hangs (honouring its context or not) costs one storeTimeout:
// then the client fetches its own token and reports the failure.
func TestTokenStoreHangingStoreFallsBack(t *testing.T) {
	t.Parallel()
	for _, ignoreCtx := range []bool{false, true} {
		t.Run(fmt.Sprint("ignoreCtx=", ignoreCtx), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tm := newTokenMock()
				mt := httpmock.NewMockTransport()
				mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
				release := make(chan struct{})
				t.Cleanup(func() { close(release) }) // ends the hang of a store ignoring its context
				c, err := NewClient(testConfig(), WithHTTPClient(&http.Client{Transport: mt}),
					WithTokenStore(&memStore{b: &memBackend{}, owner: "A", hang: true, ignoreCtx: ignoreCtx, release: release}))
				require.NoError(t, err)
				start := time.Now()
				require.NoError(t, c.Verify(context.Background()))
				assert.Equal(t, storeTimeout, time.Since(start), "the hanging Load is given up after storeTimeout")
				assert.Equal(t, 1, tm.count())
				assert.ErrorIs(t, c.SharedStateErr(), ErrSharedStateUnavailable)
			})
		})
	}
}

// The lease of a holder that died is taken when it expires: the waiting
// client polls every tokenPoll and fetches the token at exactly the lease's
// end.
func TestTokenStoreLeaseExpiryWhenHolderDies(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tm := newTokenMock()
		b := &memBackend{}
		dead := &memStore{b: b, owner: "dead"}
		ok, err := dead.Lease(context.Background(), 300*time.Millisecond) // taken, never released
		require.NoError(t, err)
		require.True(t, ok)
		cs, _ := newFleetClients(t, 1, b, tm)
		start := time.Now()
		require.NoError(t, cs[0].Verify(context.Background()))
		assert.Equal(t, 300*time.Millisecond, time.Since(start), "waited for the lease to expire")
		assert.Equal(t, 1, tm.count())
		assert.Equal(t, tokenN(1), b.tok.AccessToken)
		assert.NoError(t, cs[0].SharedStateErr())
	})
}

func TestWithTokenStoreNil(t *testing.T) {
	t.Parallel()
	_, err := NewClient(testConfig(), WithTokenStore(nil))
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// notifier is a Limiter that reports a fallback through FallbackNotifier.
type notifier struct {
	mu sync.Mutex
	fs []func(error)
}

func (n *notifier) Wait(context.Context) error { return nil }

func (n *notifier) NotifyFallback(f func(error)) {
	n.mu.Lock()
	n.fs = append(n.fs, f)
	n.mu.Unlock()
}

func (n *notifier) fire(err error) {
	n.mu.Lock()
	fs := slices.Clone(n.fs)
	n.mu.Unlock()
	for _, f := range fs {
		f(err)
	}
}

func TestFallbackNotifierReportedOnce(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	n := &notifier{}
	c, _, _ := newMockClient(t, nil, WithLimiter(n), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	var alerts []Alert
	var mu sync.Mutex
	u, err := NewUpserter(c, UpserterConfig{OnAlert: func(a Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }})
	require.NoError(t, err)
	n.fire(errors.New("redis: connection refused"))
	n.fire(errors.New("redis: connection refused again"))
	require.NoError(t, u.Close(context.Background()))
	mu.Lock()
	require.Len(t, alerts, 1)
	assert.Equal(t, AlertSharedStateUnavailable, alerts[0].Kind)
	assert.ErrorIs(t, alerts[0].Err, ErrSharedStateUnavailable)
	mu.Unlock()
	assert.Equal(t, 1, strings.Count(logs.String(), "falling back to local state"))
	assert.Contains(t, logs.String(), "source=limiter")

	// An Upserter made after the failure hears of it too.
	var late atomic.Int64
	u2, err := NewUpserter(c, UpserterConfig{OnAlert: func(a Alert) {
		if a.Kind == AlertSharedStateUnavailable {
			late.Add(1)
		}
	}})
	require.NoError(t, err)
	require.NoError(t, u2.Close(context.Background()))
	assert.Equal(t, int64(1), late.Load())
}
