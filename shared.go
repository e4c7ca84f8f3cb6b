package sfmc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// ErrSharedStateUnavailable reports that shared state (a TokenStore, or a
// shared Limiter or Cooldown) failed or did not answer in time. The client
// then works on local state: it fetches its own token and paces and cools
// down with a local limiter and cool-down. Client.SharedStateErr returns the
// first such failure, and an Upserter raises AlertSharedStateUnavailable.
var ErrSharedStateUnavailable = errors.New("sfmc: shared state unavailable")

// TokenStore shares one access token between the clients of a fleet (several
// processes using the same API integration), so that the fleet asks SFMC
// for one token per token lifetime instead of one per process. Set it with
// WithTokenStore; without one, the token is kept in memory only.
//
// The client calls the store only when its own cached token needs a
// refresh, from its single refresh goroutine (one refresh per process at a
// time), and bounds every call with a short timeout (2 s). Any
// error makes the client fetch a token itself: a store failure never stops
// the client. The refresh with a store is:
//
//  1. Load; a stored token valid beyond the refresh margin, other than one
//     REST just rejected with 401, is used as it is.
//  2. Else Lease for 10 s. Whoever gets the lease loads once more,
//     then fetches a token, Stores it and Releases the lease.
//  3. Else another process is refreshing: poll Load (and retry Lease, which
//     succeeds once the holder's lease expires, for example because it
//     died) until a new token appears, for at most 20 s; then
//     fetch a token without the store.
//
// Implementations must be safe for concurrent use and must never keep the
// client secret: they receive only tokens.
type TokenStore interface {
	// Load returns the stored token, or nil and no error when there is
	// none (or it has expired). The token's extra field
	// "rest_instance_url" (a string) holds the REST base it came with;
	// implementations must keep it.
	Load(ctx context.Context) (*oauth2.Token, error)
	// Store saves tok until tok.Expiry.
	Store(ctx context.Context, tok *oauth2.Token) error
	// Lease tries to take the refresh lease for ttl: true when this store
	// now holds it, false when another holder does.
	Lease(ctx context.Context, ttl time.Duration) (bool, error)
	// Release gives the lease up, only if this store still holds it.
	Release(ctx context.Context) error
}

// FallbackNotifier is an optional interface for a shared Limiter, Cooldown
// or TokenStore that falls back to local state when its shared store fails
// (see the redisstore module). NewClient calls NotifyFallback once on each
// such component it is given; the component then calls f with the reason
// (matching ErrSharedStateUnavailable) whenever it falls back. The client
// reports the first call once: through its logger, Client.SharedStateErr and
// the OnAlert of its Upserters (AlertSharedStateUnavailable). A component
// shared by several clients keeps every f.
type FallbackNotifier interface {
	NotifyFallback(f func(err error))
}

// Bounds of the token store path, documented on TokenStore (fixed: no
// tenant needs others).
const (
	// storeTimeout bounds each TokenStore call.
	storeTimeout = 2 * time.Second
	// tokenLeaseTTL is the lease a refreshing client takes: if it dies
	// while refreshing, another client takes over after this long.
	tokenLeaseTTL = 10 * time.Second
	// tokenLeaseWait bounds how long a client waits for another's refresh
	// before fetching a token itself.
	tokenLeaseWait = 2 * tokenLeaseTTL
	// tokenPoll is the interval between Loads while another client
	// refreshes.
	tokenPoll = 50 * time.Millisecond
)

// WithTokenStore shares the client's token through s (fleet mode): see
// TokenStore. The default is no store: the token lives in memory only.
func WithTokenStore(s TokenStore) Option {
	return func(st *settings) error {
		if s == nil {
			return configErr("WithTokenStore: nil TokenStore")
		}
		st.store = s
		return nil
	}
}

// event is a condition the client tells its Upserters about (they raise
// it as an Alert).
type event struct {
	kind    AlertKind
	err     error
	episode uint64 // the block episode, for AlertBlocked
}

// events records the client's first shared-state failure (logging it
// once) and tells the subscribers (the client's Upserters) about it and
// about block episodes.
type events struct {
	logger *slog.Logger

	mu     sync.Mutex
	shared error // the first shared-state failure
	subs   map[int]func(event)
	next   int
}

// sharedFailure records err (the first one only), logs it and tells the
// subscribers.
func (e *events) sharedFailure(source string, err error) {
	if !errors.Is(err, ErrSharedStateUnavailable) {
		err = errors.Join(ErrSharedStateUnavailable, err)
	}
	e.mu.Lock()
	if e.shared != nil {
		e.mu.Unlock()
		return
	}
	e.shared = err
	e.mu.Unlock()
	e.logger.LogAttrs(context.Background(), slog.LevelWarn, "sfmc: shared state unavailable; falling back to local state",
		slog.String("source", source), slog.String("error", err.Error()))
	e.publish(event{kind: AlertSharedStateUnavailable, err: err})
}

// publish tells every subscriber about ev.
func (e *events) publish(ev event) {
	e.mu.Lock()
	subs := make([]func(event), 0, len(e.subs))
	for _, s := range e.subs {
		subs = append(subs, s)
	}
	e.mu.Unlock()
	for _, s := range subs {
		s(ev)
	}
}

// subscribe calls fn for every event from now on, and at once (on this
// goroutine) for a shared-state failure that already happened. It returns
// a function that unsubscribes.
func (e *events) subscribe(fn func(event)) (cancel func()) {
	e.mu.Lock()
	if e.subs == nil {
		e.subs = make(map[int]func(event))
	}
	id := e.next
	e.next++
	e.subs[id] = fn
	err := e.shared
	e.mu.Unlock()
	if err != nil {
		fn(event{kind: AlertSharedStateUnavailable, err: err})
	}
	return func() {
		e.mu.Lock()
		delete(e.subs, id)
		e.mu.Unlock()
	}
}

func (e *events) first() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shared
}

// SharedStateErr returns the first failure of the client's shared state
// (TokenStore, or a shared Limiter or Cooldown implementing
// FallbackNotifier), matching ErrSharedStateUnavailable, or nil when there
// was none. After such a failure the client went on with local state.
func (c *Client) SharedStateErr() error { return c.events.first() }

// storeCall runs fn with a context bounded by storeTimeout, and returns
// when fn does or the timeout passes, whichever comes first: a store that
// ignores its context cannot block the refresh.
func storeCall[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
