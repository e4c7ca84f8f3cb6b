// Package sfmc is a client for the Salesforce Marketing Cloud (SFMC)
// Contacts and Attribute-Set REST APIs. It does, as a Go library, what Adobe
// Experience Platform's "(API) Salesforce Marketing Cloud" streaming
// destination does: authenticate with a tenant subdomain and an API
// integration's client id and secret, discover the tenant's attributes,
// map profile fields and segment statuses onto Email Demographics and Email
// Addresses attributes, and upsert contacts at high throughput inside
// SFMC's rate limits.
//
// # Client
//
// NewClient validates a Config and options without a network call. The
// Client gets an OAuth2 client-credentials token from
// https://{subdomain}.auth.marketingcloudapis.com/v2/token, caches it,
// refreshes it a margin before it expires (one request in flight however
// many goroutines ask), and sends REST calls to the rest_instance_url the
// token answer names. Every call goes through one pipeline: build URL →
// cool-down → limiter → token → send with retries → decode or typed error.
//
//   - Retries (github.com/hashicorp/go-retryablehttp): connection errors,
//     429 (errorcode 50100) and 500/502/503/504 for idempotent methods
//     (GET, PATCH); POST only on 429 and 503, which say the request was not
//     processed. Retry-After (header, else the body's retryAfter) is
//     honoured up to the maximum wait; full jitter otherwise.
//   - A 429 with Retry-After pauses every request of the client until it
//     has passed (one shared Cooldown). A 429 with errorcode 50200
//     ("blocked") is never retried: ErrBlocked.
//   - A REST 401 drops the token and retries the request once with a new one.
//   - The client-side Limiter (golang.org/x/time/rate by default; an
//     interface so a shared limiter can be plugged in) is paid on every
//     attempt, retries included.
//   - Redirects to another host are refused, so the token never leaves the
//     tenant's REST host.
//
// # Contacts, attribute sets and segments
//
// Client.Contacts upserts contacts (Upsert is SFMC's PATCH, which the
// destination relies on to create or update; Create is POST), looks keys up
// by email and deletes. A contact SFMC refuses inside an HTTP 200 answer
// (operationStatus "FAIL"), or in a 4xx answer whose body carries
// resultMessages, is an error, *ContactError, and one naming an unknown set
// or attribute (recognised by result code or by message text) matches
// ErrUnknownAttribute.
//
// Client.AttributeSets reads attribute-set definitions with their flags
// (primary key, system-defined, hidden, read-only, ...), data types,
// lengths (-1 = unlimited) and scales: FirstPage reads one page of up to
// 2000 as the destination does and says when more exist; All (an
// iter.Seq2) and Catalog read every page. Sets a tenant lists without
// their attributes are read by id. A Catalog answers
// Lookup("Email Demographics.First Name") and lists the mappable Targets:
// what a contact write may set (not primary keys such as Contacts ID, not
// hidden or read-only attributes).
//
// Each segment's status ("realized", "existing", "exited") is written into
// the Email Demographics Text attribute named by the segment's Mapping ID
// (SegmentMapper; the strongest status wins when segments share one).
// ValidateMappings and Mapping.Validate check Mapping IDs, targets and
// constants against the tenant before anything is sent, and report every
// problem at once with what to do about it; Mapping.Warnings reports what
// deserves attention without stopping (HTML Enabled not set, Email
// Demographics near its 200 attributes). ProfileMapper.Map checks every
// value against its target's data type and length (CheckValue) and
// requires the mapped email address, so bad input never reaches SFMC.
//
// Data is never changed on the way. DecodeProfile reports invalid UTF-8
// (and unpaired surrogate escapes) anywhere in a profile line as a
// *RecordError naming the field, where encoding/json would put U+FFFD;
// Contact.Validate rejects invalid UTF-8 in keys, names and string values
// (ErrInvalidUTF8 with ErrInvalidContact); and a contact key with leading
// or trailing whitespace is a record error (ErrKeyWhitespace), never
// trimmed.
//
// # Upserter
//
// NewUpserter starts the batching writer to embed in pipelines: a bounded
// queue (Add blocks while it is full), coalescing of queued updates to one
// contact key, a pool of workers under the client's limiter and cool-down,
// retries of transient failures within a per-contact budget, fail-fast on
// conditions no retry cures (credentials, IP allowlist, 50200), alerts, and
// exactly one Outcome per accepted Add, including across Close. The
// command-line tool cmd/sfmc streams NDJSON profiles through it.
//
// # Fleet mode
//
// Several processes using one API integration can share one token
// (WithTokenStore and a TokenStore: one refresh per token lifetime for the
// whole fleet, under a lease), one pace (WithLimiter with a shared
// AdaptiveLimiter, which learns the tenant's pace from every process's
// answers with PaceController) and one 429 cool-down (WithCooldown with a
// shared Cooldown). The module github.com/sfmc-go/sfmc/redisstore
// implements all three on Redis. When
// shared state fails, the client goes on with local state and says so once:
// through its logger, SharedStateErr and AlertSharedStateUnavailable
// (shared components report through FallbackNotifier).
//
// # Errors
//
// One error model: *APIError for REST error answers (every body shape:
// message/errorcode, additionalErrors, resultMessages), *RateLimitError for
// 429s, *OAuthError for the token endpoint, *ContactError for contacts SFMC
// refused, *RecordError for profile records that cannot be mapped, all
// reachable with errors.As, and
// sentinels (ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited,
// ErrBlocked, ErrServer, ErrInvalidCredentials, ErrIPNotAllowlisted,
// ErrUnknownAttribute, ErrClientRateLimited, ErrInvalidConfig, ...) for
// errors.Is. Neither errors nor log lines ever contain the client secret,
// the access token or query strings; Config and Client print redacted.
//
// The package never panics on bad input, never logs unless given a logger
// (WithLogger), and keeps no global mutable state. A *Client is safe for
// concurrent use.
//
// # Testing
//
// The sfmctest package is an embedded SFMC tenant simulator for tests:
// sfmctest.NewServer() and srv.ClientOptions() point a Client at it.
package sfmc
