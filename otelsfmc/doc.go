// Package otelsfmc reports what an sfmc client and its Upserters do as
// OpenTelemetry traces and metrics: it implements sfmc.Hooks with the
// OpenTelemetry API. It is a module of its own
// (github.com/sfmc-go/sfmc/otelsfmc), so that the sfmc module depends on no
// telemetry library.
//
//	hooks, err := otelsfmc.Hooks() // the global MeterProvider and TracerProvider
//	if err != nil {
//		return err
//	}
//	client, err := sfmc.NewClient(cfg, sfmc.WithHooks(hooks))
//	...
//	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{})
//	...
//	reg, err := otelsfmc.ObserveUpserter(u) // queue depth, in flight, concurrency
//	...
//	defer reg.Unregister()
//
// WithMeterProvider and WithTracerProvider choose other providers than the
// global ones (otel.GetMeterProvider, otel.GetTracerProvider);
// WithAttributes adds attributes to every point and span, to tell clients
// or Upserters apart. Give each client its own Hooks: the pace gauges and
// the block episodes follow one client's events.
//
// # Traces
//
// Every HTTP attempt to the REST API is one span of kind Client, named
// "{method} {url.template}" (for example "PATCH /contacts/v1/contacts"),
// started in the attempt's context when the request is sent (after the
// waits for the pace, a cool-down or a block) and ended when the answer's
// headers are in. Its parent is the span of the caller's context: for an
// Upserter, the context given to Add, whose values the request carries
// (not its cancellation), so the attempts of a contact, retries included,
// are children of the span that added it, even when that span has ended.
// When Adds to one key were merged into one request (coalesced), the
// first Add's span is the parent and the others' are links.
//
// Span attributes, following the OpenTelemetry HTTP client semantic
// conventions where they apply:
//
//	http.request.method        the HTTP method, e.g. PATCH
//	server.address             the REST host
//	server.port                its port (443 when the REST URL names none)
//	url.template               the route, e.g. /contacts/v1/contacts (no ids, no query)
//	http.request.resend_count  the attempt's number minus one, on retries
//	http.response.status_code  the answer's status, when there was one
//	error.type                 the status code of an answer of 400 or more; for an
//	                           attempt without an answer the policy's class
//	                           (unanswered, canceled, not_sent)
//	sfmc.attempt.number        1 for the first attempt of a call or of an Upserter's
//	                           contact, 2 for its first retry, ...
//	sfmc.attempt.class         the retry policy's name for the answer: ok, throttled,
//	                           blocked, busy, server, unanswered, not sent, auth,
//	                           rejected, fatal, permanent, canceled
//	sfmc.errorcode             SFMC's errorcode of a 429 or 503 answer (50100, 50200, 50300)
//
// A span's status is Error for an answer of 400 or more and for an attempt
// without an answer (whose transport error is recorded as an exception
// event). url.full is not set: the hooks see the route, not the URL (an
// instrumented transport, such as otelhttp's given to sfmc.WithHTTPClient,
// can add a span with it, a child of the attempt's).
//
// # Metrics
//
// Recorded by the Hooks (the instrumentation scope is ScopeName):
//
//	http.client.request.duration   histogram, s          every HTTP attempt: http.request.method,
//	                                                     server.address, server.port, url.template,
//	                                                     http.response.status_code, error.type,
//	                                                     sfmc.attempt.class
//	sfmc.client.retries            counter, {request}    attempts that retried a call or a contact
//	                                                     (sfmc.attempt.number > 1): http.request.method,
//	                                                     server.address, server.port, url.template
//	sfmc.client.cooldowns          counter, {cooldown}   cool-downs started by a Retry-After (every
//	                                                     request of the client paused)
//	sfmc.client.blocks             counter, {block}      50200 block episodes started
//	sfmc.client.rate               gauge, {request}/s    the client's pace: the one it starts at, then
//	                                                     every change
//	sfmc.client.blocked            gauge, 1              1 during a 50200 block episode, else 0
//	sfmc.token.requests            counter, {request}    token requests: sfmc.token.outcome (success,
//	                                                     failed), sfmc.token.from_store (true for a token
//	                                                     taken from the TokenStore in fleet mode),
//	                                                     error.type on failures
//	sfmc.token.duration            histogram, s          their duration, same attributes
//	sfmc.upserter.outcomes         counter, {outcome}    the Upserter's outcomes, one per Add:
//	                                                     sfmc.outcome, sfmc.coalesced, error.type on
//	                                                     failures
//	sfmc.upserter.outcome.latency  histogram, s          time from the Add to its outcome, same
//	                                                     attributes
//
// Observed by ObserveUpserter from Upserter.Stats at each collection, as
// asynchronous up-down counters (gauges whose values add up across
// Upserters):
//
//	sfmc.upserter.queue.depth      up-down, {contact}    Adds waiting to be sent (coalesced ones
//	                                                     included)
//	sfmc.upserter.in_flight        up-down, {contact}    contacts being sent, or waiting to retry
//	sfmc.upserter.concurrency      up-down, {request}    requests the Upserter lets be in flight now
//
// sfmc.outcome is one of success, skipped (no request: the SentStore says
// SFMC holds every value), failed, and outcome_unknown (a failure one of
// whose attempts got no answer: the error matches sfmc.ErrOutcomeUnknown,
// and SFMC may have applied the write). sfmc.coalesced is true for Adds
// merged with another Add to the same key into one request.
//
// error.type of an outcome or a token request is a short name for the
// SDK's error kinds: closed, blocked, rate_limited, invalid_credentials,
// ip_not_allowlisted, unauthorized, forbidden, unknown_attribute,
// contact_refused, invalid_contact, timeout, canceled; else the HTTP status
// of another API error, the OAuth error code of another token answer, or
// _OTHER.
//
// Every metric and span also carries the attributes given to
// WithAttributes. The histograms' buckets (in seconds) are the semantic
// conventions' for the request and token durations (0.005 to 10) and reach
// 300 for the outcome latency, which includes the queue and the waits
// between retries.
//
// # Cost
//
// The hooks run on the client's goroutines, per attempt: one span, and two
// or three metric points whose attribute sets are made once per
// combination of values (recording them allocates nothing). Starting the
// span allocates a few objects even with a no-op tracer. A client without
// Hooks pays nothing. Measured on 2 shared cores (BenchmarkHooks), for a
// contact sent in one attempt: 4 allocations and 1.5 to 2.2 µs with the
// metrics SDK and a no-op tracer, 10 allocations and 4.5 to 9 µs with both
// SDKs sampling every span; the whole client spends 55 to 85 µs of CPU per
// contact (BenchmarkUpserter).
package otelsfmc
