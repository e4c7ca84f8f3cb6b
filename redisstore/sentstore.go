package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
)

// SentStore is an sfmc.SentStore in Redis, for change-only sending
// (sfmc.UpserterConfig.SentStore) by a fleet: every Upserter of the
// integration skips what any of them saw SFMC confirm. Each contact's record
// is a string under "{prefix}:{clientID}:{accountID}:sent:{contactKey}"
// (the contact key as it is, any UTF-8), written with an expiry of
// WithSentTTL so that a contact no longer sent costs no memory after it.
//
// Every call is bounded by WithTimeout. A failed call returns an error,
// never "no record": the Upserter then sends the contact whole and raises
// sfmc.AlertSentStoreUnavailable. One SentStore may be shared by any number
// of Upserters and goroutines, but each contact key must go through one
// Upserter at a time (shard the fleet's input by contact key): a record is
// read, changed and written without a lock, so two pods sending the same
// key at once could each record their own value last, and one of them
// would not be the value SFMC holds.
type SentStore struct {
	rdb     redis.UniversalClient
	prefix  string // every key is prefix + contact key
	ttl     time.Duration
	timeout time.Duration
}

var _ sfmc.SentStore = (*SentStore)(nil)

// NewSentStore returns a SentStore for the API integration of cfg (only its
// ClientID and AccountID are used: the secret is never stored).
func NewSentStore(rdb redis.UniversalClient, cfg sfmc.Config, opts ...Option) *SentStore {
	o := newOptions(opts)
	return &SentStore{rdb: rdb, prefix: newKeyspace(o.prefix, cfg).key("sent") + ":", ttl: o.sentTTL, timeout: o.timeout}
}

// Get returns the record stored for the contact key, or nil and no error
// when there is none.
func (s *SentStore) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rec, err := s.rdb.Get(ctx, s.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get sent record: %w", err)
	}
	if len(rec) == 0 {
		return nil, nil
	}
	return rec, nil
}

// Put stores record for the contact key with the store's TTL, replacing
// what was there; an empty record deletes it.
func (s *SentStore) Put(ctx context.Context, key string, record []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if len(record) == 0 {
		if err := s.rdb.Del(ctx, s.prefix+key).Err(); err != nil {
			return fmt.Errorf("redisstore: delete sent record: %w", err)
		}
		return nil
	}
	if err := s.rdb.Set(ctx, s.prefix+key, record, s.ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: put sent record: %w", err)
	}
	return nil
}
