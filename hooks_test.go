package sfmc_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type spanKey struct{}

// recordingTransport wraps a RoundTripper and records the span value each
// request's context carries (as an instrumented transport, such as
// otelhttp's, would read the caller's span).
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []any
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v2/token" {
		rt.mu.Lock()
		rt.seen = append(rt.seen, req.Context().Value(spanKey{}))
		rt.mu.Unlock()
	}
	return rt.base.RoundTrip(req)
}

// Issue 17, item 2: the request made for an Add runs under the values of
// the Add's context (not its cancellation), so an instrumented transport
// and the hooks see the caller's span: 10 of 10 requests.
func TestAddContextReachesTheRequest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		rt := &recordingTransport{base: ft}
		c := fakeClient(t, ft, sfmc.WithHTTPClient(&http.Client{Transport: rt}))
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Coalesce: sfmc.CoalesceOff})
		require.NoError(t, err)
		for i := range 10 {
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), spanKey{}, fmt.Sprint("span-", i)))
			require.NoError(t, u.Add(ctx, sfmc.Contact{Key: fmt.Sprint("K", i)}))
			cancel() // the Add's cancellation does not reach the request
		}
		require.NoError(t, u.Close(context.Background()))
		rt.mu.Lock()
		defer rt.mu.Unlock()
		require.Len(t, rt.seen, 10)
		for i := range 10 {
			assert.Contains(t, rt.seen, fmt.Sprint("span-", i))
		}
	})
}

// Issue 17, item 1: the hooks see every attempt (with its route, number and
// result), the token fetch, pace changes, and every outcome with its
// latency; for coalesced Adds the first Add's context is the attempt's and
// the others come as links.
func TestHooksSeeEveryEvent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(10*time.Millisecond, 0, 0)
		var n int
		var mu sync.Mutex
		ft.answer = func(_ time.Time, _ int64) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 2 {
				return 503, `{"message":"busy","errorcode":50300}`
			}
			return 0, ""
		}
		var (
			hmu      sync.Mutex
			starts   []sfmc.Attempt
			dones    []sfmc.AttemptResult
			spans    []any
			links    [][]context.Context
			tokens   []sfmc.TokenEvent
			paces    []sfmc.PaceEvent
			outcomes []sfmc.OutcomeEvent
		)
		hooks := sfmc.Hooks{
			AttemptStart: func(ctx context.Context, a sfmc.Attempt) context.Context {
				hmu.Lock()
				defer hmu.Unlock()
				starts = append(starts, a)
				spans = append(spans, ctx.Value(spanKey{}))
				links = append(links, a.Links)
				return context.WithValue(ctx, attemptKey{}, len(starts))
			},
			AttemptDone: func(ctx context.Context, a sfmc.Attempt, r sfmc.AttemptResult) {
				hmu.Lock()
				defer hmu.Unlock()
				assert.NotNil(t, ctx.Value(attemptKey{}), "AttemptDone gets AttemptStart's context")
				dones = append(dones, r)
			},
			Token:   func(_ context.Context, e sfmc.TokenEvent) { hmu.Lock(); tokens = append(tokens, e); hmu.Unlock() },
			Pace:    func(p sfmc.PaceEvent) { hmu.Lock(); paces = append(paces, p); hmu.Unlock() },
			Outcome: func(_ context.Context, o sfmc.OutcomeEvent) { hmu.Lock(); outcomes = append(outcomes, o); hmu.Unlock() },
		}
		c := fakeClient(t, ft, sfmc.WithHooks(hooks))
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, FlushInterval: time.Second,
			RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
		require.NoError(t, err)
		first := context.WithValue(context.Background(), spanKey{}, "first")
		second := context.WithValue(context.Background(), spanKey{}, "second")
		require.NoError(t, u.Add(first, sfmc.Contact{Key: "A"}))
		require.NoError(t, u.Add(second, sfmc.Contact{Key: "A"})) // coalesced
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "B"}))
		require.NoError(t, u.Close(context.Background()))

		hmu.Lock()
		defer hmu.Unlock()
		require.Len(t, starts, 3, "A, B (503), B again")
		require.Len(t, dones, 3)
		assert.Equal(t, "PATCH", starts[0].Method)
		assert.Equal(t, "/contacts/v1/contacts", starts[0].Route)
		assert.Equal(t, "first", spans[0], "the first Add's context is the attempt's parent")
		require.Len(t, links[0], 1)
		assert.Equal(t, "second", links[0][0].Value(spanKey{}), "the coalesced Add is a link")
		assert.Equal(t, []int{1, 1, 2}, []int{starts[0].Number, starts[1].Number, starts[2].Number})
		assert.Equal(t, 503, dones[1].StatusCode)
		assert.Equal(t, "busy", dones[1].Class)
		assert.Equal(t, 50300, dones[1].ErrorCode)
		assert.Equal(t, "ok", dones[2].Class)
		assert.Equal(t, 10*time.Millisecond, dones[0].Duration, "the attempt's time on the fake clock")
		require.Len(t, tokens, 1)
		assert.NoError(t, tokens[0].Err)
		assert.False(t, tokens[0].FromStore)
		require.Len(t, paces, 2, "the pace the client starts at, then the 503's cut")
		assert.Equal(t, sfmc.PaceEvent{Rate: 20}, paces[0], "NewClient reports the pace it starts at")
		assert.Less(t, paces[1].Rate, 20.0)
		require.Len(t, outcomes, 3)
		for _, o := range outcomes {
			assert.NoError(t, o.Outcome.Err)
			assert.Positive(t, o.Latency)
		}
	})
}

type attemptKey struct{}

// A panicking hook is recovered: the request goes on.
func TestPanickingHookIsRecovered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		boom := func() { panic("hook") }
		c := fakeClient(t, ft, sfmc.WithHooks(sfmc.Hooks{
			AttemptStart: func(context.Context, sfmc.Attempt) context.Context { boom(); return nil },
			AttemptDone:  func(context.Context, sfmc.Attempt, sfmc.AttemptResult) { boom() },
			Token:        func(context.Context, sfmc.TokenEvent) { boom() },
			Outcome:      func(context.Context, sfmc.OutcomeEvent) { boom() },
		}))
		_, err := c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "K"})
		require.NoError(t, err)
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{})
		require.NoError(t, err)
		require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "K2"}))
		require.NoError(t, u.Close(context.Background()))
		assert.Equal(t, int64(1), u.Stats().Succeeded)
	})
}

// The Pace hook hears the pace the client starts at from NewClient (a gauge
// fed by it has a value before the first change): the configured rate, or
// the adaptive pace's start.
func TestPaceHookStartsWithTheInitialPace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []sfmc.Option
		want float64
	}{
		{"configured rate", []sfmc.Option{sfmc.WithRateLimit(50, 5)}, 50},
		{"adaptive pace", nil, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var paces []sfmc.PaceEvent
			opts := append([]sfmc.Option{sfmc.WithHooks(sfmc.Hooks{Pace: func(p sfmc.PaceEvent) { paces = append(paces, p) }})}, tc.opts...)
			fakeClient(t, newFakeTenant(0, 0, 0), opts...)
			assert.Equal(t, []sfmc.PaceEvent{{Rate: tc.want}}, paces)
		})
	}
}
