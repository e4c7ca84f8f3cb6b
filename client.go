package sfmc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Option configures a Client. Options are applied in order to a copy of the
// defaults; an option that gets a bad value makes NewClient fail.
type Option func(*settings) error

type settings struct{}

// Config identifies the tenant and the API integration.
type Config struct {
	Subdomain    string
	ClientID     string
	ClientSecret string
	AccountID    string
	Scopes       []string
}

// Client is an SFMC REST client. It is safe for concurrent use.
type Client struct {
	Contacts      *ContactsService
	AttributeSets *AttributeSetsService
}

// ContactsService groups the Contacts API calls.
type ContactsService struct{ c *Client }

// AttributeSetsService groups the attribute-set definition calls.
type AttributeSetsService struct{ c *Client }

// NewClient STUB.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	c := &Client{}
	c.Contacts = &ContactsService{c}
	c.AttributeSets = &AttributeSetsService{c}
	return c, nil
}

// WithHTTPClient STUB.
func WithHTTPClient(hc *http.Client) Option { return func(*settings) error { return nil } }

// WithAuthURL STUB.
func WithAuthURL(u string) Option { return func(*settings) error { return nil } }

// WithRESTURL STUB.
func WithRESTURL(u string) Option { return func(*settings) error { return nil } }

// WithRetry STUB.
func WithRetry(max int, waitMin, waitMax time.Duration) Option {
	return func(*settings) error { return nil }
}

// WithRateLimit STUB.
func WithRateLimit(perSecond float64, burst int) Option { return func(*settings) error { return nil } }

// WithLogger STUB.
func WithLogger(l *slog.Logger) Option { return func(*settings) error { return nil } }

// Verify STUB.
func (c *Client) Verify(ctx context.Context) error { return errors.New("stub") }

// request describes one REST call going through the client's pipeline.
type request struct {
	method string     // http.MethodGet, http.MethodPatch, ...
	path   string     // path below the REST base, starting with "/", e.g. "/contacts/v1/contacts"
	query  url.Values // optional query
	body   []byte     // JSON body or nil; replayed on retries
}

// do sends r through the pipeline (limiter, cool-down, token, retries) and
// returns the size-limited body of a 2xx answer, or a typed error
// (*APIError, *RateLimitError, *OAuthError, ErrClientRateLimited, ctx
// errors, transport errors).
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	return nil, errors.New("stub")
}

func httpStatusText(code int) string { return http.StatusText(code) }
