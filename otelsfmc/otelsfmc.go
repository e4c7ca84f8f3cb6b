package otelsfmc

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/sfmc-go/sfmc"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/sfmc-go/sfmc/otelsfmc"

// The SDK's own attribute keys (the others are the semantic conventions').
const (
	AttemptNumberKey = attribute.Key("sfmc.attempt.number") // 1 for a call's first attempt, 2 for its first retry, ...
	AttemptClassKey  = attribute.Key("sfmc.attempt.class")  // the retry policy's name for the answer: ok, throttled, ...
	ErrorCodeKey     = attribute.Key("sfmc.errorcode")      // SFMC's errorcode of a 429 or 503 answer
	OutcomeKey       = attribute.Key("sfmc.outcome")        // success, skipped, failed, outcome_unknown
	CoalescedKey     = attribute.Key("sfmc.coalesced")      // the Add was merged with another Add to its key
	TokenOutcomeKey  = attribute.Key("sfmc.token.outcome")  // success, failed
	TokenStoreKey    = attribute.Key("sfmc.token.from_store")
)

// The values of OutcomeKey.
const (
	OutcomeSuccess = "success"
	OutcomeSkipped = "skipped"
	OutcomeFailed  = "failed"
	OutcomeUnknown = "outcome_unknown"
)

// Option configures Hooks and ObserveUpserter.
type Option func(*config)

type config struct {
	mp    metric.MeterProvider
	tp    trace.TracerProvider
	attrs []attribute.KeyValue
}

// WithMeterProvider sets the MeterProvider the metrics are recorded with
// (default: the global one, otel.GetMeterProvider). A nil mp is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithTracerProvider sets the TracerProvider the attempt spans are started
// with (default: the global one, otel.GetTracerProvider). A nil tp is
// ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithAttributes adds attrs to every metric point and span recorded, for
// telling several clients or Upserters apart (for example
// attribute.String("sfmc.upserter", "orders")). Keep them few and of low
// cardinality.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	return c
}

func (c config) meter() metric.Meter {
	return c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
}

// Bucket boundaries, in seconds: the semantic conventions' for
// http.client.request.duration and the token requests; for the outcome
// latency, which includes queueing and retry waits, up to 5 minutes (the
// Upserter's default MaxRetryDuration).
var (
	requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// Hooks returns sfmc.Hooks that record one span per HTTP attempt and the
// metrics listed in the package documentation. Give them to one client
// (sfmc.WithHooks): the pace gauges follow that client's pace. The error
// is the meter's, should it refuse an instrument; the Hooks are usable
// even then (the refused instruments record nothing).
func Hooks(opts ...Option) (sfmc.Hooks, error) {
	cfg := newConfig(opts)
	r := &recorder{
		tracer: cfg.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		attrs:  cfg.attrs,
		common: newOptions(cfg.attrs),
	}
	m := cfg.meter()
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	r.duration, err = m.Float64Histogram("http.client.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	check(err)
	r.retries, err = m.Int64Counter("sfmc.client.retries", metric.WithUnit("{request}"),
		metric.WithDescription("HTTP attempts that retried a call or an Upserter's contact."))
	check(err)
	r.cooldowns, err = m.Int64Counter("sfmc.client.cooldowns", metric.WithUnit("{cooldown}"),
		metric.WithDescription("Cool-downs started by a Retry-After: every request of the client paused."))
	check(err)
	r.blocks, err = m.Int64Counter("sfmc.client.blocks", metric.WithUnit("{block}"),
		metric.WithDescription("50200 block episodes started: the client paused and probed."))
	check(err)
	r.rate, err = m.Float64Gauge("sfmc.client.rate", metric.WithUnit("{request}/s"),
		metric.WithDescription("The client's pace."))
	check(err)
	r.blocked, err = m.Int64Gauge("sfmc.client.blocked", metric.WithUnit("1"),
		metric.WithDescription("1 while a 50200 block episode is in progress, else 0."))
	check(err)
	r.tokens, err = m.Int64Counter("sfmc.token.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Token requests (to SFMC, or to the TokenStore in fleet mode)."))
	check(err)
	r.tokenDuration, err = m.Float64Histogram("sfmc.token.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of token requests."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	check(err)
	r.outcomes, err = m.Int64Counter("sfmc.upserter.outcomes", metric.WithUnit("{outcome}"),
		metric.WithDescription("Outcomes of the Upserter's Adds."))
	check(err)
	r.latency, err = m.Float64Histogram("sfmc.upserter.outcome.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from an Add to its outcome."), metric.WithExplicitBucketBoundaries(latencyBuckets...))
	check(err)
	return sfmc.Hooks{
		AttemptStart: r.attemptStart,
		AttemptDone:  r.attemptDone,
		Token:        r.token,
		Pace:         r.pace,
		Outcome:      r.outcome,
	}, errors.Join(errs...)
}

var clientKind = trace.WithSpanKind(trace.SpanKindClient)

// recorder implements the Hooks.
type recorder struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue // WithAttributes
	common options              // attrs as a set

	duration, tokenDuration, latency metric.Float64Histogram
	retries, cooldowns, blocks       metric.Int64Counter
	tokens, outcomes                 metric.Int64Counter
	rate                             metric.Float64Gauge
	blocked                          metric.Int64Gauge

	wasBlocked atomic.Bool // the last PaceEvent's Blocked

	// What the spans and the metric points of a combination of attribute
	// values share, made once: routeKey → *route, attemptKey →
	// attemptSets, outcomeKey → options.
	routes, attemptSets, outcomeSets sync.Map
}

