package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// matrixCell is one fault of the Upserter fault matrix.
type matrixCell struct {
	name string
	// srv returns the simulator options of the cell (the seed is added).
	srv []sfmctest.ServerOption
	// client options added to the fast-retry defaults.
	client []sfmc.Option
	// during runs in its own goroutine while the contacts are sent, until
	// stop is closed.
	during func(srv *sfmctest.Server, stop <-chan struct{})
	// blocked: the cell injects 429/50200 and runs with FailOnBlock, which
	// stops the Upserter (waiting blocks out is TestUpserterWaitsOutBlock's).
	blocked bool
	// seeded: the cell injects faults at random (WithFaultRate) and runs
	// with three seeds; the others run once, as a seed changes nothing for
	// them.
	seeded bool
	// check asserts what shows the fault really happened.
	check func(t *testing.T, st sfmc.UpserterStats, ss sfmctest.Stats)
}

// matrixRow is one line of the table logged by TestUpserterFaultMatrix.
type matrixRow struct {
	fault                         string
	seed                          int64
	records, ok, failed, unknown  int
	retries, throttled, tokenReqs int64
}

const matrixRecords = 200

func faultMatrixCells() []matrixCell {
	fast := sfmctest.WithRetryAfter(5 * time.Millisecond)
	return []matrixCell{
		{name: "none"},
		{name: "429 storm 30%", seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault429, 0.30), fast},
			check: func(t *testing.T, st sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, st.Throttled, "429s seen by the Upserter")
				assert.Positive(t, ss.ByStatus[429], "429s sent by the simulator")
			}},
		{name: "429/50200 block 5% (FailOnBlock)", blocked: true, seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultBlocked, 0.05)},
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.ByStatus[429], "50200 answers sent")
			}},
		{name: "500 10%", seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault500, 0.10)},
			check: func(t *testing.T, st sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.ByStatus[500])
				assert.Positive(t, st.Retried)
			}},
		{name: "503+Retry-After 10%", seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault503, 0.10), fast},
			check: func(t *testing.T, st sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.ByStatus[503])
				assert.Positive(t, st.Retried)
			}},
		{name: "drop before write 10%", seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.10)},
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.Dropped)
			}},
		{name: "drop after write 10%", seeded: true, srv: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDropAfterWrite, 0.10)},
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.Dropped)
				// Every dropped answer was applied, and its retry applied
				// again: more writes than contacts.
				assert.Greater(t, ss.Writes, int64(matrixRecords))
			}},
		{name: "token TTL 1s", srv: []sfmctest.ServerOption{sfmctest.WithTokenTTL(time.Second)},
			// 200 contacts at 80/s: the run lasts about 2.5 s, more than
			// two token lifetimes.
			client: []sfmc.Option{sfmc.WithRateLimit(80, 1)},
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.GreaterOrEqual(t, ss.TokenRequests, int64(3), "tokens refreshed during the run")
			}},
		{name: "token revoked", client: []sfmc.Option{sfmc.WithRateLimit(400, 1)}, // ~0.5 s run
			// Revocations as they happen for real: separate events, each
			// after the token that replaced the last revoked one has
			// worked. (A new token revoked before any success looks, to
			// any client, like a rejected integration: that is
			// TestUpserterRejectedIntegration's.)
			during: func(srv *sfmctest.Server, stop <-chan struct{}) {
				for i := range 4 {
					base := srv.Stats()
					for {
						// The first revocation after 10 successes; each
						// next one once a new token has done 10 more.
						st := srv.Stats()
						if (i == 0 || st.TokensIssued > base.TokensIssued) && st.ByStatus[200] >= base.ByStatus[200]+10 {
							break
						}
						select {
						case <-stop:
							return
						case <-time.After(5 * time.Millisecond):
						}
					}
					srv.RevokeTokens()
				}
			},
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.Positive(t, ss.ByStatus[401], "revoked tokens were refused")
				assert.GreaterOrEqual(t, ss.TokenRequests, int64(2), "new tokens fetched after revocation")
			}},
		{name: "latency 20ms + tenant 150/s", srv: []sfmctest.ServerOption{sfmctest.WithLatency(20 * time.Millisecond), sfmctest.WithRateLimit(150, 5)},
			client: []sfmc.Option{sfmc.WithRateLimit(math.Inf(1), 1)}, // find the pace
			check: func(t *testing.T, _ sfmc.UpserterStats, ss sfmctest.Stats) {
				assert.GreaterOrEqual(t, ss.RESTRequests, int64(matrixRecords))
			}},
	}
}

