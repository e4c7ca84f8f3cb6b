package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPushFaultMatrix runs `sfmc push` against the simulator under each
// fault × 3 seeds and checks, for every input record read (all of them,
// but for a 50200 block, which stops the push where it happened):
//   - it is counted once: read == upserted + failed + notSent, and the
//     failures file has exactly failed + notSent records, one per line
//     number, each with its input line;
//   - every record not in the failures file is stored in the simulator with
//     exactly the values it maps to (strongest status per Mapping ID);
//   - a record in the failures file is not stored, unless its error says
//     SFMC may have applied it (an attempt got no answer).
//
// Every run has a --state file (issue 16), and two more runs follow the
// first under the same faults: one with a third of the records changed,
// one with the original records again. Each skips exactly the records SFMC
// holds, sends the others, keeps the same accounting and leaves the
// tenant holding its input's values.
//
// The run's table is printed in the test log.
func TestPushFaultMatrix(t *testing.T) {
	t.Parallel()
	const records = 120
	type cell struct {
		name   string
		opts   []sfmctest.ServerOption
		args   []string
		during func(*sfmctest.Server)
		block  bool // 50200 with --fail-on-block: the push stops early, by design
	}
	fast := sfmctest.WithRetryAfter(5 * time.Millisecond)
	cells := []cell{
		{name: "none"},
		{name: "429 storm 30%", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault429, 0.3), fast}},
		{name: "429/50200 block 5% --fail-on-block", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultBlocked, 0.05)},
			args: []string{"--fail-on-block"}, block: true},
		{name: "50200 block 1s at request 30", opts: []sfmctest.ServerOption{sfmctest.WithBlockAt(30, time.Second)}},
		{name: "500 10%", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault500, 0.1)}},
		{name: "503 10% + Retry-After", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.Fault503, 0.1), fast}},
		{name: "drop before write 5%", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDrop, 0.05)}},
		{name: "drop after write 5%", opts: []sfmctest.ServerOption{sfmctest.WithFaultRate(sfmctest.FaultDropAfterWrite, 0.05)}},
		{name: "token TTL 1s", opts: []sfmctest.ServerOption{sfmctest.WithTokenTTL(time.Second)}, args: []string{"--rate", "80"}},
		{name: "token revoked", args: []string{"--rate", "200"}, during: func(s *sfmctest.Server) {
			time.Sleep(200 * time.Millisecond)
			s.RevokeTokens()
		}},
		{name: "20ms latency + tenant 100/s", opts: []sfmctest.ServerOption{sfmctest.WithLatency(20 * time.Millisecond), sfmctest.WithRateLimit(100, 10)},
			args: []string{"--rate", "95"}},
	}
	var mu sync.Mutex
	var table []string
	t.Cleanup(func() {
		t.Logf("\n%-28s %4s %7s %4s %6s %7s %8s %7s %5s %6s %8s %9s\n%s", "fault", "seed", "records", "ok", "failed", "notSent", "requests", "retries", "429s", "tokens", "skipped2", "requests2",
			strings.Join(table, "\n"))
	})
	for _, c := range cells {
		for seed := int64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				t.Parallel()
				srv := newSim(t, append([]sfmctest.ServerOption{sfmctest.WithSeed(seed)}, c.opts...)...)
				mapping := writeMapping(t, demoMapping())
				failures := filepath.Join(t.TempDir(), "failures.ndjson")
				state := filepath.Join(t.TempDir(), "state.db")
				if c.during != nil {
					go c.during(srv)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// The matrix is about accounting under faults, not pace: a
				// --rate far above loopback speed starts the pace there, so
				// that random 429s and 503s (which no pace avoids) take
				// seconds to slow the run. A cell's own --rate comes later
				// and wins.
				args := append([]string{"push", "--mapping", mapping, "--workers", "8", "--failures", failures, "--json", "--rate", "100000", "--state", state}, c.args...)
				r := runCLI(ctx, simEnv(srv), profilesNDJSON(t, records), args...)
				s := parseSummary(t, r.stdout)

				if c.block {
					// A block stops the push: it reads no further, and the
					// summary's read count says where it stopped.
					assert.LessOrEqual(t, s.Read, int64(records))
				} else {
					assert.EqualValues(t, records, s.Read, r.stderr)
				}
				assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent, "every record read is counted once")
				failedKeys := map[string]string{}
				recs := readFailures(t, failures)
				assert.Len(t, recs, int(s.Failed+s.NotSent))
				if s.Failed+s.NotSent > 0 {
					assert.Equal(t, exitFailed, r.code)
					lines := map[int64]bool{}
					for _, f := range recs {
						assert.False(t, lines[f.Line], "line %d reported twice", f.Line)
						lines[f.Line] = true
						require.NotNil(t, f.Input, "line %d: the record holds its input line", f.Line)
						if f.ContactKey != nil {
							failedKeys[*f.ContactKey] = f.Error
						} else {
							failedKeys[genProfile(1, int(f.Line)).key] = f.Error
						}
					}
				} else {
					assert.Equal(t, exitOK, r.code, r.stderr)
				}
				if c.block {
					assert.Positive(t, s.Failed+s.NotSent, "the block stops the push")
				} else {
					assert.Zero(t, s.Failed+s.NotSent, "transient faults are retried until every record lands")
				}
				for i := 1; i <= records; i++ {
					p := genProfile(1, i)
					stored, found := srv.Contact(p.key)
					if int64(i) > s.Read {
						assert.False(t, found, "%s was never read but is stored", p.key)
						continue
					}
					if msg, failed := failedKeys[p.key]; failed {
						if found && !strings.Contains(msg, "may have applied it") {
							t.Errorf("%s reported failed (%s) but stored", p.key, msg)
						}
						continue
					}
					if !assert.True(t, found, "%s upserted but not stored", p.key) {
						continue
					}
					for set, attrs := range p.expected() {
						for name, v := range attrs {
							assert.Equal(t, v, stored.Sets[set][name], "%s %s.%s", p.key, set, name)
						}
					}
				}
				st := srv.Stats()

				// Then, under the same faults and with the same state: a
				// run where every third record's first name changed, and a
				// run with the original records again. Each skips exactly
				// what SFMC holds, sends the rest, and leaves the tenant
				// with the values of its input.
				rename := func(p *demoProfile, i int) {
					if i%3 == 0 {
						p.first = "Changed"
					}
				}
				more := func(input string, change func(*demoProfile, int), wantSkipped int64) (summary, bool) {
					args := append([]string{"push", "--mapping", mapping, "--workers", "8", "--failures", failures + ".more", "--json", "--rate", "100000", "--state", state}, c.args...)
					r := runCLI(ctx, simEnv(srv), input, args...)
					if c.block && r.stdout == "" {
						// Blocked while reading the attributes, before anything
						// was sent: a direct call does not wait a block out.
						assert.Equal(t, exitUsage, r.code)
						assert.Contains(t, r.stderr, "50200")
						return summary{}, false
					}
					s := parseSummary(t, r.stdout)
					assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent, "every record read is counted once")
					if c.block {
						return s, false
					}
					assert.EqualValues(t, records, s.Upserted, r.stderr)
					assert.Equal(t, wantSkipped, s.Skipped, r.stderr)
					assert.GreaterOrEqual(t, s.Requests, records-s.Skipped)
					checkTenant(t, srv, records, change)
					return s, true
				}
				changed := int64(records / 3)
				s2, ok := more(profilesWith(records, rename), rename, records-changed)
				if ok {
					more(profilesWith(records, nil), nil, records-changed)
				}
				mu.Lock()
				table = append(table, fmt.Sprintf("%-28s %4d %7d %4d %6d %7d %8d %7d %5d %6d %8d %9d", c.name, seed, s.Read, s.Upserted, s.Failed, s.NotSent,
					s.Requests, s.Retries, s.Throttled, st.TokenRequests, s2.Skipped, s2.Requests))
				mu.Unlock()
			})
		}
	}
}