// options are one attribute set as the options of an instrument's calls,
// made once, so that recording allocates nothing.
type options struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newOptions(attrs []attribute.KeyValue) options {
	// A copy: NewSet sorts the slice it is given, and attrs may be shared.
	set := metric.WithAttributeSet(attribute.NewSet(slices.Clone(attrs)...))
	return options{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
}

// routeKey is what an attempt span's name and first attributes depend on.
type routeKey struct{ method, route, host string }

// route is the name and the request attributes of the spans of a route.
type route struct {
	name  string
	attrs []attribute.KeyValue // method, server, route, WithAttributes
}

func (r *recorder) route(a sfmc.Attempt) *route {
	k := routeKey{a.Method, a.Route, a.Host}
	if v, ok := r.routes.Load(k); ok {
		return v.(*route)
	}
	addr, port := serverAddress(a.Host)
	attrs := append([]attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(a.Method),
		semconv.ServerAddress(addr),
		semconv.ServerPort(port),
		semconv.URLTemplate(a.Route),
	}, r.attrs...)
	v, _ := r.routes.LoadOrStore(k, &route{name: a.Method + " " + a.Route, attrs: attrs})
	return v.(*route)
}

func (r *recorder) attemptStart(ctx context.Context, a sfmc.Attempt) context.Context {
	rt := r.route(a)
	attrs := make([]attribute.KeyValue, 0, len(rt.attrs)+2)
	attrs = append(attrs, rt.attrs...)
	attrs = append(attrs, AttemptNumberKey.Int(a.Number))
	if a.Number > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(a.Number-1))
	}
	opts := []trace.SpanStartOption{clientKind, trace.WithAttributes(attrs...)}
	if len(a.Links) > 0 {
		links := make([]trace.Link, 0, len(a.Links))
		for _, l := range a.Links {
			if sc := trace.SpanContextFromContext(l); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
		opts = append(opts, trace.WithLinks(links...))
	}
	ctx, _ = r.tracer.Start(ctx, rt.name, opts...)
	return ctx
}

func (r *recorder) attemptDone(ctx context.Context, a sfmc.Attempt, res sfmc.AttemptResult) {
	errType := attemptErrorType(res)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 4)
		attrs = append(attrs, AttemptClassKey.String(res.Class))
		if res.StatusCode > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(res.StatusCode))
		}
		if res.ErrorCode != 0 {
			attrs = append(attrs, ErrorCodeKey.Int(res.ErrorCode))
		}
		if errType != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
		}
		span.SetAttributes(attrs...)
		if res.Err != nil {
			span.RecordError(res.Err)
			span.SetStatus(codes.Error, res.Err.Error())
		} else if errType != "" {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
	sets := r.attemptSet(a, res, errType)
	r.duration.Record(ctx, res.Duration.Seconds(), sets.attempt.record...)
	if a.Number > 1 {
		r.retries.Add(ctx, 1, sets.request.add...)
	}
}

