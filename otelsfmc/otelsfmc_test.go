package otelsfmc_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/otelsfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// telemetry is a real OpenTelemetry SDK with in-memory exporters: a span
// recorder and a manual metric reader.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tm := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tm.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tm.spans))
	tm.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tm.reader))
	t.Cleanup(func() {
		_ = tm.tp.Shutdown(context.Background())
		_ = tm.mp.Shutdown(context.Background())
	})
	return tm
}

func (tm *telemetry) options(extra ...otelsfmc.Option) []otelsfmc.Option {
	return append([]otelsfmc.Option{otelsfmc.WithTracerProvider(tm.tp), otelsfmc.WithMeterProvider(tm.mp)}, extra...)
}

// collect reads every metric of the otelsfmc scope, by name.
func (tm *telemetry) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelsfmc.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// point returns the value of the data point of a counter, up-down counter
// or gauge whose attributes are exactly attrs (0, false when none is).
func point(t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) (float64, bool) {
	t.Helper()
	want := attribute.NewSet(attrs...)
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return float64(p.Value), true
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return float64(p.Value), true
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return p.Value, true
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	return 0, false
}

// value is point's value, failing the test when there is no such point.
func value(t *testing.T, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) float64 {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "metric %s recorded", name)
	v, ok := point(t, m, attrs...)
	require.True(t, ok, "%s has a point with attributes %v; it has %v", name, attrs, pointAttrs(m))
	return v
}

// histogram returns the count and sum of the histogram point of name whose
// attributes are exactly attrs.
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) (uint64, float64) {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "metric %s recorded", name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a histogram", name)
	want := attribute.NewSet(attrs...)
	for _, p := range h.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Count, p.Sum
		}
	}
	t.Fatalf("%s has no point with attributes %v; it has %v", name, attrs, pointAttrs(m))
	return 0, 0
}

func pointAttrs(m metricdata.Metrics) []string {
	var out []string
	add := func(s attribute.Set) { out = append(out, s.Encoded(attribute.DefaultEncoder())) }
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	}
	return out
}

// newClient is a client of srv with the otelsfmc Hooks.
func newClient(t *testing.T, srv *sfmctest.Server, opts ...otelsfmc.Option) *sfmc.Client {
	t.Helper()
	hooks, err := otelsfmc.Hooks(opts...)
	require.NoError(t, err)
	c, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithHooks(hooks))...)
	require.NoError(t, err)
	return c
}

// The semantic-convention attributes every attempt of srv's upserts has.
func contactsRequest(t *testing.T, srv *sfmctest.Server) []attribute.KeyValue {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL(), "http://"))
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return []attribute.KeyValue{
		attribute.String("http.request.method", "PATCH"),
		attribute.String("server.address", host),
		attribute.Int("server.port", p),
		attribute.String("url.template", "/contacts/v1/contacts"),
	}
}

