package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"golang.org/x/oauth2"
)

// TokenStore is an sfmc.TokenStore in Redis: the access token under
// "{prefix}:{clientID}:{accountID}:token" with its expiry (PX), and the
// refresh lease under "…:lease" (SET NX PX, released only by its owner).
// Each TokenStore is one lease owner: give each client its own.
type TokenStore struct {
	rdb      redis.UniversalClient
	tokenKey string
	leaseKey string
	owner    string
	timeout  time.Duration
}

var _ sfmc.TokenStore = (*TokenStore)(nil)

// NewTokenStore returns a TokenStore for the API integration of cfg (only
// its ClientID and AccountID are used: the secret is never stored).
func NewTokenStore(rdb redis.UniversalClient, cfg sfmc.Config, opts ...Option) *TokenStore {
	o := newOptions(opts)
	ks := newKeyspace(o.prefix, cfg)
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &TokenStore{rdb: rdb, tokenKey: ks.key("token"), leaseKey: ks.key("lease"), owner: hex.EncodeToString(b[:]), timeout: o.timeout}
}

// storedToken is the JSON kept in Redis.
type storedToken struct {
	AccessToken     string    `json:"access_token"`
	TokenType       string    `json:"token_type,omitempty"`
	Expiry          time.Time `json:"expiry"`
	ExpiresIn       int64     `json:"expires_in,omitempty"`
	RestInstanceURL string    `json:"rest_instance_url,omitempty"`
	SoapInstanceURL string    `json:"soap_instance_url,omitempty"`
	Scope           string    `json:"scope,omitempty"`
}

func extraString(tok *oauth2.Token, key string) string {
	s, _ := tok.Extra(key).(string)
	return s
}

// Load returns the stored token, or nil when there is none.
func (s *TokenStore) Load(ctx context.Context) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.rdb.Get(ctx, s.tokenKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: load token: %w", err)
	}
	var st storedToken
	if err := json.Unmarshal(raw, &st); err != nil || st.AccessToken == "" {
		return nil, nil // unreadable: treated as none, a refresh overwrites it
	}
	tok := &oauth2.Token{AccessToken: st.AccessToken, TokenType: st.TokenType, Expiry: st.Expiry, ExpiresIn: st.ExpiresIn}
	return tok.WithExtra(map[string]any{"rest_instance_url": st.RestInstanceURL, "soap_instance_url": st.SoapInstanceURL, "scope": st.Scope}), nil
}

// Store saves tok until its expiry; an already expired token is not stored.
func (s *TokenStore) Store(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return errors.New("redisstore: store token: empty token")
	}
	ttl := time.Until(tok.Expiry)
	if ttl < time.Millisecond {
		return nil
	}
	raw, err := json.Marshal(storedToken{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn,
		RestInstanceURL: extraString(tok, "rest_instance_url"), SoapInstanceURL: extraString(tok, "soap_instance_url"), Scope: extraString(tok, "scope"),
	})
	if err != nil {
		return fmt.Errorf("redisstore: store token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Set(ctx, s.tokenKey, raw, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: store token: %w", err)
	}
	return nil
}

// Lease takes the refresh lease for ttl if nobody holds it.
func (s *TokenStore) Lease(ctx context.Context, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.rdb.SetNX(ctx, s.leaseKey, s.owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: take lease: %w", err)
	}
	return ok, nil
}

// releaseScript deletes the lease only when it still names its owner.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// Release gives the lease up if this store still holds it.
func (s *TokenStore) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := releaseScript.Run(ctx, s.rdb, []string{s.leaseKey}, s.owner).Err(); err != nil {
		return fmt.Errorf("redisstore: release lease: %w", err)
	}
	return nil
}