// attemptKey is what the attribute sets of an attempt's metric points
// depend on.
type attemptKey struct {
	method, route, host, class, errType string
	status                              int
}

type attemptSets struct {
	attempt options // request, plus the answer's
	request options // method, server, route
}

func (r *recorder) attemptSet(a sfmc.Attempt, res sfmc.AttemptResult, errType string) attemptSets {
	k := attemptKey{method: a.Method, route: a.Route, host: a.Host, class: res.Class, errType: errType, status: res.StatusCode}
	if v, ok := r.attemptSets.Load(k); ok {
		return v.(attemptSets)
	}
	request := r.route(a).attrs
	attempt := append([]attribute.KeyValue{AttemptClassKey.String(res.Class)}, request...)
	if res.StatusCode > 0 {
		attempt = append(attempt, semconv.HTTPResponseStatusCode(res.StatusCode))
	}
	if errType != "" {
		attempt = append(attempt, semconv.ErrorTypeKey.String(errType))
	}
	s := attemptSets{attempt: newOptions(attempt), request: newOptions(request)}
	v, _ := r.attemptSets.LoadOrStore(k, s)
	return v.(attemptSets)
}

// attemptErrorType is the error.type of an attempt: the status code of an
// answer of 400 or more, as the semantic conventions say; for an attempt
// without an answer the policy's class (unanswered, canceled, not_sent);
// "" for a success.
func attemptErrorType(res sfmc.AttemptResult) string {
	switch {
	case res.StatusCode >= 400:
		return strconv.Itoa(res.StatusCode)
	case res.Err != nil || res.StatusCode == 0:
		if res.Class == "" {
			return semconv.ErrorTypeOther.Value.AsString()
		}
		return strings.ReplaceAll(res.Class, " ", "_")
	}
	return ""
}

// serverAddress splits the REST host into server.address and server.port;
// without a port in it the port is 443 (SFMC's REST API is served over
// HTTPS only).
func serverAddress(host string) (string, int) {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		return host, 443
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return h, 443
	}
	return h, port
}

func (r *recorder) token(ctx context.Context, t sfmc.TokenEvent) {
	attrs := make([]attribute.KeyValue, 0, 3+len(r.attrs))
	attrs = append(attrs, TokenStoreKey.Bool(t.FromStore))
	if t.Err != nil {
		attrs = append(attrs, TokenOutcomeKey.String(OutcomeFailed), semconv.ErrorTypeKey.String(errorType(t.Err)))
	} else {
		attrs = append(attrs, TokenOutcomeKey.String(OutcomeSuccess))
	}
	attrs = append(attrs, r.attrs...)
	set := newOptions(attrs)
	r.tokens.Add(ctx, 1, set.add...)
	r.tokenDuration.Record(ctx, t.Duration.Seconds(), set.record...)
}

func (r *recorder) pace(p sfmc.PaceEvent) {
	ctx := context.Background()
	r.rate.Record(ctx, p.Rate, r.common.record...)
	var blocked int64
	if p.Blocked {
		blocked = 1
	}
	r.blocked.Record(ctx, blocked, r.common.record...)
	switch was := r.wasBlocked.Swap(p.Blocked); {
	case p.Blocked && !was:
		r.blocks.Add(ctx, 1, r.common.add...)
	case p.Cooldown > 0:
		r.cooldowns.Add(ctx, 1, r.common.add...)
	}
}

// outcomeKey is what the attribute set of an outcome's metric points
// depends on.
type outcomeKey struct {
	kind, errType string
	coalesced     bool
}