// outcomeUnknown reports whether a failed Outcome admits that SFMC may have
// applied the write: one of its attempts was sent and got no answer (a
// dropped connection, or a request Close cut off), which the client and the
// Upserter mark with ErrOutcomeUnknown. Every other failure is an answer
// from SFMC or a refusal before sending: SFMC did not apply that write.
func outcomeUnknown(err error) bool {
	return errors.Is(err, sfmc.ErrOutcomeUnknown)
}

// runMatrixCell drives one Upserter through one fault with one seed and
// checks the outcome contract. What it asserts:
//
//  1. Every Add that returned nil has exactly one Outcome, and no Outcome
//     arrives for a key whose Add was refused. (In the 50200 cell Add
//     refuses with ErrBlocked once the Upserter stopped.)
//  2. Every key is unique to its Add, so "the values sent" are that Add's.
//     A success is stored in the simulator with exactly those values: the
//     stored sets equal the sent sets, no attribute more or less.
//  3. A failure is either definite — SFMC answered and did not apply it,
//     or it was never sent — and then the contact is absent from the
//     simulator; or it says its outcome is unknown (outcomeUnknown), and
//     then the contact may or may not be stored. A FaultDropAfterWrite
//     applies the write and drops the answer: if that were the last
//     attempt, the failure is a transport error (unknown) and the stored
//     contact is allowed; a retry that succeeds makes it a success, checked
//     by 2.
//  4. Outside the 50200 cell the retry budget covers the faults, so no
//     contact fails; in the 50200 cell every failure matches ErrBlocked.
//  5. The Stats agree: added = accepted, succeeded + failed = accepted,
//     nothing in flight or queued after Close.
func runMatrixCell(t *testing.T, cell matrixCell, seed int64) matrixRow {
	srvOpts := append([]sfmctest.ServerOption{sfmctest.WithSeed(seed), sfmctest.WithRequestLogSize(0)}, cell.srv...)
	srv := sfmctest.NewServer(srvOpts...)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	opts := append(srv.ClientOptions(),
		sfmc.WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		sfmc.WithRetry(2, time.Millisecond, 20*time.Millisecond),
		// The matrix is about outcomes under faults, not pace: a ceiling
		// far above loopback speed starts the pace there, so that random
		// 429s and 503s (which no pace avoids) take seconds to matter.
		// Cells that measure pace set their own rate (cell.client, last).
		sfmc.WithRateLimit(1e5, 100))
	c, err := sfmc.NewClient(srv.Config(), append(opts, cell.client...)...)
	require.NoError(t, err)

	var mu sync.Mutex
	outcomes := map[string][]sfmc.Outcome{}
	store := sfmc.NewMemoryStore() // change-only sending, attached to every cell
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, FailOnBlock: cell.blocked, SentStore: store,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
		OnResult: func(o sfmc.Outcome) {
			mu.Lock()
			outcomes[o.Key] = append(outcomes[o.Key], o)
			mu.Unlock()
		}})
	require.NoError(t, err)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	if cell.during != nil {
		bg.Add(1)
		go func() {
			defer bg.Done()
			cell.during(srv, stop)
		}()
	}
	accepted := map[string]sfmc.Contact{}
	refused := map[string]bool{}
	prefix := strings.NewReplacer(" ", "_", "/", "_", "%", "pc", "+", "_").Replace(cell.name)
	for i := range matrixRecords {
		key := fmt.Sprintf("%s-s%d-K%03d", prefix, seed, i)
		ct := sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
			{Set: "Email Addresses", Name: "Email Address", Value: fmt.Sprintf("k%03d-s%d@example.com", i, seed)},
			{Set: "Email Demographics", Name: "First Name", Value: fmt.Sprintf("First %d/%d", i, seed)},
			{Set: "Email Demographics", Name: "Last Name", Value: cell.name},
		}}
		if err := u.Add(context.Background(), ct); err != nil {
			require.True(t, cell.blocked, "Add refused outside the 50200 cell: %v", err)
			require.ErrorIs(t, err, sfmc.ErrBlocked)
			refused[key] = true
			continue
		}
		accepted[key] = ct
	}
	require.NoError(t, u.Close(context.Background()))
	close(stop)
	bg.Wait()

	row := matrixRow{fault: cell.name, seed: seed, records: len(accepted)}
	mu.Lock()
	defer mu.Unlock()
	for key := range outcomes {
		_, ok := accepted[key]
		require.True(t, ok, "outcome for %s, whose Add was refused", key)
	}
	for key, sent := range accepted {
		outs := outcomes[key]
		require.Len(t, outs, 1, "outcomes of %s", key)
		o := outs[0]
		stored, inSim := srv.Contact(key)
		if o.Err == nil {
			row.ok++
			require.True(t, inSim, "success %s is in the simulator", key)
			want := map[string]map[string]any{}
			for _, a := range sent.Attributes {
				if want[a.Set] == nil {
					want[a.Set] = map[string]any{}
				}
				want[a.Set][a.Name] = a.Value
			}
			require.Equal(t, want, stored.Sets, "stored values of %s", key)
			continue
		}
		row.failed++
		if cell.blocked {
			require.ErrorIs(t, o.Err, sfmc.ErrBlocked, "failure of %s", key)
		}
		if outcomeUnknown(o.Err) {
			row.unknown++
			continue
		}
		require.False(t, inSim, "%s reported failed (%v) but stored in the simulator", key, o.Err)
	}
	if cell.blocked {
		assert.Positive(t, row.failed, "the 50200 answer failed at least its own contact")
	} else {
		assert.Zero(t, row.failed, "the retry budget covers transient faults")
	}
	st := u.Stats()
	assert.Equal(t, int64(len(accepted)), st.Added)
	assert.Equal(t, int64(row.ok), st.Succeeded)
	assert.Equal(t, int64(row.failed), st.Failed)
	assert.Zero(t, st.InFlight)
	assert.Zero(t, st.QueueDepth)
	ss := srv.Stats()
	if cell.check != nil {
		cell.check(t, st, ss)
	}
	row.retries, row.throttled, row.tokenReqs = st.Retried, ss.ByStatus[429], ss.TokenRequests

	// 6. The store remembers exactly the successes: a second pass over the
	// same contacts (faults off) skips them and sends every failure again.
	srv.SetFaultRate(sfmctest.Fault429, 0)
	srv.SetFaultRate(sfmctest.FaultBlocked, 0)
	srv.SetFaultRate(sfmctest.Fault500, 0)
	srv.SetFaultRate(sfmctest.Fault503, 0)
	srv.SetFaultRate(sfmctest.FaultDrop, 0)
	srv.SetFaultRate(sfmctest.FaultDropAfterWrite, 0)
	again := map[string]sfmc.Outcome{}
	var againMu sync.Mutex // mu is held
	u2, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{SentStore: store, OnResult: func(o sfmc.Outcome) {
		againMu.Lock()
		again[o.Key] = o
		againMu.Unlock()
	}})
	require.NoError(t, err)
	for _, ct := range accepted {
		require.NoError(t, u2.Add(context.Background(), ct))
	}
	require.NoError(t, u2.Close(context.Background()))
	for key := range accepted {
		first, second := outcomes[key][0], again[key]
		require.NoError(t, second.Err, key)
		assert.Equal(t, first.Err == nil, second.Skipped, "%s: skipped exactly when its first outcome was a success (%v)", key, first.Err)
	}
	return row
}

