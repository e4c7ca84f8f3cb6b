// Package boltstore is an [sfmc.SentStore] in one file on disk, on the
// embedded database bbolt (go.etcd.io/bbolt): what `sfmc push --state FILE`
// uses so that a daily re-sync sends only what changed since SFMC last
// confirmed it.
//
// The file holds, per contact key, the record the Upserter writes: 64-bit
// fingerprints of the attribute values SFMC confirmed and when, never the
// values themselves (about 60 bytes of file per contact with five
// attributes; see the README). Deleting the file resets it: the next run
// sends everything and records it again.
//
// Durability: [Store.Put] returns once its record is committed to the file
// (fsync). Puts made at the same time by the Upserter's workers share one
// transaction (bbolt's Batch: up to [MaxBatch] records, waiting at most
// [BatchDelay] for others), so a kill -9 loses at most the batch being
// committed — whose Puts have not returned, so their contacts were not
// recorded as confirmed and are sent again by the next run, never wrongly
// skipped.
//
// One process at a time: [Open] takes an exclusive lock on the file, and a
// second Open of the same file (another push with the same --state) fails
// with [ErrLocked] after [LockTimeout].
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// LockTimeout is how long Open waits for another process to release
	// the file.
	LockTimeout = time.Second
	// BatchDelay is the longest a Put waits for others to share its
	// transaction.
	BatchDelay = 5 * time.Millisecond
	// MaxBatch is the most records one transaction commits.
	MaxBatch = 1000
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
}

// Open opens the store file at path, creating it (mode 0600: it says which
// contact keys were sent) when it does not exist. It fails when the file
// is not a store (another bbolt file, or not a bbolt file at all), when it
// cannot be created, and with ErrLocked when another process has it open.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db.MaxBatchDelay = BatchDelay
	db.MaxBatchSize = MaxBatch
	if err := initFile(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
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

// Get returns the record stored for key, or nil when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...) // v lives only as long as tx
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get: %w", err)
	}
	return out, nil
}

// Put stores record for key (an empty record deletes it) and returns once
// the record is committed to the file; concurrent Puts share a transaction.
func (s *Store) Put(ctx context.Context, key string, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := []byte(key)
	v := append([]byte(nil), record...)
	// Batch may run fn more than once (when another fn of its batch
	// fails): a Put is idempotent.
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if len(v) == 0 {
			return b.Delete(k)
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put: %w", err)
	}
	return nil
}

// Len returns the number of contact keys the store holds a record for.
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

// Close waits for the Puts in progress to commit and closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}
