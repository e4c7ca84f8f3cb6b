package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/boltstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var _ sfmc.SentStore = (*boltstore.Store)(nil)

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRoundTripAndReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)

	got, err := s.Get(ctx, "absent")
	require.NoError(t, err)
	assert.Nil(t, got)

	require.NoError(t, s.Put(ctx, "K-1", []byte{1, 2, 3}))
	require.NoError(t, s.Put(ctx, "K:2 ü", []byte{4}))
	require.NoError(t, s.Put(ctx, "K-3", []byte{5}))
	require.NoError(t, s.Put(ctx, "K-3", nil)) // an empty record deletes
	require.NoError(t, s.Put(ctx, "never", nil))
	require.NoError(t, s.Close())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	s = open(t, path)
	for key, want := range map[string][]byte{"K-1": {1, 2, 3}, "K:2 ü": {4}, "K-3": nil} {
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, got, key)
	}
	n, err := s.Len()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

// A record read from the file is a copy: it stays valid after the store
// closes (bbolt's own bytes live only as long as their transaction).
func TestGetAfterCommitOutlivesTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	require.NoError(t, s.Put(ctx, "k", []byte{1, 2}))
	require.NoError(t, s.Sync(ctx))
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, []byte{1, 2}, got)
}

func TestConcurrentPuts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 100 {
				assert.NoError(t, s.Put(ctx, fmt.Sprintf("K-%d-%d", w, i), []byte{byte(i)}))
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Sync(ctx))
	n, err := s.Len()
	require.NoError(t, err)
	assert.Equal(t, 1600, n)
}

func TestOpenFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notBolt := filepath.Join(dir, "profiles.ndjson")
	require.NoError(t, os.WriteFile(notBolt, []byte(`{"a":1}`+"\n"), 0o600))
	otherBolt := filepath.Join(dir, "other.db")
	db, err := bolt.Open(otherBolt, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }))
	require.NoError(t, db.Close())

	tests := []struct {
		name, path, want string
	}{
		{"not a bbolt file", notBolt, "profiles.ndjson"},
		{"another bbolt file", otherBolt, "not a sent store"},
		{"a directory", dir, dir},
		{"a missing directory", filepath.Join(dir, "missing", "state.db"), "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := boltstore.Open(tt.path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		b, err := os.ReadFile(notBolt)
		require.NoError(t, err)
		assert.Equal(t, `{"a":1}`+"\n", string(b), "a file that is not a store is left alone")
	})
}

func TestSecondOpenIsLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path)
	// The lock is per open file description: a second Open in this
	// process sees it as another process would.
	_, err := boltstore.Open(path)
	require.ErrorIs(t, err, boltstore.ErrLocked)
	assert.Contains(t, err.Error(), path)
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Put(ctx, "k", []byte{1}), context.Canceled)
	_, err := s.Get(ctx, "k")
	require.ErrorIs(t, err, context.Canceled)
}

// TestKillKeepsWhatWasSynced kills a process that Puts records as fast as
// it can and Syncs every 50 (kill -9, no Close), and checks that every
// record Put before a Sync that returned is in the file afterwards.
func TestKillKeepsWhatWasSynced(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPutter$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_PUTTER="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// Each line is the count of records durable so far; read some.
	sc := bufio.NewScanner(out)
	synced := 0
	for synced < 2000 && sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue // the test framework's own output
		}
		synced = n
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.GreaterOrEqual(t, synced, 2000, "the child synced")

	s := open(t, path)
	for i := range synced {
		got, err := s.Get(context.Background(), "K-"+strconv.Itoa(i))
		require.NoError(t, err)
		require.Equal(t, []byte(strconv.Itoa(i)), got, "a record synced is durable: K-%d", i)
	}
}

// TestHelperPutter is the child process of TestKillKeepsWhatWasSynced.
func TestHelperPutter(t *testing.T) {
	path := os.Getenv("BOLTSTORE_PUTTER")
	if path == "" {
		t.Skip("run by TestKillKeepsWhatWasSynced")
	}
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	for i := 0; ; i++ {
		require.NoError(t, s.Put(ctx, "K-"+strconv.Itoa(i), []byte(strconv.Itoa(i))))
		if (i+1)%50 == 0 {
			require.NoError(t, s.Sync(ctx))
			fmt.Println(i + 1)
		}
	}
}

// A Put is visible to Get at once, committed by Sync, and the last Puts
// are committed by Close.
func TestPutSyncAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Sync(ctx), "nothing to sync")
	require.NoError(t, s.Put(ctx, "a", []byte{1}))
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []byte{1}, got, "seen before it is committed")
	require.NoError(t, s.Sync(ctx))
	n, err := s.Len()
	require.NoError(t, err)
	assert.Equal(t, 1, n, "committed by Sync")
	require.NoError(t, s.Put(ctx, "a", nil))
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got, "a delete is seen before it is committed")
	require.NoError(t, s.Put(ctx, "b", []byte{2}))
	require.NoError(t, s.Close())
	require.Error(t, s.Put(ctx, "c", []byte{3}), "closed")
	require.Error(t, s.Close())

	s = open(t, path)
	got, err = s.Get(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, []byte{2}, got, "committed by Close")
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got)
}

// Many Puts, more than the writer keeps waiting, all land.
func TestManyPuts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	const n = 30000
	for i := range n {
		require.NoError(t, s.Put(ctx, "K-"+strconv.Itoa(i), []byte{byte(i)}))
	}
	require.NoError(t, s.Close())
	s = open(t, path)
	got, err := s.Len()
	require.NoError(t, err)
	assert.Equal(t, n, got)
}

// Puts and Syncs from many goroutines, and a Close in the middle of them:
// nothing hangs, and every call after the Close fails plainly.
func TestCloseWhileSyncing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	var synced atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := s.Put(ctx, fmt.Sprintf("K-%d-%d", w, i), []byte{1}); err != nil {
					return
				}
				if err := s.Sync(ctx); err != nil {
					return
				}
				synced.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return synced.Load() > 100 }, 10*time.Second, time.Millisecond)
	require.NoError(t, s.Close())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Puts or Syncs hang after Close")
	}
	require.Error(t, s.Put(ctx, "after", []byte{1}))
}
