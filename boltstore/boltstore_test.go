package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

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

func TestGetReturnsACopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	rec := []byte{1, 2}
	require.NoError(t, s.Put(ctx, "k", rec))
	rec[0] = 9 // the caller's slice is not kept
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, got)
}

func TestConcurrentPutsShareTransactions(t *testing.T) {
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
	b, err := os.ReadFile(notBolt)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`+"\n", string(b), "a file that is not a store is left alone")
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

// TestKillLosesOnlyUnreturnedPuts kills a process that Puts records as
// fast as it can (kill -9, no Close) and checks that every Put that had
// returned (and printed its number) is in the file afterwards.
func TestKillLosesOnlyUnreturnedPuts(t *testing.T) {
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
	// Read the numbers of the returned Puts until a few hundred are in.
	var returned []int
	buf := make([]byte, 0, 64)
	one := make([]byte, 1)
	for len(returned) < 300 {
		_, err := out.Read(one)
		require.NoError(t, err)
		if one[0] != '\n' {
			buf = append(buf, one[0])
			continue
		}
		n, err := strconv.Atoi(string(buf))
		require.NoError(t, err)
		returned = append(returned, n)
		buf = buf[:0]
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	s := open(t, path)
	for _, n := range returned {
		got, err := s.Get(context.Background(), "K-"+strconv.Itoa(n))
		require.NoError(t, err)
		require.Equal(t, []byte(strconv.Itoa(n)), got, "a Put that returned is durable: K-%d", n)
	}
}

// TestHelperPutter is the child process of TestKillLosesOnlyUnreturnedPuts.
func TestHelperPutter(t *testing.T) {
	path := os.Getenv("BOLTSTORE_PUTTER")
	if path == "" {
		t.Skip("run by TestKillLosesOnlyUnreturnedPuts")
	}
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; ; i += 8 {
				if err := s.Put(context.Background(), "K-"+strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
					return
				}
				mu.Lock()
				fmt.Println(i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
