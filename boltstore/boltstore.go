// Package boltstore is an [sfmc.SentStore] in one file on disk, on the
// embedded database bbolt (go.etcd.io/bbolt): what `sfmc push --state FILE`
// uses so that a daily re-sync sends only what changed since SFMC last
// confirmed it.
//
// The file holds, per contact key, the record the Upserter writes: 64-bit
// fingerprints of the attribute values SFMC confirmed and when, never the
// values themselves (a record is 1 + 20 bytes per attribute; with the key
// and bbolt's pages, about 170 bytes of file per contact of six attributes,
// measured by bench/state.sh). Deleting the file resets it: the next run
// sends everything and records it again.
//
// Durability: [Store.Put] keeps the record in memory (Get sees it at once)
// and a background writer commits what was Put in one transaction every
// [FlushInterval], or as soon as [MaxBatch] records wait, so a kill -9 loses
// the records not yet committed: about FlushInterval's worth (more only
// while the disk falls behind, never more than 8,000). Those are
// confirmations: their contacts are sent again by the next run, never
// wrongly skipped. What must not be lost — the
// Upserter forgetting a value it is about to change — it makes durable with
// [Store.Sync] before sending (see [sfmc.SentStoreSyncer]); concurrent Syncs
// share one commit.
//
// One process at a time: [Open] takes an exclusive lock on the file, and a
// second Open of the same file (another push with the same --state) fails
// with [ErrLocked] after [LockTimeout].
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	// LockTimeout is how long Open waits for another process to release
	// the file.
	LockTimeout = time.Second
	// FlushInterval is the longest a Put waits in memory before it is
	// committed.
	FlushInterval = 100 * time.Millisecond
	// MaxBatch is how many waiting records start a commit before
	// FlushInterval.
	MaxBatch = 1000
	// maxPending is how many records may wait before Put waits for a
	// commit (the disk is slower than the Upserter).
	maxPending = 8 * MaxBatch
)

// ErrLocked reports that another process holds the store file.
var ErrLocked = errors.New("boltstore: the file is in use by another process")

// bucket holds the records, by contact key; meta holds the format.
var (
	bucket     = []byte("sent")
	meta       = []byte("meta")
	formatKey  = []byte("format")
	formatName = []byte("sfmc-sent-v1")
)

// Store is a SentStore in a bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	mu        sync.Mutex
	pending   map[string][]byte // Puts not yet committed (nil: delete)
	flushing  map[string][]byte // the batch being committed, or nil
	next      uint64            // the batch pending collects into
	done      uint64            // the last batch committed
	committed chan struct{}     // closed when a batch is committed
	err       error             // a commit failed: the store is failed
	closed    bool

	kick chan struct{} // asks the writer for a commit now
	quit chan struct{} // closed by Close
	gone chan struct{} // closed when the writer has returned
}

// Open opens the store file at path, creating it (mode 0600: it says which
// contact keys were sent) when it does not exist, and starts its writer.
// It fails when the file is not a store (another bbolt file, or not a
// bbolt file at all), when it cannot be created, and with ErrLocked when
// another process has it open. Close it to commit the last Puts.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := initFile(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	s := &Store{db: db, path: path, pending: map[string][]byte{}, next: 1,
		committed: make(chan struct{}), kick: make(chan struct{}, 1),
		quit: make(chan struct{}), gone: make(chan struct{})}
	go s.write()
	return s, nil
}

// initFile creates the buckets of a new file, or checks that an existing
// one is a store.
func initFile(db *bolt.DB) error {
	if db.IsReadOnly() {
		return errors.New("opened read-only")
	}
	return db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(meta)
		if m == nil {
			if hasBuckets(tx) {
				return errors.New("not a sent store (a bbolt file with other data)")
			}
			m, err := tx.CreateBucket(meta)
			if err != nil {
				return err
			}
			if err := m.Put(formatKey, formatName); err != nil {
				return err
			}
			_, err = tx.CreateBucket(bucket)
			return err
		}
		if f := m.Get(formatKey); string(f) != string(formatName) {
			return fmt.Errorf("not a sent store of this version (format %q)", f)
		}
		if tx.Bucket(bucket) == nil {
			return errors.New("damaged sent store: no records bucket")
		}
		return nil
	})
}