func with(base []attribute.KeyValue, more ...attribute.KeyValue) []attribute.KeyValue {
	return append(append([]attribute.KeyValue(nil), base...), more...)
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// Issue 17's acceptance test: a caller's span is the parent of the attempt
// spans of its contact (its retry included), a coalesced Add's span is a
// link, the attempts carry the HTTP client semantic conventions, and the
// metrics count the attempts, the retry, the 429's cool-down, the token and
// the outcomes.
func TestAttemptSpansAreChildrenOfTheCallersSpan(t *testing.T) {
	t.Parallel()
	tm := newTelemetry(t)
	srv := sfmctest.NewServer(sfmctest.WithRetryAfter(20 * time.Millisecond))
	t.Cleanup(srv.Close)
	c := newClient(t, srv, tm.options()...)
	// A coalescing window longer than the test: Close sends at once, with
	// the two Adds to A merged.
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, FlushInterval: time.Hour,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Second})
	require.NoError(t, err)
	reg, err := otelsfmc.ObserveUpserter(u, otelsfmc.WithMeterProvider(tm.mp))
	require.NoError(t, err)

	tracer := tm.tp.Tracer("caller")
	ctx := context.Background()
	ctxA, spanA := tracer.Start(ctx, "caller A")
	require.NoError(t, u.Add(ctxA, sfmc.Contact{Key: "A"}))
	spanA.End() // a caller's span may end before its contact is sent
	ctxA2, spanA2 := tracer.Start(ctx, "caller A again")
	require.NoError(t, u.Add(ctxA2, sfmc.Contact{Key: "A"}))
	spanA2.End()
	ctxB, spanB := tracer.Start(ctx, "caller B")
	require.NoError(t, u.Add(ctxB, sfmc.Contact{Key: "B"}))
	spanB.End()

	queued := tm.collect(t)
	assert.Equal(t, 3.0, value(t, queued, "sfmc.upserter.queue.depth"), "three Adds queued, two of them merged")
	assert.Equal(t, 0.0, value(t, queued, "sfmc.upserter.in_flight"))
	assert.Equal(t, 1.0, value(t, queued, "sfmc.upserter.concurrency"), "Workers: 1")

	srv.FailNext(1, sfmctest.Fault429)
	require.NoError(t, u.Close(ctx))

	parents := map[trace.SpanID]string{spanA.SpanContext().SpanID(): "A", spanB.SpanContext().SpanID(): "B"}
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range tm.spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			attempts = append(attempts, s)
		}
	}
	require.Len(t, attempts, 3, "A and B, one of them twice (the 429)")
	byContact := map[string][]sdktrace.ReadOnlySpan{}
	request := contactsRequest(t, srv)
	for _, s := range attempts {
		contact, ok := parents[s.Parent().SpanID()]
		require.True(t, ok, "the attempt's parent is a caller's span, not %v", s.Parent().SpanID())
		assert.Equal(t, spanA.SpanContext().TraceID() == s.SpanContext().TraceID(), contact == "A", "in its caller's trace")
		byContact[contact] = append(byContact[contact], s)
		assert.Equal(t, "PATCH /contacts/v1/contacts", s.Name())
		attrs := attrMap(s.Attributes())
		for _, kv := range request {
			assert.Equal(t, kv.Value, attrs[kv.Key], "%s", kv.Key)
		}
		if contact == "A" {
			require.Len(t, s.Links(), 1, "the coalesced Add's span is a link")
			assert.Equal(t, spanA2.SpanContext().SpanID(), s.Links()[0].SpanContext.SpanID())
		} else {
			assert.Empty(t, s.Links())
		}
	}
	require.Len(t, byContact, 2)
	var throttled, retry sdktrace.ReadOnlySpan
	for _, spans := range byContact {
		if len(spans) == 2 {
			throttled, retry = spans[0], spans[1]
		}
	}
	require.NotNil(t, throttled, "one contact was sent twice")
	ta, ra := attrMap(throttled.Attributes()), attrMap(retry.Attributes())
	assert.Equal(t, int64(1), ta["sfmc.attempt.number"].AsInt64())
	assert.Equal(t, int64(429), ta["http.response.status_code"].AsInt64())
	assert.Equal(t, "429", ta["error.type"].AsString())
	assert.Equal(t, "throttled", ta["sfmc.attempt.class"].AsString())
	assert.Equal(t, int64(50100), ta["sfmc.errorcode"].AsInt64())
	assert.Equal(t, codes.Error, throttled.Status().Code)
	assert.NotContains(t, ta, attribute.Key("http.request.resend_count"))
	assert.Equal(t, int64(2), ra["sfmc.attempt.number"].AsInt64())
	assert.Equal(t, int64(1), ra["http.request.resend_count"].AsInt64())
	assert.Equal(t, int64(200), ra["http.response.status_code"].AsInt64())
	assert.Equal(t, "ok", ra["sfmc.attempt.class"].AsString())
	assert.NotContains(t, ra, attribute.Key("error.type"))
	assert.Equal(t, codes.Unset, retry.Status().Code)

	ms := tm.collect(t)
	n, sum := histogram(t, ms, "http.client.request.duration", with(request,
		attribute.String("sfmc.attempt.class", "ok"), attribute.Int("http.response.status_code", 200))...)
	assert.Equal(t, uint64(2), n)
	assert.Positive(t, sum)
	n, _ = histogram(t, ms, "http.client.request.duration", with(request, attribute.String("sfmc.attempt.class", "throttled"),
		attribute.Int("http.response.status_code", 429), attribute.String("error.type", "429"))...)
	assert.Equal(t, uint64(1), n)
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.retries", request...))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.cooldowns"), "the 429's Retry-After")
	assert.Equal(t, 1.0, value(t, ms, "sfmc.token.requests",
		attribute.String("sfmc.token.outcome", "success"), attribute.Bool("sfmc.token.from_store", false)))
	n, _ = histogram(t, ms, "sfmc.token.duration",
		attribute.String("sfmc.token.outcome", "success"), attribute.Bool("sfmc.token.from_store", false))
	assert.Equal(t, uint64(1), n)
	merged := []attribute.KeyValue{attribute.String("sfmc.outcome", "success"), attribute.Bool("sfmc.coalesced", true)}
	alone := []attribute.KeyValue{attribute.String("sfmc.outcome", "success"), attribute.Bool("sfmc.coalesced", false)}
	assert.Equal(t, 2.0, value(t, ms, "sfmc.upserter.outcomes", merged...), "both Adds to A")
	assert.Equal(t, 1.0, value(t, ms, "sfmc.upserter.outcomes", alone...))
	n, sum = histogram(t, ms, "sfmc.upserter.outcome.latency", merged...)
	assert.Equal(t, uint64(2), n)
	assert.Positive(t, sum)
	assert.Less(t, value(t, ms, "sfmc.client.rate"), 20.0, "the 429 cut the pace from its start")
	assert.Equal(t, 0.0, value(t, ms, "sfmc.client.blocked"))
	assert.Equal(t, 0.0, value(t, ms, "sfmc.upserter.queue.depth"))
	assert.Equal(t, 0.0, value(t, ms, "sfmc.upserter.in_flight"))
	st := srv.Stats()
	assert.Equal(t, int64(1), st.TokenRequests)
	assert.Equal(t, int64(3), st.RESTRequests, "the simulator saw as many attempts as the spans")

	require.NoError(t, reg.Unregister())
	_, observed := tm.collect(t)["sfmc.upserter.queue.depth"]
	assert.False(t, observed, "no longer observed once unregistered")
}

