// Package redisstore runs several sfmc.Clients — typically one per pod of a
// pipeline consuming one stream — as one fleet, through Redis:
//
//   - TokenStore (sfmc.WithTokenStore) shares one access token: one process
//     refreshes it under a lease while the others wait and read it, so the
//     fleet asks SFMC for one token per token lifetime.
//   - Limiter (sfmc.WithLimiter) is one rate for the whole fleet, a GCRA
//     limiter (github.com/go-redis/redis_rate/v10), so N processes together
//     stay under the tenant's rate instead of sending N times it.
//   - Cooldown (sfmc.WithCooldown) shares the pause after a 429 with
//     Retry-After: one process throttled pauses them all.
//
// ClientOptions builds all three for one API integration.
//
// # Keys
//
// Keys are namespaced by the integration's client id and account id:
// "{prefix}:{clientID}:{accountID}:token", ":lease", ":cooldown", and
// "rate:{prefix}:{clientID}:{accountID}:rate" (redis_rate adds "rate:").
// The prefix is "sfmc" unless WithPrefix says otherwise. Only the access
// token (with its expiry and REST base) is stored, never the client secret.
//
// # When Redis fails
//
// Every Redis call is bounded (WithTimeout, default 2 s). When Redis is
// down or slow, the Limiter and the Cooldown fall back to local state (an
// x/time/rate limiter at WithFallbackRate, default the fleet's rate, and an
// in-memory cool-down) and tell the client through sfmc.FallbackNotifier;
// the client logs it once and its Upserters raise
// sfmc.AlertSharedStateUnavailable once. The client fetches its own token
// when the TokenStore fails. No request waits on Redis for longer than the
// timeout, and no contact is lost. After a failure the components stay
// local for WithRetryInterval (default 5 s), then try Redis again: they
// recover by themselves when Redis comes back.
//
// go-redis bounds a call by its ReadTimeout and WriteTimeout (3 s by
// default); set redis.Options.ContextTimeoutEnabled so that the per-call
// timeout of this package applies as well.
package redisstore