func hasBuckets(tx *bolt.Tx) bool {
	found := false
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { found = true; return nil })
	return found
}

// Get returns the record stored for key (a Put not yet committed
// included), or nil when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	v, ok := s.pending[key]
	if !ok {
		v, ok = s.flushing[key]
	}
	if ok {
		s.mu.Unlock()
		return v, nil // never modified: a Put replaces it (see sfmc.SentStore)
	}
	s.mu.Unlock()
	// Not waiting: the file holds the latest (a batch leaves flushing
	// only once committed).
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get([]byte(key)); v != nil {
			out = bytes.Clone(v) // v lives only as long as tx
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get: %w", err)
	}
	return out, nil
}

// Put stores record for key (an empty record deletes it). It returns once
// the record is in memory, where Get sees it; the writer commits it within
// FlushInterval (Sync waits for that). When the writer falls behind by
// many records, Put waits for a commit.
func (s *Store) Put(ctx context.Context, key string, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var v []byte // nil: delete
	if len(record) > 0 {
		v = record // kept as it is: the caller does not modify it (see sfmc.SentStore)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := s.usable(); err != nil {
			return err
		}
		if len(s.pending) < maxPending {
			break
		}
		if err := s.waitCommit(ctx); err != nil {
			return err
		}
	}
	s.pending[key] = v
	if len(s.pending) >= MaxBatch {
		s.signal()
	}
	return nil
}

// Sync returns once every Put that returned before it was called is
// committed to the file (fsync), or with the error that stopped it.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var target uint64
	switch {
	case len(s.pending) > 0:
		target = s.next
	case s.flushing != nil:
		target = s.next - 1
	default:
		return s.err
	}
	for s.done < target && s.err == nil {
		if err := s.waitCommit(ctx); err != nil {
			return err
		}
	}
	return s.err
}

// waitCommit asks the writer for a commit and waits for the next one to
// end, or for ctx. s.mu is held on entry and on return, released while it
// waits.
func (s *Store) waitCommit(ctx context.Context) error {
	ch := s.committed
	s.mu.Unlock()
	defer s.mu.Lock()
	s.signal()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// usable returns why the store cannot take a Put (s.mu held).
func (s *Store) usable() error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errClosed
	}
	return nil
}

var errClosed = errors.New("boltstore: the store is closed")

// signal asks the writer for a commit now.
func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// write is the writer: it commits what was Put every FlushInterval, when
// asked, and once more when the store closes.
func (s *Store) write() {
	defer close(s.gone)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			s.flush()
			return
		case <-s.kick:
		case <-t.C:
		}
		s.flush()
	}
}

// flush commits the pending records in one transaction.
func (s *Store) flush() {
	s.mu.Lock()
	if len(s.pending) == 0 || s.err != nil {
		s.mu.Unlock()
		return
	}
	batch, n := s.pending, s.next
	s.pending, s.flushing = make(map[string][]byte, len(batch)), batch
	s.next++
	s.mu.Unlock()

	// Sorted, each page is visited once per commit; pages split 90% full
	// (bbolt's default of 50% suits keys that arrive in order; here each
	// record is rewritten at its size on every confirmation): the file
	// takes about half the space.
	keys := slices.Sorted(maps.Keys(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		b.FillPercent = 0.9
		for _, k := range keys {
			v := batch[k]
			var err error
			if v == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})

	s.mu.Lock()
	s.flushing = nil
	s.done = n
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("boltstore: commit: %w", err)
	}
	close(s.committed)
	s.committed = make(chan struct{})
	s.mu.Unlock()
}

// Len returns the number of contact keys the file holds a record for
// (committed Puts only).
func (s *Store) Len() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n, err
}

// Size returns the size of the store file in bytes.
func (s *Store) Size() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Close commits the records Put so far, stops the writer and closes the
// file. It returns the error of a commit that failed, if one did.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.gone
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("boltstore: close: %w", cerr)
	}
	return err
}
