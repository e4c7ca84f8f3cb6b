package sfmc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultSentTTL is how long a confirmed value is trusted (see
// UpserterConfig.SentTTL).
const DefaultSentTTL = 30 * 24 * time.Hour

// SentStore is where an Upserter remembers, per contact key, what SFMC last
// confirmed, for change-only sending (UpserterConfig.SentStore): every
// contact costs one request against the tenant's yearly budget, and a daily
// re-sync where 5% changed need not spend 100%.
//
// The store holds one small record per contact key, which the Upserter
// writes and reads (the record's format is the Upserter's: a fingerprint of
// each attribute value SFMC confirmed, and when). It never holds attribute
// values, only 64-bit hashes of them. Implementations: NewMemoryStore (in
// memory), the boltstore package (a file, for the CLI's --state) and
// redisstore.SentStore (a fleet). They must be safe for concurrent use; the
// Upserter writes each key from one goroutine at a time. The Upserter
// calls them on its workers, on the hot path, with its own context (done
// when Close gives up): they must return promptly or honour that context,
// bounding any network call themselves (redisstore bounds each by its
// WithTimeout).
//
// What the Upserter does with one:
//
//   - Before a contact's first attempt it reads the key's record and drops
//     every attribute whose value SFMC confirmed (same fingerprint,
//     confirmed within SentTTL). When nothing is left, no request is sent:
//     the Outcome says Skipped (a contact with no attributes at all is
//     always sent: its key alone creates it). PATCH merges per attribute,
//     so sending only what changed is correct.
//   - Before sending a changed attribute that has a record, it forgets that
//     attribute (until SFMC confirms the new value, the old one is in
//     doubt), and when the store is a SentStoreSyncer waits for Sync: the
//     old value must not survive a crash as "confirmed" while SFMC holds
//     the new one.
//   - After a confirmed success, and only then, it records the fingerprints
//     of what it sent. A failure, an ErrOutcomeUnknown or a skip records
//     nothing.
//   - When the store fails (Get, Put or Sync returns an error), the contact
//     is sent whole (never skipped on doubt), AlertSentStoreUnavailable is
//     raised once, and after the outcome the key's record is replaced (by
//     what SFMC confirmed, else by the record without what was sent), so a
//     store that comes back is right again. A store that stays down may
//     keep a record saying SFMC holds a value it no longer does: after that
//     alert, make the next run resend everything (ResendAll; the CLI's
//     --full).
//
// One Upserter per contact key at a time: two Upserters (two pods sharing
// a redisstore.SentStore) writing the same key at once could each record
// its own value last. Shard a fleet's input by contact key.
//
// A 64-bit fingerprint makes a wrong skip as likely as two different values
// of an attribute hashing alike: about one in 10^19 per changed value.
type SentStore interface {
	// Get returns the record stored for key, or nil and no error when
	// there is none. The caller does not modify it.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores record for key, replacing what was there; an empty
	// record deletes it. The caller does not modify record afterwards,
	// so a store may keep it as it is.
	Put(ctx context.Context, key string, record []byte) error
}

// SentStoreSyncer is implemented by a SentStore whose Put may return
// before the record is durable (one that batches its writes, as boltstore
// does: a crash then loses the last Puts, and their contacts are sent
// again). Sync returns once every Put that returned before it is durable;
// the Upserter calls it after forgetting values it is about to change, and
// before it sends them. Confirmations it does not wait for: losing one only
// costs a request.
type SentStoreSyncer interface {
	SentStore
	Sync(ctx context.Context) error
}

// NewMemoryStore returns a SentStore in memory: for tests and short-lived
// jobs (what it remembers ends with the process).
func NewMemoryStore() SentStore { return &memoryStore{m: map[string][]byte{}} }

type memoryStore struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (s *memoryStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[key], nil
}

func (s *memoryStore) Put(_ context.Context, key string, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(record) == 0 {
		delete(s.m, key)
		return nil
	}
	s.m[key] = record // the caller does not modify it (see SentStore.Put)
	return nil
}

// sentRecordVersion is the first byte of a record.
// Version 2: strings fingerprinted behind a NUL, set names length-prefixed.
// A record of another version is read as none (its contact is sent whole).
const sentRecordVersion = 2

// sentAttr is one confirmed attribute value in a record.
type sentAttr struct {
	attr  uint64 // fingerprint of the set and attribute name
	value uint64 // fingerprint of the value as sent (its JSON)
	at    uint32 // when SFMC confirmed it, Unix seconds
}

// sentRecord is a key's record, decoded.
type sentRecord []sentAttr

const sentAttrSize = 8 + 8 + 4

// decodeSentRecord parses a record; a record it cannot read (another
// version, cut short) is treated as none, so the contact is sent whole.
func decodeSentRecord(b []byte) sentRecord {
	if len(b) < 1 || b[0] != sentRecordVersion || (len(b)-1)%sentAttrSize != 0 {
		return nil
	}
	b = b[1:]
	r := make(sentRecord, 0, len(b)/sentAttrSize)
	for ; len(b) >= sentAttrSize; b = b[sentAttrSize:] {
		r = append(r, sentAttr{
			attr:  binary.LittleEndian.Uint64(b),
			value: binary.LittleEndian.Uint64(b[8:]),
			at:    binary.LittleEndian.Uint32(b[16:]),
		})
	}
	return r
}

func (r sentRecord) encode() []byte {
	if len(r) == 0 {
		return nil
	}
	b := make([]byte, 1, 1+len(r)*sentAttrSize)
	b[0] = sentRecordVersion
	for _, a := range r {
		b = binary.LittleEndian.AppendUint64(b, a.attr)
		b = binary.LittleEndian.AppendUint64(b, a.value)
		b = binary.LittleEndian.AppendUint32(b, a.at)
	}
	return b
}

func (r sentRecord) find(attr uint64) int {
	for i := range r {
		if r[i].attr == attr {
			return i
		}
	}
	return -1
}

// FNV-1a, 64 bits (as hash/fnv's New64a computes it, without the
// allocation of a hash.Hash per value: the skip path runs per attribute).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// attrFingerprint identifies an attribute by its set and name: the set's
// length in 8 bytes, the set, the name (so that no set and name pair reads
// as another, whatever bytes they hold).
func attrFingerprint(set, name string) uint64 {
	h := uint64(fnvOffset64)
	n := uint64(len(set))
	for i := range 8 {
		h ^= (n >> (8 * i)) & 0xff
		h *= fnvPrime64
	}
	return fnvString(fnvString(h, set), name)
}

// valueFingerprint identifies a value by its JSON text: the string "1" and
// the number 1 differ, as they do on the wire. A plain string is hashed as
// a NUL and its bytes, without encoding it: no JSON text starts with a NUL,
// so it cannot read as another value (a named string type or a
// json.Marshaler goes through its JSON, and its fingerprint differs from
// the plain string's: at worst one needless send).
func valueFingerprint(v any) (uint64, error) {
	if s, ok := v.(string); ok {
		return fnvString(fnvString(fnvOffset64, "\x00"), s), nil
	}
	b, err := valueJSON(v)
	if err != nil {
		return 0, err
	}
	return fnvString(fnvOffset64, string(b)), nil
}

// changeSet is what the store says about one contact: the attributes to
// send, with their fingerprints, and the record the rest came from.
type changeSet struct {
	send    []AttributeValue
	fps     []sentAttr // fingerprints of send, in order
	record  sentRecord // the stored record, still-valid entries only
	skipped int        // attributes SFMC holds already
	doubt   bool       // an attribute to send has an entry for another value: forget it first
	// replace: the stored record could not be read or changed (the store
	// failed), so it may be stale: after the outcome it is replaced, by
	// the confirmed record on success, else by the record without what was
	// sent.
	replace bool
}

// changes compares c's attributes (the last value of each) with rec.
// Entries older than ttl (before now) are not trusted, but an attribute
// about to be sent with another value than any entry of its own, expired
// or not, is in doubt (forgotten before the send: an expired entry must
// not be trusted again later, by a longer SentTTL, after a send that
// applied without a confirmation). all sends every attribute but keeps the
// record for the confirmation.
func changes(c Contact, rec sentRecord, now time.Time, ttl time.Duration, all bool) (changeSet, error) {
	attrs := lastValues(c.Attributes)
	cs := changeSet{send: make([]AttributeValue, 0, len(attrs)), fps: make([]sentAttr, 0, len(attrs))}
	oldest := now.Add(-ttl).Unix()
	if len(rec) > 0 {
		cs.record = make(sentRecord, 0, len(rec))
	}
	for _, e := range rec {
		if int64(e.at) >= oldest {
			cs.record = append(cs.record, e)
		}
	}
	for _, a := range attrs {
		id := attrFingerprint(a.Set, a.Name)
		v, err := valueFingerprint(a.Value)
		if err != nil {
			return changeSet{}, err
		}
		same := false
		if i := cs.record.find(id); i >= 0 && cs.record[i].value == v {
			if !all {
				cs.skipped++
				continue
			}
			same = true // sent again as SFMC confirmed it: nothing in doubt
		}
		if !same && rec.find(id) >= 0 {
			cs.doubt = true
		}
		cs.send = append(cs.send, a)
		cs.fps = append(cs.fps, sentAttr{attr: id, value: v})
	}
	return cs, nil
}

// lastValues returns attrs with each (Set, Name) once, at its first
// position, holding its last value: what the encoder sends.
func lastValues(attrs []AttributeValue) []AttributeValue {
	dup := false
	for i := 1; i < len(attrs) && !dup; i++ {
		for j := 0; j < i; j++ {
			if attrs[j].Set == attrs[i].Set && attrs[j].Name == attrs[i].Name {
				dup = true
				break
			}
		}
	}
	if !dup {
		return attrs
	}
	out := make([]AttributeValue, 0, len(attrs))
	pos := map[attrKey]int{}
	for _, a := range attrs {
		k := attrKey{a.Set, a.Name}
		if i, ok := pos[k]; ok {
			out[i].Value = a.Value
			continue
		}
		pos[k] = len(out)
		out = append(out, a)
	}
	return out
}

// without returns the record minus the attributes in fps (forgotten before
// they are sent).
func (cs changeSet) without() sentRecord {
	out := make(sentRecord, 0, len(cs.record))
	for _, e := range cs.record {
		if !containsAttr(cs.fps, e.attr) {
			out = append(out, e)
		}
	}
	return out
}

// confirmed returns the record with fps added as confirmed at now.
func (cs changeSet) confirmed(now time.Time) sentRecord {
	out := make(sentRecord, 0, len(cs.record)+len(cs.fps))
	for _, e := range cs.record {
		if !containsAttr(cs.fps, e.attr) {
			out = append(out, e)
		}
	}
	at := uint32(now.Unix())
	for _, f := range cs.fps {
		f.at = at
		out = append(out, f)
	}
	return out
}

func containsAttr(fps []sentAttr, attr uint64) bool {
	for _, f := range fps {
		if f.attr == attr {
			return true
		}
	}
	return false
}

// errSentStore wraps a SentStore failure.
var errSentStore = errors.New("sfmc: sent store failed")

func sentStoreErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", errSentStore, op, err)
}
