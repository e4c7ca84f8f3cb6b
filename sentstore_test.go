package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func storeContact(key, first, last string) sfmc.Contact {
	return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: strings.ToLower(key) + "@example.com"},
		{Set: "Email Demographics", Name: "First Name", Value: first},
		{Set: "Email Demographics", Name: "Last Name", Value: last},
	}}
}

// run pushes contacts through a new Upserter on store and returns the
// outcomes by key.
func runWithStore(t *testing.T, c *sfmc.Client, store sfmc.SentStore, cfg sfmc.UpserterConfig, contacts ...sfmc.Contact) map[string]sfmc.Outcome {
	t.Helper()
	var mu sync.Mutex
	out := map[string]sfmc.Outcome{}
	cfg.SentStore = store
	cfg.OnResult = func(o sfmc.Outcome) { mu.Lock(); out[o.Key] = o; mu.Unlock() }
	u, err := sfmc.NewUpserter(c, cfg)
	require.NoError(t, err)
	for _, ct := range contacts {
		require.NoError(t, u.Add(context.Background(), ct))
	}
	require.NoError(t, u.Close(context.Background()))
	return out
}

// Issue 16: a second push of the same contacts sends nothing; a changed
// attribute is sent alone; the skip is an outcome of its own.
func TestSentStoreSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		ft.keepBodies = true
		c := fakeClient(t, ft)
		store := sfmc.NewMemoryStore()
		a, b := storeContact("A", "Ann", "Lee"), storeContact("B", "Bob", "Ray")

		out := runWithStore(t, c, store, sfmc.UpserterConfig{}, a, b)
		assert.Len(t, ft.takeBodies(), 2, "first run: every contact sent")
		assert.False(t, out["A"].Skipped)

		changed := storeContact("B", "Bobby", "Ray")
		out = runWithStore(t, c, store, sfmc.UpserterConfig{OnAlert: func(sfmc.Alert) { t.Error("no alert expected") }}, a, changed)
		bodies := ft.takeBodies()
		require.Len(t, bodies, 1, "second run: only the changed contact")
		assert.JSONEq(t, `{"contactKey":"B","attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Bobby"}]}]}]}`,
			bodies[0], "and only its changed attribute")
		assert.True(t, out["A"].Skipped)
		assert.NoError(t, out["A"].Err)
		assert.Zero(t, out["A"].Attempts)
		assert.False(t, out["B"].Skipped)

		// ResendAll sends everything and keeps remembering.
		runWithStore(t, c, store, sfmc.UpserterConfig{ResendAll: true}, a, changed)
		assert.Len(t, ft.takeBodies(), 2)
		out = runWithStore(t, c, store, sfmc.UpserterConfig{}, a, changed)
		assert.Empty(t, ft.takeBodies())
		assert.True(t, out["A"].Skipped && out["B"].Skipped)
	})
}

// Nothing is recorded after a failure or an unanswered attempt, and an
// attribute about to change is forgotten before it is sent: a write that
// failed (or may have applied) is sent again, never skipped.
func TestSentStoreNeverSkipsOnDoubt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		fail := map[string]int{}
		var mu sync.Mutex
		ft.answer = func(_ time.Time, _ int64) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			if fail["on"] > 0 {
				return 500, `{"message":"boom"}`
			}
			return 0, ""
		}
		ft.keepBodies = true
		c := fakeClient(t, ft)
		store := sfmc.NewMemoryStore()
		a := storeContact("A", "Ann", "Lee")
		runWithStore(t, c, store, sfmc.UpserterConfig{}, a)

		// A change that fails: next time the same change is sent again,
		// and so is the old value if the input goes back to it.
		mu.Lock()
		fail["on"] = 1
		mu.Unlock()
		b := storeContact("A", "Anna", "Lee")
		out := runWithStore(t, c, store, sfmc.UpserterConfig{MaxAttempts: 2, RetryWaitMin: time.Millisecond}, b)
		require.Error(t, out["A"].Err)
		mu.Lock()
		fail["on"] = 0
		mu.Unlock()
		ft.takeBodies()
		out = runWithStore(t, c, store, sfmc.UpserterConfig{}, a)
		assert.False(t, out["A"].Skipped, "the old value is in doubt: SFMC may hold the failed one")
		require.Len(t, ft.takeBodies(), 1)
	})
}