// Every kind of outcome is counted under its own sfmc.outcome: success,
// skipped (SentStore), failed (with error.type) and outcome_unknown (an
// attempt got no answer); the unanswered attempts are counted with
// error.type "unanswered" and the retry among them.
func TestOutcomeKinds(t *testing.T) {
	t.Parallel()
	tm := newTelemetry(t)
	srv := sfmctest.NewServer(sfmctest.WithKeyFault("U", sfmctest.FaultDropAfterWrite))
	t.Cleanup(srv.Close)
	c := newClient(t, srv, tm.options()...)
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 1, MaxAttempts: 2, SentStore: sfmc.NewMemoryStore(),
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	require.NoError(t, err)
	ctx := context.Background()
	name := sfmc.AttributeValue{Set: "Email Demographics", Name: "First Name", Value: "Ann"}
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "S", Attributes: []sfmc.AttributeValue{name}}))
	require.NoError(t, u.Flush(ctx))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "S", Attributes: []sfmc.AttributeValue{name}}))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "F", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "Shoe Size", Value: 42}}}))
	require.NoError(t, u.Add(ctx, sfmc.Contact{Key: "U", Attributes: []sfmc.AttributeValue{name}}))
	require.NoError(t, u.Close(ctx))

	ms := tm.collect(t)
	kind := func(k string, more ...attribute.KeyValue) []attribute.KeyValue {
		return append([]attribute.KeyValue{attribute.String("sfmc.outcome", k), attribute.Bool("sfmc.coalesced", false)}, more...)
	}
	assert.Equal(t, 1.0, value(t, ms, "sfmc.upserter.outcomes", kind("success")...))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.upserter.outcomes", kind("skipped")...))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.upserter.outcomes", kind("failed", attribute.String("error.type", "unknown_attribute"))...))
	m := ms["sfmc.upserter.outcomes"]
	sum := m.Data.(metricdata.Sum[int64])
	require.Len(t, sum.DataPoints, 4, "%v", pointAttrs(m))
	var unknown int64
	for _, p := range sum.DataPoints {
		if v, _ := p.Attributes.Value("sfmc.outcome"); v.AsString() == "outcome_unknown" {
			unknown += p.Value
			assert.True(t, p.Attributes.HasValue("error.type"), "a failure has an error.type")
		}
	}
	assert.Equal(t, int64(1), unknown)

	request := contactsRequest(t, srv)
	n, _ := histogram(t, ms, "http.client.request.duration", with(request,
		attribute.String("sfmc.attempt.class", "unanswered"), attribute.String("error.type", "unanswered"))...)
	assert.Equal(t, uint64(2), n, "U's two attempts got no answer")
	n, _ = histogram(t, ms, "http.client.request.duration", with(request,
		attribute.String("sfmc.attempt.class", "ok"), attribute.Int("http.response.status_code", 200))...)
	assert.Equal(t, uint64(2), n, "S's and F's (refused inside an HTTP 200)")
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.retries", request...))

	var unanswered int
	for _, s := range tm.spans.Ended() {
		if s.Status().Code == codes.Error && len(s.Events()) > 0 {
			unanswered++
			assert.Equal(t, "exception", s.Events()[0].Name, "the transport error is recorded")
		}
	}
	assert.Equal(t, 2, unanswered)
}

