package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/boltstore"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkTenant asserts that srv holds profiles 1..n of seed 1 with exactly
// the values they map to.
func checkTenant(t *testing.T, srv *sfmctest.Server, n int, change func(*demoProfile, int)) {
	t.Helper()
	for i := 1; i <= n; i++ {
		p := genProfile(1, i)
		if change != nil {
			change(&p, i)
		}
		stored, ok := srv.Contact(p.key)
		if !assert.True(t, ok, "%s is stored", p.key) {
			continue
		}
		for set, attrs := range p.expected() {
			for name, v := range attrs {
				assert.Equal(t, v, stored.Sets[set][name], "%s %s.%s", p.key, set, name)
			}
		}
	}
}

// patches counts the contact writes srv received.
func patches(srv *sfmctest.Server) int {
	k := 0
	for _, r := range srv.Requests() {
		if r.Method == "PATCH" {
			k++
		}
	}
	return k
}

// profilesWith returns profiles 1..n of seed 1 as NDJSON, each changed by
// change (when not nil).
func profilesWith(n int, change func(*demoProfile, int)) string {
	var b []byte
	for i := 1; i <= n; i++ {
		p := genProfile(1, i)
		if change != nil {
			change(&p, i)
		}
		b = p.appendJSON(b)
	}
	return string(b)
}

// Issue 16: a second run with the same --state sends nothing; with 5% of
// the records changed it sends exactly those (and only their changed
// attribute); --full sends everything and refreshes the state.
func TestPushStateSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	const n = 400
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	push := func(input string, extra ...string) summary {
		t.Helper()
		args := append([]string{"push", "--mapping", mapping, "--workers", "8", "--rate", "100000",
			"--failures", filepath.Join(dir, "failures.ndjson"), "--json", "--state", state}, extra...)
		r := runCLI(context.Background(), simEnv(srv), input, args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		return parseSummary(t, r.stdout)
	}

	first := push(profilesWith(n, nil))
	assert.EqualValues(t, n, first.Upserted)
	assert.EqualValues(t, n, first.Requests)
	assert.Zero(t, first.Skipped)
	checkTenant(t, srv, n, nil)

	second := push(profilesWith(n, nil))
	assert.EqualValues(t, n, second.Upserted, "a skipped record counts as upserted")
	assert.EqualValues(t, n, second.Skipped)
	assert.Zero(t, second.Requests)
	assert.Positive(t, second.SkippedAttributes)
	assert.Equal(t, first.Segments, second.Segments, "per-segment counts cover skipped records")

	// Every 20th record's first name changes: 5%.
	rename := func(p *demoProfile, i int) {
		if i%20 == 0 {
			p.first = "Renamed"
		}
	}
	before := patches(srv)
	third := push(profilesWith(n, rename))
	assert.EqualValues(t, n/20, third.Requests, "requests equal the changed records")
	assert.EqualValues(t, n-n/20, third.Skipped)
	assert.EqualValues(t, third.Requests, patches(srv)-before)
	checkTenant(t, srv, n, rename)
	for _, req := range srv.Requests() {
		if req.Method == "PATCH" {
			assert.Equal(t, 200, req.Status)
		}
	}

	full := push(profilesWith(n, rename), "--full")
	assert.EqualValues(t, n, full.Requests)
	assert.Zero(t, full.Skipped)
	again := push(profilesWith(n, rename))
	assert.Zero(t, again.Requests, "--full refreshed the state")
}