// TestUpserterFaultMatrix runs every fault, the random ones with three
// seeds, cells in parallel, and logs the table. (That no goroutine is left
// after Close is TestUpserterNoGoroutineLeftAfterClose's.)
func TestUpserterFaultMatrix(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault matrix skipped in -short mode")
	}
	var mu sync.Mutex
	var rows []matrixRow
	var started atomic.Int64
	t.Cleanup(func() {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].fault != rows[j].fault {
				return rows[i].fault < rows[j].fault
			}
			return rows[i].seed < rows[j].seed
		})
		var b strings.Builder
		fmt.Fprintf(&b, "\n%-28s %4s %7s %5s %6s %7s %7s %5s %6s\n", "fault", "seed", "records", "ok", "failed", "unknown", "retries", "429s", "tokens")
		for _, r := range rows {
			fmt.Fprintf(&b, "%-28s %4d %7d %5d %6d %7d %7d %5d %6d\n", r.fault, r.seed, r.records, r.ok, r.failed, r.unknown, r.retries, r.throttled, r.tokenReqs)
		}
		t.Log(b.String())
		assert.Len(t, rows, int(started.Load()), "every cell that started ran to the end")
	})
	for _, cell := range faultMatrixCells() {
		seeds := []int64{1}
		if cell.seeded {
			seeds = []int64{1, 2, 3}
		}
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", cell.name, seed), func(t *testing.T) {
				t.Parallel()
				started.Add(1)
				row := runMatrixCell(t, cell, seed)
				mu.Lock()
				rows = append(rows, row)
				mu.Unlock()
			})
		}
	}
}