func (r *recorder) outcome(ctx context.Context, e sfmc.OutcomeEvent) {
	o := e.Outcome
	k := outcomeKey{kind: OutcomeSuccess, coalesced: o.Coalesced}
	switch {
	case o.Skipped:
		k.kind = OutcomeSkipped
	case o.Err == nil:
	case errors.Is(o.Err, sfmc.ErrOutcomeUnknown):
		k.kind, k.errType = OutcomeUnknown, errorType(o.Err)
	default:
		k.kind, k.errType = OutcomeFailed, errorType(o.Err)
	}
	set := r.outcomeSet(k)
	r.outcomes.Add(ctx, 1, set.add...)
	r.latency.Record(ctx, e.Latency.Seconds(), set.record...)
}

func (r *recorder) outcomeSet(k outcomeKey) options {
	if v, ok := r.outcomeSets.Load(k); ok {
		return v.(options)
	}
	attrs := append([]attribute.KeyValue{OutcomeKey.String(k.kind), CoalescedKey.Bool(k.coalesced)}, r.attrs...)
	if k.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(k.errType))
	}
	v, _ := r.outcomeSets.LoadOrStore(k, newOptions(attrs))
	return v.(options)
}

// errorType is the error.type of a failed outcome or token request: a
// short name for the SDK's error kinds (closed, blocked, rate_limited,
// invalid_credentials, ip_not_allowlisted, unauthorized, forbidden,
// unknown_attribute, contact_refused, invalid_contact, timeout, canceled),
// the HTTP status of another API error, the OAuth error code of another
// token answer, else _OTHER. Its values are few, as an attribute's must be.
func errorType(err error) string {
	var (
		ce *sfmc.ContactError
		oe *sfmc.OAuthError
		ae *sfmc.APIError
	)
	switch {
	case errors.Is(err, sfmc.ErrClosed):
		return "closed"
	case errors.Is(err, sfmc.ErrBlocked):
		return "blocked"
	case errors.Is(err, sfmc.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, sfmc.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, sfmc.ErrIPNotAllowlisted):
		return "ip_not_allowlisted"
	case errors.Is(err, sfmc.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, sfmc.ErrForbidden):
		return "forbidden"
	case errors.Is(err, sfmc.ErrUnknownAttribute):
		return "unknown_attribute"
	case errors.As(err, &ce):
		return "contact_refused"
	case errors.Is(err, sfmc.ErrInvalidContact):
		return "invalid_contact"
	case errors.As(err, &ae):
		return strconv.Itoa(ae.StatusCode)
	case errors.As(err, &oe) && oe.Code != "":
		return oe.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// ObserveUpserter reports u's queue depth, contacts in flight and
// concurrency (read from u.Stats at each collection) as the asynchronous
// instruments sfmc.upserter.queue.depth, sfmc.upserter.in_flight and
// sfmc.upserter.concurrency. Only WithMeterProvider and WithAttributes
// apply; give each Upserter of a MeterProvider its own WithAttributes.
// Unregister the returned Registration once u is closed.
func ObserveUpserter(u *sfmc.Upserter, opts ...Option) (metric.Registration, error) {
	if u == nil {
		return nil, errors.New("otelsfmc: ObserveUpserter: nil Upserter")
	}
	cfg := newConfig(opts)
	m := cfg.meter()
	depth, err1 := m.Int64ObservableUpDownCounter("sfmc.upserter.queue.depth", metric.WithUnit("{contact}"),
		metric.WithDescription("Adds waiting to be sent."))
	inFlight, err2 := m.Int64ObservableUpDownCounter("sfmc.upserter.in_flight", metric.WithUnit("{contact}"),
		metric.WithDescription("Contacts being sent, or waiting to retry."))
	conc, err3 := m.Int64ObservableUpDownCounter("sfmc.upserter.concurrency", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the Upserter lets be in flight now."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	set := metric.WithAttributeSet(attribute.NewSet(cfg.attrs...))
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := u.Stats()
		o.ObserveInt64(depth, s.QueueDepth, set)
		o.ObserveInt64(inFlight, s.InFlight, set)
		o.ObserveInt64(conc, s.Concurrency, set)
		return nil
	}, depth, inFlight, conc)
}