// A store that fails makes the Upserter send everything (and alert once);
// an old confirmation (past SentTTL) is sent again.
func TestSentStoreFailureAndTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		ft.keepBodies = true
		c := fakeClient(t, ft)
		store := sfmc.NewMemoryStore()
		a := storeContact("A", "Ann", "Lee")
		runWithStore(t, c, store, sfmc.UpserterConfig{}, a)
		ft.takeBodies()

		broken := &failingStore{SentStore: store, err: errors.New("disk full")}
		var alerts []sfmc.Alert
		out := runWithStore(t, c, broken, sfmc.UpserterConfig{OnAlert: func(al sfmc.Alert) { alerts = append(alerts, al) }}, a, storeContact("B", "B", "B"))
		assert.Len(t, ft.takeBodies(), 2, "sent whole: never skipped on doubt")
		assert.False(t, out["A"].Skipped)
		require.Len(t, alerts, 1)
		assert.Equal(t, sfmc.AlertSentStoreUnavailable, alerts[0].Kind)
		assert.ErrorContains(t, alerts[0].Err, "disk full")

		out = runWithStore(t, c, store, sfmc.UpserterConfig{SentTTL: time.Hour}, a)
		assert.True(t, out["A"].Skipped)
		time.Sleep(2 * time.Hour)
		ft.takeBodies()
		out = runWithStore(t, c, store, sfmc.UpserterConfig{SentTTL: time.Hour}, a)
		assert.False(t, out["A"].Skipped, "past SentTTL: sent again")
		assert.Len(t, ft.takeBodies(), 1)
	})
}

type failingStore struct {
	sfmc.SentStore
	err error
}

func (f *failingStore) Get(context.Context, string) ([]byte, error) { return nil, f.err }
func (f *failingStore) Put(context.Context, string, []byte) error   { return f.err }

// Coalesced Adds of one key are compared as one contact, and Stats count
// skipped contacts and attributes.
func TestSentStoreCoalescingAndStats(t *testing.T) {
	t.Parallel()
	srv, c := newSimClient(t, nil)
	store := sfmc.NewMemoryStore()
	runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"), storeContact("B", "Bob", "Ray"))
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{SentStore: store, FlushInterval: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "A", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "First Name", Value: "Ann"}}}))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "A", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "Last Name", Value: "Lee"}}}))
	require.NoError(t, u.Add(ctx, storeContact("B", "Bob", "Rae")))
	require.NoError(t, u.Close(ctx))
	st := u.Stats()
	assert.Equal(t, int64(2), st.Skipped, "both Adds of A")
	assert.Equal(t, int64(4), st.SkippedAttributes, "A's two, B's email and first name")
	assert.Equal(t, int64(1), st.Requests)
	got, _ := srv.Contact("B")
	assert.Equal(t, "Rae", got.Sets["Email Demographics"]["Last Name"])
}