// The pace, cool-down, block and token metrics follow the events: NewClient
// gives the starting pace, a Retry-After a cool-down, the start of a block
// episode a block (not a cool-down), and token requests are counted by
// outcome and source.
func TestPaceAndTokenMetrics(t *testing.T) {
	t.Parallel()
	tm := newTelemetry(t)
	hooks, err := otelsfmc.Hooks(tm.options()...)
	require.NoError(t, err)
	_, err = sfmc.NewClient(sfmc.Config{Subdomain: "mctest", ClientID: "id", ClientSecret: "secret"},
		sfmc.WithRateLimit(50, 5), sfmc.WithHooks(hooks))
	require.NoError(t, err)
	ms := tm.collect(t)
	assert.Equal(t, 50.0, value(t, ms, "sfmc.client.rate"), "the pace the client starts at")
	assert.Equal(t, 0.0, value(t, ms, "sfmc.client.blocked"))

	for _, p := range []sfmc.PaceEvent{
		{Rate: 42.5, Cooldown: time.Second}, // a 429's Retry-After
		{Rate: 21, Blocked: true, Cooldown: 2 * time.Second},
		{Rate: 21, Blocked: true}, // still blocked
	} {
		hooks.Pace(p)
	}
	ms = tm.collect(t)
	assert.Equal(t, 21.0, value(t, ms, "sfmc.client.rate"))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.blocked"))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.cooldowns"))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.blocks"))
	hooks.Pace(sfmc.PaceEvent{Rate: 25})
	hooks.Pace(sfmc.PaceEvent{Rate: 20, Blocked: true})
	ms = tm.collect(t)
	assert.Equal(t, 20.0, value(t, ms, "sfmc.client.rate"))
	assert.Equal(t, 2.0, value(t, ms, "sfmc.client.blocks"), "a second episode")
	assert.Equal(t, 1.0, value(t, ms, "sfmc.client.cooldowns"))

	ctx := context.Background()
	hooks.Token(ctx, sfmc.TokenEvent{Duration: 30 * time.Millisecond})
	hooks.Token(ctx, sfmc.TokenEvent{Duration: time.Millisecond, FromStore: true})
	hooks.Token(ctx, sfmc.TokenEvent{Duration: time.Millisecond, FromStore: true})
	hooks.Token(ctx, sfmc.TokenEvent{Duration: 20 * time.Millisecond, Err: &sfmc.OAuthError{StatusCode: 401, Code: "invalid_client"}})
	hooks.Token(ctx, sfmc.TokenEvent{Duration: 20 * time.Millisecond, Err: &sfmc.OAuthError{StatusCode: 400, Code: "unsupported_grant_type"}})
	ms = tm.collect(t)
	success := attribute.String("sfmc.token.outcome", "success")
	failed := attribute.String("sfmc.token.outcome", "failed")
	fromSFMC, fromStore := attribute.Bool("sfmc.token.from_store", false), attribute.Bool("sfmc.token.from_store", true)
	assert.Equal(t, 1.0, value(t, ms, "sfmc.token.requests", success, fromSFMC))
	assert.Equal(t, 2.0, value(t, ms, "sfmc.token.requests", success, fromStore))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.token.requests", failed, fromSFMC, attribute.String("error.type", "invalid_credentials")))
	assert.Equal(t, 1.0, value(t, ms, "sfmc.token.requests", failed, fromSFMC, attribute.String("error.type", "unsupported_grant_type")))
	n, sum := histogram(t, ms, "sfmc.token.duration", success, fromSFMC)
	assert.Equal(t, uint64(1), n)
	assert.InDelta(t, 0.03, sum, 1e-9)
}