// TestTokenOneRequestPerLifetime: 256 goroutines call the API without
// pause for three token lifetimes; the tenant must see exactly three token
// requests and no 401.
//
// Arithmetic: tokens live 3 s (expires_in 3). The client refreshes
// margin = min(1 s, lifetime/2) = 1 s before expiry, i.e. 2 s after each
// fetch, and serves the old token while the refresh runs. With t0 the
// first fetch, the fetches happen at t0, t0+2 s and t0+4 s; the 4th would
// come at t0+6 s. The goroutines stop starting calls at t0+5 s. On the
// bubble's fake clock (testing/synctest) the timeline is exact; a 401
// could not add a fetch either: it drops only the token it was sent with,
// and a refresh in flight is joined, not repeated.
func TestTokenOneRequestPerLifetime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ft := newFakeTenant(50*time.Millisecond, 0, 0)
		ft.ttl = 3 * time.Second
		c := fakeClient(t, ft, sfmc.WithTokenRefreshMargin(time.Second),
			// A ceiling far above what the test sends: the pace starts there.
			sfmc.WithRateLimit(1e6, 1000), sfmc.WithRetry(2, time.Millisecond, 20*time.Millisecond))
		ctx := context.Background()
		require.NoError(t, c.Verify(ctx)) // the first fetch: t0
		stopAt := time.Now().Add(5 * time.Second)
		var calls, failures atomic.Int64
		var wg sync.WaitGroup
		for g := range 256 {
			wg.Go(func() {
				ct := sfmc.Contact{Key: fmt.Sprintf("T%03d", g)}
				for time.Now().Before(stopAt) {
					calls.Add(1)
					if _, err := c.Contacts.Upsert(ctx, ct); err != nil {
						failures.Add(1)
					}
				}
			})
		}
		wg.Wait()
		tokens, unauthorized := ft.tokenRequests()
		t.Logf("%d calls by 256 goroutines, %d token requests, %d answers 401", calls.Load(), tokens, unauthorized)
		assert.Zero(t, failures.Load())
		assert.Zero(t, unauthorized)
		assert.Greater(t, calls.Load(), int64(256*50), "every goroutine called, many times")
		assert.Equal(t, 3, tokens, "one token request per lifetime")
	})
}

// TestUpserterFailureAfterUnansweredAttempt: the Upserter's first try is
// applied by SFMC but its answer is lost (FaultDropAfterWrite); the
// retry gets a 500, and the retry budget ends. The contact is stored, so
// the failure must not read as definite: it must say SFMC may have applied
// it (the last error, HTTP 500, stays reachable with errors.Is/As).
// WithRetry(0) leaves the retries to the Upserter, which sees every
// attempt's error. (Retries inside one client call:
// TestClientRetryReportsUnansweredAttempt.)
func TestUpserterFailureAfterUnansweredAttempt(t *testing.T) {
	t.Parallel()
	srv := sfmctest.NewServer()
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(),
		sfmc.WithHTTPClient(&http.Client{Transport: tr}), sfmc.WithRetry(0, time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, c.Verify(context.Background()))
	srv.FailNext(1, sfmctest.FaultDropAfterWrite)
	srv.FailNext(1, sfmctest.Fault500)
	var out sfmc.Outcome
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, MaxAttempts: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond,
		OnResult: func(o sfmc.Outcome) { out = o }})
	require.NoError(t, err)
	require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "K", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"}}}))
	require.NoError(t, u.Close(context.Background()))

	_, stored := srv.Contact("K")
	require.True(t, stored, "the dropped first attempt was applied")
	require.Error(t, out.Err, "the budget ended on a 500")
	assert.ErrorIs(t, out.Err, sfmc.ErrServer, "the last error stays reachable")
	assert.Contains(t, out.Err.Error(), "may have applied it")
	assert.True(t, outcomeUnknown(out.Err), "a failure that may have been applied is not definite")
}

// TestClientRetryReportsUnansweredAttempt: the same sequence as
// TestUpserterFailureAfterUnansweredAttempt, but the retry happens inside
// one client call (WithRetry(1)): the call fails with the last answer
// (HTTP 500), and its error also says that SFMC may have applied the
// request (ErrOutcomeUnknown), because an earlier attempt of the call was
// sent and got no answer. Here that attempt was applied.
func TestClientRetryReportsUnansweredAttempt(t *testing.T) {
	t.Parallel()
	srv := sfmctest.NewServer()
	t.Cleanup(srv.Close)
	c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithRetry(1, time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	require.NoError(t, c.Verify(context.Background()))
	srv.FailNext(1, sfmctest.FaultDropAfterWrite)
	srv.FailNext(1, sfmctest.Fault500)
	_, err = c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "K", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"}}})
	require.Error(t, err)
	_, stored := srv.Contact("K")
	require.True(t, stored)
	assert.True(t, outcomeUnknown(err), "error %q reads as definite for a stored contact", err)
	assert.ErrorIs(t, err, sfmc.ErrServer, "the last answer stays reachable")
}