// The fault matrix's contract holds with a store attached, and a second
// pass over the same contacts skips exactly those SFMC confirmed.
func TestSentStoreUnderFaults(t *testing.T) {
	t.Parallel()
	for _, f := range []sfmctest.Fault{sfmctest.Fault500, sfmctest.FaultDrop, sfmctest.FaultDropAfterWrite} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			srv, c := newSimClient(t, []sfmctest.ServerOption{sfmctest.WithFaultRate(f, 0.2), sfmctest.WithSeed(3)})
			store := sfmc.NewMemoryStore()
			var contacts []sfmc.Contact
			for i := range 100 {
				contacts = append(contacts, storeContact(fmt.Sprint("K", i), "F", "L"))
			}
			cfg := sfmc.UpserterConfig{MaxAttempts: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond}
			first := runWithStore(t, c, store, cfg, contacts...)
			require.Len(t, first, 100)
			srv.SetFaultRate(f, 0)
			second := runWithStore(t, c, store, cfg, contacts...)
			for key, o := range first {
				s := second[key]
				require.NoError(t, s.Err, key)
				if o.Err == nil {
					assert.True(t, s.Skipped, "%s was confirmed: skipped", key)
				} else {
					assert.False(t, s.Skipped, "%s failed (%v): sent again", key, o.Err)
				}
				_, ok := srv.Contact(key)
				assert.True(t, ok, key)
			}
		})
	}
}

// syncingStore records the order of Puts, Syncs and sends.
type syncingStore struct {
	sfmc.SentStore
	mu      sync.Mutex
	events  []string
	syncErr error
}

func (s *syncingStore) Put(ctx context.Context, key string, rec []byte) error {
	s.mu.Lock()
	s.events = append(s.events, "put "+key)
	s.mu.Unlock()
	return s.SentStore.Put(ctx, key, rec)
}

func (s *syncingStore) Sync(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "sync")
	return s.syncErr
}

func (s *syncingStore) event(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *syncingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.events
	s.events = nil
	return out
}

// A store that batches its writes (SentStoreSyncer) is synced after a
// changed value is forgotten and before it is sent; a first send and a
// confirmation are not waited for, nor a value resent unchanged
// (ResendAll). A Sync that fails sends the contact whole, with the alert.
func TestSentStoreSyncsForgetsBeforeSending(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		store := &syncingStore{SentStore: sfmc.NewMemoryStore()}
		ft.answer = func(time.Time, int64) (int, string) { store.event("send"); return 0, "" }
		c := fakeClient(t, ft)
		var _ sfmc.SentStoreSyncer = store

		runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"))
		assert.Equal(t, []string{"send", "put A"}, store.take(), "nothing to forget: no Sync")

		runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Anna", "Lee"))
		assert.Equal(t, []string{"put A", "sync", "send", "put A"}, store.take(), "forget, Sync, then send")

		// ResendAll sends what SFMC confirmed again: nothing is in doubt,
		// nothing is forgotten first.
		runWithStore(t, c, store, sfmc.UpserterConfig{ResendAll: true}, storeContact("A", "Anna", "Lee"))
		assert.Equal(t, []string{"send", "put A"}, store.take(), "ResendAll forgets nothing it resends unchanged")

		store.syncErr = errors.New("fsync failed")
		var alerts []sfmc.Alert
		ft.keepBodies = true
		out := runWithStore(t, c, store, sfmc.UpserterConfig{OnAlert: func(a sfmc.Alert) { alerts = append(alerts, a) }}, storeContact("A", "Ann", "Lee"))
		assert.NoError(t, out["A"].Err)
		bodies := ft.takeBodies()
		require.Len(t, bodies, 1)
		assert.Contains(t, bodies[0], "Email Address", "sent whole")
		require.Len(t, alerts, 1)
		assert.Equal(t, sfmc.AlertSentStoreUnavailable, alerts[0].Kind)
		assert.ErrorContains(t, alerts[0].Err, "fsync failed")
		assert.Contains(t, alerts[0].Message, "resend everything")
	})
}

// flakyStore fails its next failGets Gets and failPuts Puts, then works.
type flakyStore struct {
	sfmc.SentStore
	mu                 sync.Mutex
	failGets, failPuts int
}

func (f *flakyStore) Get(ctx context.Context, k string) ([]byte, error) {
	f.mu.Lock()
	fail := f.failGets > 0
	f.failGets--
	f.mu.Unlock()
	if fail {
		return nil, errors.New("redis timeout")
	}
	return f.SentStore.Get(ctx, k)
}

