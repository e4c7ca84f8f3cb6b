// Package redisstore runs several sfmc.Clients — typically one per pod of a
// pipeline consuming one stream — as one fleet, through Redis:
//
//   - TokenStore (sfmc.WithTokenStore) shares one access token: one process
//     refreshes it under a lease while the others wait and read it, so the
//     fleet asks SFMC for one token per token lifetime.
//   - Limiter (sfmc.WithLimiter) is one pace for the whole fleet: an
//     sfmc.AdaptiveLimiter that replaces each client's own pace with the
//     fleet's, learned from the answers every process gets, and admits the
//     fleet's requests at that pace with a GCRA limiter
//     (github.com/go-redis/redis_rate/v10), so N processes together stay
//     at the tenant's rate instead of sending N times it.
//   - Cooldown (sfmc.WithCooldown) shares the pause after a 429 with
//     Retry-After (and a 50200 block): one process throttled pauses them
//     all.
//
// ClientOptions builds all three for one API integration. For the
// fleet's Upserters:
//
//   - SentStore (sfmc.UpserterConfig.SentStore) is the fleet's memory for
//     change-only sending: what SFMC confirmed per contact key, so that
//     every Upserter of the fleet skips a contact whose values any of them
//     sent already. Each record expires WithSentTTL (default
//     sfmc.DefaultSentTTL, 30 days) after its last write.
//
// # The fleet's pace
//
// NewLimiter's perSecond is the fleet's ceiling and its start, as
// sfmc.WithRateLimit is one client's; perSecond = math.Inf(1) (rate.Inf)
// configures none: the fleet finds the tenant's pace itself from the
// client's cold start (20 requests per second, slow start, then AIMD; see
// sfmc.PaceController). WithRateLimit on the client does not apply to a
// client with a Limiter of this package: the Limiter's rate is the one.
//
// Each process feeds the answers to its own requests to its own
// sfmc.PaceController and applies the change it decides to the fleet's
// pace in one Lua script, so that the fleet changes its pace the way one
// client would: a cut at most once per round however many processes see
// the same throttling (the first cuts, the others take its cut), and a
// raise only on a round that ran wholly at the current pace (it began at
// least 100 ms after the last change, by when every process has it) and in
// which no process saw throttling, its additive step scaled to the time
// since the fleet's last change (the fleet's round, longer than one
// process's), so that the fleet grows as fast as one client, no faster.
// Every process then takes the fleet's
// pace as its own; it rereads it every 100 ms, so Rate (and each client's
// Stats().Rate) agree across the fleet to within that. The pace outlives
// the fleet's last request by 10 minutes: a fleet started again within
// that starts at the pace it learned.
//
// # Keys
//
// Keys are namespaced by the integration's client id and account id, under
// "{prefix}:{clientID}:{accountID}:":
//
//   - token (string): the access token with its expiry and REST base;
//     lease (string): who refreshes it.
//   - cooldown (string): the end of the shared cool-down, Unix ms.
//   - pace (hash): the fleet's pace — rate (requests/s), ss (where slow
//     start ends, 0 before the first cut), changed (when the rate last
//     changed), hold (no cut before), congested (when a process last saw
//     throttling); times are Redis's own clock, Unix ms.
//   - live (sorted set): the processes' heartbeats, a random id per
//     Limiter scored by when it was last seen (Redis time, Unix ms); a
//     Limiter marks itself every 2 s while it is used, and the members not
//     seen for 10 s are dropped.
//   - sent:{contactKey} (string): a SentStore's record for the contact
//     (fingerprints of the values SFMC confirmed, never the values), the
//     contact key as it is.
//
// and "rate:{prefix}:{clientID}:{accountID}:rate" (redis_rate's GCRA state;
// it adds "rate:"). The prefix is "sfmc" unless WithPrefix says otherwise.
// Only the access token is stored, never the client secret. Every key
// expires by itself when the fleet is idle (token with the token, pace
// after 10 minutes, live after 10 s, a sent record WithSentTTL after its
// last write).
//
// # When Redis fails
//
// Every Redis call is bounded (WithTimeout, default 2 s). When Redis is
// down or slow, the Limiter and the Cooldown fall back to local state and
// tell the client through sfmc.FallbackNotifier; the client logs it once
// and its Upserters raise sfmc.AlertSharedStateUnavailable once. The
// client fetches its own token when the TokenStore fails. A SentStore
// call that fails returns its error: the Upserter sends the contact whole
// and raises sfmc.AlertSentStoreUnavailable once. No request
// waits on Redis for longer than the timeout, and no contact is lost.
//
// On local state the Limiter paces its process at its share of the fleet,
// never at the fleet's whole rate: the fleet's last pace divided by the
// processes seen live (the live set, as of its last heartbeat), adapting
// from there with a PaceController of its own (down on throttling, up by
// additive steps, never above the configured rate divided by the same
// count), so that the fleet together stays at about the tenant's rate. A
// process that has not reached Redis since it started has no share to
// take: it finds its pace alone from the cold start, up to the configured
// rate. WithFallbackRate overrides both. The Cooldown falls back to an
// in-memory cool-down.
//
// After a failure the components stay local for WithRetryInterval
// (default 5 s), then try Redis again: they recover by themselves when it
// comes back, the Limiter to the fleet's pace (rebuilt from its local pace
// times the processes live, should Redis have lost it).
//
// go-redis bounds a call by its ReadTimeout and WriteTimeout (3 s by
// default); set redis.Options.ContextTimeoutEnabled so that the per-call
// timeout of this package applies as well. Every call and script of this
// package touches one key.
package redisstore