// WithAttributes tells Upserters (and clients) apart: every point and span
// carries the attributes given.
func TestWithAttributes(t *testing.T) {
	t.Parallel()
	tm := newTelemetry(t)
	srv := sfmctest.NewServer()
	t.Cleanup(srv.Close)
	client := attribute.String("sfmc.client", "main")
	c := newClient(t, srv, tm.options(otelsfmc.WithAttributes(client))...)
	ctx := context.Background()
	var us []*sfmc.Upserter
	for i, name := range []string{"orders", "profiles"} {
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 2, FlushInterval: time.Hour})
		require.NoError(t, err)
		reg, err := otelsfmc.ObserveUpserter(u, tm.options(otelsfmc.WithAttributes(attribute.String("sfmc.upserter", name)))...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = reg.Unregister() })
		for k := range i + 1 {
			require.NoError(t, u.Add(ctx, sfmc.Contact{Key: name + strconv.Itoa(k)}))
		}
		us = append(us, u)
	}
	ms := tm.collect(t)
	assert.Equal(t, 1.0, value(t, ms, "sfmc.upserter.queue.depth", attribute.String("sfmc.upserter", "orders")))
	assert.Equal(t, 2.0, value(t, ms, "sfmc.upserter.queue.depth", attribute.String("sfmc.upserter", "profiles")))
	for _, u := range us {
		require.NoError(t, u.Close(ctx))
	}
	ms = tm.collect(t)
	assert.Equal(t, 3.0, value(t, ms, "sfmc.upserter.outcomes",
		attribute.String("sfmc.outcome", "success"), attribute.Bool("sfmc.coalesced", false), client))
	assert.Positive(t, value(t, ms, "sfmc.client.rate", client), "the pace gauge carries them too")
	for _, s := range tm.spans.Ended() {
		assert.Equal(t, "main", attrMap(s.Attributes())["sfmc.client"].AsString())
	}
	assert.Len(t, tm.spans.Ended(), 3)
}

func TestObserveUpserterNil(t *testing.T) {
	t.Parallel()
	_, err := otelsfmc.ObserveUpserter(nil)
	require.Error(t, err)
}

// Without WithMeterProvider and WithTracerProvider the hooks use the
// global providers, also when those are set after Hooks is called.
func TestDefaultProvidersAreTheGlobalOnes(t *testing.T) { // not parallel: it sets the global providers
	mp0, tp0 := otel.GetMeterProvider(), otel.GetTracerProvider()
	t.Cleanup(func() {
		otel.SetMeterProvider(mp0)
		otel.SetTracerProvider(tp0)
	})
	hooks, err := otelsfmc.Hooks()
	require.NoError(t, err)
	tm := newTelemetry(t)
	otel.SetMeterProvider(tm.mp)
	otel.SetTracerProvider(tm.tp)
	a := sfmc.Attempt{Method: "GET", Route: "/contacts/v1/attributeSetDefinitions", Host: "mc.rest.marketingcloudapis.com", Number: 1}
	hooks.AttemptDone(hooks.AttemptStart(context.Background(), a), a, sfmc.AttemptResult{StatusCode: 200, Class: "ok"})
	require.Len(t, tm.spans.Ended(), 1)
	assert.Equal(t, "GET /contacts/v1/attributeSetDefinitions", tm.spans.Ended()[0].Name())
	n, _ := histogram(t, tm.collect(t), "http.client.request.duration",
		attribute.String("http.request.method", "GET"), attribute.String("server.address", "mc.rest.marketingcloudapis.com"),
		attribute.Int("server.port", 443), attribute.String("url.template", "/contacts/v1/attributeSetDefinitions"),
		attribute.Int("http.response.status_code", 200), attribute.String("sfmc.attempt.class", "ok"))
	assert.Equal(t, uint64(1), n)
}