func (f *flakyStore) Put(ctx context.Context, k string, r []byte) error {
	f.mu.Lock()
	fail := f.failPuts > 0
	f.failPuts--
	f.mu.Unlock()
	if fail {
		return errors.New("redis timeout")
	}
	return f.SentStore.Put(ctx, k, r)
}

// A store that fails for a moment (its Get, or the forget before a
// change) leaves no stale record once it works again: the record is
// replaced after the outcome, so going back to the old value is sent.
func TestSentStoreTransientFailureLeavesNoStaleRecord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name               string
		failGets, failPuts int
		failSend           bool
	}{
		{name: "get fails, send succeeds", failGets: 1},
		{name: "forget fails, send succeeds", failPuts: 1},
		{name: "get fails, send fails", failGets: 1, failSend: true},
		{name: "forget fails, send fails", failPuts: 1, failSend: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sfmctest.NewServer()
			t.Cleanup(srv.Close)
			c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithRateLimit(1e5, 100))...)
			require.NoError(t, err)
			mem := sfmc.NewMemoryStore()
			runWithStore(t, c, mem, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"))

			store := &flakyStore{SentStore: mem, failGets: tt.failGets, failPuts: tt.failPuts}
			if tt.failSend {
				srv.FailNext(1, sfmctest.FaultDropAfterWrite) // applied, no answer
			}
			var alerts []sfmc.Alert
			out := runWithStore(t, c, store, sfmc.UpserterConfig{MaxAttempts: 1, OnAlert: func(a sfmc.Alert) { alerts = append(alerts, a) }},
				storeContact("A", "Anna", "Lee"))
			assert.Equal(t, tt.failSend, out["A"].Err != nil, "%v", out["A"].Err)
			require.Len(t, alerts, 1)
			assert.Equal(t, sfmc.AlertSentStoreUnavailable, alerts[0].Kind)

			out = runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"))
			assert.False(t, out["A"].Skipped, "SFMC holds Anna (or may): Ann is sent")
			got, ok := srv.Contact("A")
			require.True(t, ok)
			assert.Equal(t, "Ann", got.Sets["Email Demographics"]["First Name"])
		})
	}
}

// An entry past SentTTL is still forgotten before its attribute is sent
// with another value: a later run with a longer SentTTL must not trust it.
func TestSentStoreForgetsExpiredEntries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		var fail sync.Mutex
		failing := false
		ft.answer = func(time.Time, int64) (int, string) {
			fail.Lock()
			defer fail.Unlock()
			if failing {
				return 500, `{"message":"boom"}`
			}
			return 0, ""
		}
		c := fakeClient(t, ft)
		store := sfmc.NewMemoryStore()
		runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"))
		time.Sleep(2 * time.Hour)

		fail.Lock()
		failing = true // SFMC may have applied it: the answer says nothing
		fail.Unlock()
		out := runWithStore(t, c, store, sfmc.UpserterConfig{SentTTL: time.Hour, MaxAttempts: 1}, storeContact("A", "Anna", "Lee"))
		require.Error(t, out["A"].Err)
		fail.Lock()
		failing = false
		fail.Unlock()

		out = runWithStore(t, c, store, sfmc.UpserterConfig{}, storeContact("A", "Ann", "Lee"))
		assert.False(t, out["A"].Skipped, "the expired entry for Ann was forgotten before Anna was sent")
	})
}

// A contact with no attributes holds nothing SFMC could have confirmed:
// with a store it is still sent (a PATCH with its key alone creates it),
// every time, never skipped.
func TestSentStoreSendsContactsWithoutAttributes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(time.Millisecond, 0, 0)
		c := fakeClient(t, ft)
		store := sfmc.NewMemoryStore()
		for range 2 {
			out := runWithStore(t, c, store, sfmc.UpserterConfig{}, sfmc.Contact{Key: "bare"})
			assert.False(t, out["bare"].Skipped)
			assert.Equal(t, 1, out["bare"].Attempts)
		}
		assert.Equal(t, int64(2), ft.requests())
	})
}
