// Package sfmc is a client for the Salesforce Marketing Cloud (SFMC)
// Contacts and Attribute-Set REST APIs. It does, as a Go library, what Adobe
// Experience Platform's "(API) Salesforce Marketing Cloud" streaming
// destination does: authenticate with a tenant subdomain and an API
// integration's client id and secret, discover the tenant's attributes,
// map profile fields and segment statuses onto Email Demographics and Email
// Addresses attributes, and upsert contacts at high throughput inside
// SFMC's limits, losing nothing.
//
//	client, err := sfmc.NewClient(sfmc.Config{
//		Subdomain:    "mcq4jrssqdlyc4lph19nnqgzzs84",
//		ClientID:     os.Getenv("SFMC_CLIENT_ID"),
//		ClientSecret: os.Getenv("SFMC_CLIENT_SECRET"),
//	})
//	if err != nil {
//		return err
//	}
//	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{
//		OnResult: func(o sfmc.Outcome) { /* one outcome per Add */ },
//	})
//	if err != nil {
//		return err
//	}
//	for c := range contacts {
//		if err := u.Add(ctx, c); err != nil {
//			return err
//		}
//	}
//	return u.Close(ctx)
//
// # Client
//
// [NewClient] validates a [Config] and [Option] values without a network
// call. The [Client] gets an OAuth2 client-credentials token from
// https://{subdomain}.auth.marketingcloudapis.com/v2/token, caches it,
// refreshes it a margin before it expires (one request in flight however
// many goroutines ask), and sends REST calls to the rest_instance_url the
// token answer names. Every call goes through one pipeline: build URL →
// cool-down → block probe → pace → token → send → decode or typed error.
//
// One policy, in retry.go, classifies every answer and decides retries and
// waits, for direct calls ([ContactsService], [AttributeSetsService]: up to
// [WithRetry]'s count) and for the [Upserter] (single attempts; its
// MaxAttempts counts every request of a contact):
//
//   - 429 (errorcode 50100) and 503 are retried, POST too, after
//     Retry-After (header, else body), capped; a 429 pauses the whole
//     client (one shared [Cooldown]).
//   - 500, 502, 504 and attempts without an answer are retried for GET and
//     PATCH; a write whose last attempt got no answer matches
//     [ErrOutcomeUnknown]. 501, 596 and other 4xx are not retried.
//   - A REST 401 is retried once with a new token; a 401 on that new token
//     means the integration is rejected ([ErrUnauthorized], and an
//     Upserter stops with [AlertUnauthorized]).
//   - A 429 with errorcode 50200 ("temporarily blocked") pauses the whole
//     client — Retry-After, else 5 s doubling to 5 minutes — then probes
//     one request at a time until the block ends; an Upserter's contacts
//     wait ([UpserterConfig].FailOnBlock fails fast instead). Direct calls
//     return [ErrBlocked].
//   - A [RetryBudget] ([WithRetryBudget]) bounds what retries add on a
//     failing tenant.
//
// SFMC publishes no rate limit, so the client finds the tenant's pace
// itself: slow start from 20 requests per second, then AIMD on a token
// bucket (cut on 429, 503 and 50200, halved while most answers fail, grown
// while clean). [WithRateLimit] makes a rate the ceiling; [WithLimiter] adds
// a shared [Limiter], and an [AdaptiveLimiter] (such as redisstore.Limiter)
// replaces the client's own pace with one shared by a fleet.
// [PaceController] is that arithmetic, for such limiters.
//
// # Contacts, attribute sets and segments
//
// Client.Contacts upserts contacts ([ContactsService.Upsert] is SFMC's
// PATCH, which the destination relies on to create or update; Create is
// POST), looks keys up by email and deletes. A contact SFMC refuses inside
// an HTTP 200 answer (operationStatus "FAIL"), or with a 4xx carrying result
// messages, is a [*ContactError]; one naming an unknown set or attribute
// matches [ErrUnknownAttribute].
//
// Client.AttributeSets reads attribute-set definitions:
// [AttributeSetsService.FirstPage] reads one page of up to 2000 as the
// destination does and says when more exist; [AttributeSetsService.All] (an
// iter.Seq2) and [AttributeSetsService.Catalog] read every page. A
// [Catalog] answers Lookup("Email Demographics.First Name") and lists the
// mappable Targets.
//
// Each segment's status ("realized", "existing", "exited") is written into
// the Email Demographics Text attribute named by the segment's Mapping ID
// ([SegmentMapper]; the strongest status wins when segments share one).
// [ValidateMappings] and [Mapping.Validate] check Mapping IDs and targets
// against the tenant before anything is sent, and report every problem at
// once with what to do about it. A [Mapping] compiles into a
// [ProfileMapper], which turns decoded profiles ([DecodeProfile]) into
// contacts and checks every value against its target ([CheckValue]).
//
// # Upserter
//
// [NewUpserter] starts the batching writer to embed in pipelines: a bounded
// queue ([Upserter.Add] blocks while it is full), coalescing of queued
// updates to one contact key, concurrency sized from the client's pace and
// round-trip time, retries within a per-contact budget, a stop on
// conditions no retry cures (credentials, IP allowlist, a rejected
// integration), [Alert] values through OnAlert, and exactly one [Outcome]
// per accepted Add, including across [Upserter.Close]. The command-line
// tool cmd/sfmc streams NDJSON profiles through it.
//
// # Change-only sending
//
// With UpserterConfig.SentStore set to a [SentStore] the Upserter sends
// only the attribute values SFMC has not confirmed yet, and no request for
// a contact it holds already ([Outcome].Skipped): every request counts
// against the tenant's yearly budget. [NewMemoryStore] keeps the store in
// memory, the package github.com/sfmc-go/sfmc/boltstore in a file (the
// CLI's push --state), and redisstore.SentStore in Redis for a fleet.
//
// # Observability
//
// [WithHooks] reports every attempt, token request, pace change and
// [Outcome] to functions of yours ([Hooks]); the request made for an Add
// runs under that Add's context values, so a tracer links its spans to the
// caller's. The module github.com/sfmc-go/sfmc/otelsfmc turns the hooks
// into OpenTelemetry spans and metrics.
//
// # Fleet mode
//
// Several processes using one API integration can share one token
// ([WithTokenStore] and a [TokenStore]: one refresh per token lifetime for
// the whole fleet, under a lease), one pace ([WithLimiter] with a shared
// [AdaptiveLimiter], which learns the tenant's pace from every process's
// answers with [PaceController], or a shared [Limiter]) and one cool-down
// ([WithCooldown] with a shared [Cooldown]). The module
// github.com/sfmc-go/sfmc/redisstore implements all three on Redis. When
// shared state fails, the client goes on with local state and says so once:
// through its logger, [Client.SharedStateErr] and
// [AlertSharedStateUnavailable] (shared components report through
// [FallbackNotifier]).
//
// # Errors
//
// One error model: [*APIError] for REST error answers, [*RateLimitError]
// for 429s, [*OAuthError] for the token endpoint, [*ContactError] for
// contacts SFMC refused, all reachable with errors.As, and sentinels
// ([ErrUnauthorized], [ErrForbidden], [ErrNotFound], [ErrRateLimited],
// [ErrBlocked], [ErrServer], [ErrInvalidCredentials], [ErrIPNotAllowlisted],
// [ErrUnknownAttribute], [ErrOutcomeUnknown], [ErrClientRateLimited],
// [ErrInvalidConfig], ...) for errors.Is. Neither errors nor log lines ever
// contain the client secret, the access token or query strings — also when
// a server echoes them back; [Config] and [Client] print redacted.
//
// The package never panics on bad input, never logs unless given a logger
// ([WithLogger]), and keeps no global mutable state. A *Client is safe for
// concurrent use.
//
// # Testing
//
// The sfmctest package is an embedded SFMC tenant simulator for tests, with
// fault injection (429 storms, 50200 blocks, 5xx, dropped connections,
// 401s, per-contact faults, tenant rate limits): sfmctest.NewServer() and
// srv.ClientOptions() point a Client at it.
package sfmc