// A changed record sends only its changed attributes (PATCH merges per
// attribute): the tenant keeps the others.
func TestPushStateSendsOnlyChangedAttributes(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	args := []string{"push", "--mapping", mapping, "--workers", "2", "--rate", "100000",
		"--failures", filepath.Join(dir, "failures.ndjson"), "--json", "--state", state}
	r := runCLI(context.Background(), simEnv(srv), profilesWith(3, nil), args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	rename := func(p *demoProfile, i int) {
		if i == 2 {
			p.first = "Renamed"
		}
	}
	r = runCLI(context.Background(), simEnv(srv), profilesWith(3, rename), args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	changed := parseSummary(t, r.stdout)
	assert.EqualValues(t, 1, changed.Requests)
	assert.EqualValues(t, 2, changed.Skipped)
	checkTenant(t, srv, 3, rename)
	r = runCLI(context.Background(), simEnv(srv), profilesWith(3, rename), args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	same := parseSummary(t, r.stdout)
	assert.Zero(t, same.Requests)
	// The changed run left out every value but the new First Name.
	assert.Equal(t, same.SkippedAttributes-1, changed.SkippedAttributes)
}

// Bad --state files stop the run before anything is sent (exit 2) and are
// left as they were.
func TestPushStateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	profiles := writeFile(t, "profiles.ndjson", profilesWith(5, nil))
	notAStore := writeFile(t, "notes.txt", "my notes\n")
	locked := filepath.Join(dir, "locked.db")
	held, err := boltstore.Open(locked)
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	failures := filepath.Join(dir, "failures.ndjson")

	tests := []struct {
		name  string
		args  []string
		input string
		want  string
	}{
		{"--full without --state", []string{"--full"}, profiles, "--full needs --state"},
		{"a directory", []string{"--state", dir}, profiles, "is a directory"},
		{"the input", []string{"--state", profiles}, profiles, "is the input"},
		{"the failures file", []string{"--state", failures, "--failures", failures}, profiles, "is the --failures file"},
		{"not a state file", []string{"--state", notAStore}, profiles, "notes.txt"},
		{"in use", []string{"--state", locked}, profiles, "in use by another process"},
		{"in a missing directory", []string{"--state", filepath.Join(dir, "missing", "s.db")}, profiles, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			mapping := writeMapping(t, demoMapping())
			args := append([]string{"push", "--mapping", mapping, "--input", tt.input, "--json"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--failures") {
				args = append(args, "--failures", filepath.Join(t.TempDir(), "f.ndjson"))
			}
			r := runCLI(context.Background(), simEnv(srv), "", args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			for _, req := range srv.Requests() {
				assert.NotEqual(t, "PATCH", req.Method, "nothing is sent")
			}
		})
	}
	// --failures a link to the state file that does not exist yet: found
	// once both are open, before the failures file is truncated.
	t.Run("the failures file through a link", func(t *testing.T) {
		t.Parallel()
		srv := newSim(t)
		mapping := writeMapping(t, demoMapping())
		d := t.TempDir()
		state, link := filepath.Join(d, "state.db"), filepath.Join(d, "failures.ndjson")
		require.NoError(t, os.Symlink(state, link))
		r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", mapping, "--input", profiles, "--json",
			"--state", state, "--failures", link)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "is the file "+state)
		st, err := boltstore.Open(state)
		require.NoError(t, err, "the state file is intact")
		require.NoError(t, st.Close())
		for _, req := range srv.Requests() {
			assert.NotEqual(t, "PATCH", req.Method, "nothing is sent")
		}
	})
	// After the parallel subtests: the files they were given are intact.
	t.Cleanup(func() {
		b, err := os.ReadFile(notAStore)
		require.NoError(t, err)
		assert.Equal(t, "my notes\n", string(b))
		b, err = os.ReadFile(profiles)
		require.NoError(t, err)
		assert.Equal(t, profilesWith(5, nil), string(b))
	})
}

// A dry run neither reads nor creates the state file.
func TestPushStateDryRun(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	state := filepath.Join(t.TempDir(), "state.db")
	r := runCLI(context.Background(), simEnv(srv), profilesWith(5, nil), "push", "--mapping", mapping, "--dry-run", "--json", "--state", state)
	require.Equal(t, exitOK, r.code, r.stderr)
	_, err := os.Stat(state)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// Issue 16, item 5: kill -9 a push mid-run, rerun it with the same
// --state: the tenant holds every record, and the contacts the state had
// recorded as confirmed before the crash are not sent again.
func TestPushStateCrashResume(t *testing.T) {
	t.Parallel()
	const n = 600
	srv, state, pushArgs := crashRig(t)
	args := pushArgs(writeFile(t, "profiles.ndjson", profilesWith(n, nil)))

	stored := func() int { return len(srv.Contacts()) }
	killMidRun(t, srv, args, func() bool { return stored() >= n/4 })
	require.Less(t, stored(), n, "killed mid-run")

	// What the state recorded before the crash: each of those is stored.
	st, err := boltstore.Open(state)
	require.NoError(t, err)
	confirmed, err := st.Len()
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Positive(t, confirmed)
	t.Logf("killed after %d stored, %d confirmed in the state", stored(), confirmed)

	// Requests the child had in flight end at the simulator after the
	// kill (each waits its latency): let them settle before counting.
	last := -1
	require.True(t, testutil.WaitFor(10*time.Second, 100*time.Millisecond, func() bool {
		cur := patches(srv)
		settled := cur == last
		last = cur
		return settled
	}))
	before := patches(srv)
	r := runCLI(context.Background(), simEnv(srv), "", append(args, "--json")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, n, s.Upserted)
	assert.EqualValues(t, confirmed, s.Skipped, "what was confirmed is skipped")
	assert.EqualValues(t, n-confirmed, s.Requests, "the rest is sent once each, the confirmed never")
	assert.Equal(t, n-confirmed, patches(srv)-before)
	checkTenant(t, srv, n, nil)
}

// crashRig is the set-up of the crash tests: a simulator with some latency
// (so that a push at 150/s is still running when it is killed), the path of
// a state file, and the push arguments for an input with that state.
func crashRig(t *testing.T) (*sfmctest.Server, string, func(input string) []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	srv := newSim(t, sfmctest.WithLatency(10*time.Millisecond))
	mapping := writeMapping(t, demoMapping())
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	return srv, state, func(input string) []string {
		return []string{"push", "--mapping", mapping, "--input", input, "--workers", "4", "--rate", "150",
			"--failures", filepath.Join(dir, "failures.ndjson"), "--progress", "off", "--state", state}
	}
}

// killMidRun runs push with args in a child process against srv, kills it
// (SIGKILL) once until reports true, and waits for the requests it had in
// flight to end at srv (each waits the simulator's latency).
func killMidRun(t *testing.T, srv *sfmctest.Server, args []string, until func() bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPushProcess$")
	env := simEnv(srv)
	cmd.Env = append(os.Environ(), "SFMC_TEST_PUSH_ARGS="+strings.Join(args, "\x1f"))
	for _, k := range []string{envSubdomain, envClientID, envClientSecret, envAuthURL, envRESTURL} {
		cmd.Env = append(cmd.Env, k+"="+env(k))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	if !testutil.WaitFor(30*time.Second, 5*time.Millisecond, until) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the push did not get far enough: %s", stderr.String())
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	last := -1
	require.True(t, testutil.WaitFor(10*time.Second, 100*time.Millisecond, func() bool {
		cur := patches(srv)
		settled := cur == last
		last = cur
		return settled
	}))
}

// Issue 16: a push changing values is killed mid-run; a rerun with the
// values as they were before must restore them all, although the state
// had them confirmed: each was forgotten (durably) before its change was
// sent, so none is wrongly skipped.
func TestPushStateCrashWhileChanging(t *testing.T) {
	t.Parallel()
	const n = 600
	srv, _, args := crashRig(t)
	original := writeFile(t, "original.ndjson", profilesWith(n, nil))
	rename := func(p *demoProfile, _ int) { p.first = "Changed" }
	changed := writeFile(t, "changed.ndjson", profilesWith(n, rename))
	r := runCLI(context.Background(), simEnv(srv), "", append(args(original), "--rate", "100000", "--workers", "16")...)
	require.Equal(t, exitOK, r.code, r.stderr)

	changedNow := func() int {
		k := 0
		for _, c := range srv.Contacts() {
			if c.Sets["Email Demographics"]["First Name"] == "Changed" {
				k++
			}
		}
		return k
	}
	killMidRun(t, srv, args(changed), func() bool { return changedNow() >= n/4 })
	require.Less(t, changedNow(), n, "killed mid-run")
	t.Logf("killed after %d of %d contacts changed", changedNow(), n)

	r = runCLI(context.Background(), simEnv(srv), "", append(args(original), "--json")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.Positive(t, s.Requests, "the changed contacts are sent back")
	checkTenant(t, srv, n, nil)
}

// TestHelperPushProcess is the child process of TestPushStateCrashResume.
func TestHelperPushProcess(t *testing.T) {
	args := os.Getenv("SFMC_TEST_PUSH_ARGS")
	if args == "" {
		t.Skip("run by TestPushStateCrashResume")
	}
	code := run(context.Background(), strings.Split(args, "\x1f"), os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

// brokenStore works for its first n Puts, then fails every call.
type brokenStore struct {
	sfmc.SentStore
	mu   sync.Mutex
	left int
}

func (b *brokenStore) fail() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left <= 0 {
		return errors.New("disk I/O error")
	}
	return nil
}

func (b *brokenStore) Get(ctx context.Context, k string) ([]byte, error) {
	if err := b.fail(); err != nil {
		return nil, err
	}
	return b.SentStore.Get(ctx, k)
}

func (b *brokenStore) Put(ctx context.Context, k string, r []byte) error {
	if err := b.fail(); err != nil {
		return err
	}
	b.mu.Lock()
	b.left--
	b.mu.Unlock()
	return b.SentStore.Put(ctx, k, r)
}

// A state that fails during the run: every record is still upserted (sent
// whole), the summary warns to run the next push with --full, and the exit
// code is 1 so that a scheduler notices.
func TestPushStateFailsMidRun(t *testing.T) {
	t.Parallel()
	const n = 100
	srv := newSim(t)
	c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithRateLimit(1e5, 100))...)
	require.NoError(t, err)
	m := demoMapping()
	cat, err := c.AttributeSets.Catalog(context.Background())
	require.NoError(t, err)
	pm, err := m.Compile(cat)
	require.NoError(t, err)
	closed := false
	s, err := push(context.Background(), c, m, pm, strings.NewReader(profilesWith(n, nil)), pushOptions{
		workers: 4, failuresPath: filepath.Join(t.TempDir(), "f.ndjson"),
		state: &brokenStore{SentStore: sfmc.NewMemoryStore(), left: 30}, closeState: func() error { closed = true; return nil },
	})
	require.NoError(t, err)
	assert.True(t, closed, "the state is closed after the Upserter")
	assert.EqualValues(t, n, s.Upserted)
	assert.EqualValues(t, n, s.Requests, "every record sent")
	assert.False(t, s.ok(), "exit code 1")
	require.NotEmpty(t, s.Warnings)
	assert.Contains(t, strings.Join(s.Warnings, "\n"), "run the next push with --full")
	checkTenant(t, srv, n, nil)
}
