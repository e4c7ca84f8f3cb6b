package otelsfmc_test

import (
	"context"
	"fmt"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/otelsfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// An Upserter's contacts sent with the otelsfmc hooks, against the
// simulator, with the OpenTelemetry SDK recording in memory: the attempt
// spans are children of the span that added the contacts.
func Example() {
	srv := sfmctest.NewServer()
	defer srv.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	hooks, err := otelsfmc.Hooks(otelsfmc.WithMeterProvider(mp), otelsfmc.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := sfmc.NewClient(srv.Config(), append(srv.ClientOptions(), sfmc.WithHooks(hooks))...)
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := otelsfmc.ObserveUpserter(u, otelsfmc.WithMeterProvider(mp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = reg.Unregister() }()

	ctx, span := tp.Tracer("example").Start(context.Background(), "import")
	for _, key := range []string{"K-1", "K-2"} {
		_ = u.Add(ctx, sfmc.Contact{Key: key})
	}
	span.End()
	_ = u.Close(context.Background())

	for _, s := range spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			fmt.Println(s.Name(), "- child of import:", s.Parent().SpanID() == span.SpanContext().SpanID())
		}
	}
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// PATCH /contacts/v1/contacts - child of import: true
	// PATCH /contacts/v1/contacts - child of import: true
	// http.client.request.duration
	// sfmc.client.blocked
	// sfmc.client.rate
	// sfmc.token.duration
	// sfmc.token.requests
	// sfmc.upserter.concurrency
	// sfmc.upserter.in_flight
	// sfmc.upserter.outcome.latency
	// sfmc.upserter.outcomes
	// sfmc.upserter.queue.depth
}
