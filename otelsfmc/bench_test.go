package otelsfmc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/otelsfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// BenchmarkUpserter measures the client's share of the work, as the core's
// BenchmarkUpserter does: the simulator runs in another process (this test
// binary re-executed with simulatorChildEnv set), so this process's CPU
// time and allocations are the client's, with and without the hooks.
const simulatorChildEnv = "SFMC_OTEL_BENCH_SIMULATOR_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(simulatorChildEnv) == "1" {
		serveSimulatorChild()
		return
	}
	os.Exit(m.Run())
}

// serveSimulatorChild serves a simulator until stdin closes (the parent
// benchmark ended or died).
func serveSimulatorChild() {
	srv, err := sfmctest.StartServer(sfmctest.WithRequestLogSize(0))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

var (
	childOnce  sync.Once
	childURL   string
	childErr   error
	childStdin io.WriteCloser // open for the life of this process
)

// simulatorProcess starts (once per test binary) the simulator in a child
// process and returns its URL.
func simulatorProcess(b *testing.B) string {
	childOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), simulatorChildEnv+"=1", "GOMAXPROCS=1")
		var err error
		if childStdin, err = cmd.StdinPipe(); err != nil {
			childErr = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			childErr = err
			return
		}
		if err := cmd.Start(); err != nil {
			childErr = err
			return
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "http") {
			childErr = fmt.Errorf("simulator child: %q %v", line, err)
			return
		}
		childURL = strings.TrimSpace(line)
		childErr = warmUp(childURL)
	})
	if childErr != nil {
		b.Fatal(childErr)
	}
	return childURL
}

// warmUp pushes a few thousand contacts to the simulator at url, so that
// the first benchmark measured does not pay for the child's start.
func warmUp(url string) error {
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: sfmctest.Subdomain, ClientID: sfmctest.DefaultClientID,
		ClientSecret: sfmctest.DefaultClientSecret}, sfmc.WithAuthURL(url), sfmc.WithRESTURL(url), sfmc.WithRateLimit(1e6, 1000))
	if err != nil {
		return err
	}
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8})
	if err != nil {
		return err
	}
	for i := range 3000 {
		if err := u.Add(context.Background(), sfmc.Contact{Key: "W-" + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return u.Close(context.Background())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUpserter pushes b.N contacts through an Upserter with 8 workers
// to a simulator in another process, without hooks and with the otelsfmc
// Hooks on: the global (no-op) providers; the metrics SDK with the tracer a
// no-op; and both SDKs, every attempt span sampled and batched to an
// exporter that drops them. client-µs/contact and allocs/op are the whole
// client's per contact; the differences are the hooks' cost.
func BenchmarkUpserter(b *testing.B) {
	url := simulatorProcess(b)
	for _, mode := range []string{"none", "noop", "metrics", "metrics+traces"} {
		b.Run("hooks="+mode, func(b *testing.B) {
			opts := []sfmc.Option{sfmc.WithAuthURL(url), sfmc.WithRESTURL(url), sfmc.WithRateLimit(1e6, 1000)}
			tr := &http.Transport{MaxIdleConnsPerHost: 8}
			defer tr.CloseIdleConnections()
			opts = append(opts, sfmc.WithHTTPClient(&http.Client{Transport: tr}))
			var hookOpts []otelsfmc.Option
			var reader *sdkmetric.ManualReader
			switch mode {
			case "metrics":
				reader = sdkmetric.NewManualReader()
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
				defer func() { _ = mp.Shutdown(context.Background()) }()
				hookOpts = append(hookOpts, otelsfmc.WithMeterProvider(mp), otelsfmc.WithTracerProvider(noop.NewTracerProvider()))
			case "metrics+traces":
				reader = sdkmetric.NewManualReader()
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
				defer func() { _ = mp.Shutdown(context.Background()) }()
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				hookOpts = append(hookOpts, otelsfmc.WithMeterProvider(mp), otelsfmc.WithTracerProvider(tp))
			}
			if mode != "none" {
				hooks, err := otelsfmc.Hooks(hookOpts...)
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, sfmc.WithHooks(hooks))
			}
			c, err := sfmc.NewClient(sfmc.Config{Subdomain: sfmctest.Subdomain, ClientID: sfmctest.DefaultClientID,
				ClientSecret: sfmctest.DefaultClientSecret}, opts...)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Verify(context.Background()); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			var failed int
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, OnResult: func(o sfmc.Outcome) {
				if o.Err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}})
			if err != nil {
				b.Fatal(err)
			}
			if mode != "none" {
				reg, err := otelsfmc.ObserveUpserter(u, hookOpts...)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = reg.Unregister() }()
			}
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = "K-" + strconv.Itoa(i)
			}
			contact := sfmc.Contact{Attributes: []sfmc.AttributeValue{
				{Set: "Email Addresses", Name: "Email Address", Value: "ann@example.com"},
				{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
				{Set: "Email Demographics", Name: "Last Name", Value: "O'Neil"},
			}}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, wall0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				contact.Key = keys[i]
				if err := u.Add(ctx, contact); err != nil {
					b.Fatal(err)
				}
			}
			if err := u.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu, wall := cpuTime()-cpu0, time.Since(wall0)
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "client-µs/contact")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "contacts/s")
			if failed > 0 {
				b.Fatalf("%d contacts failed", failed)
			}
		})
	}
}

// BenchmarkHooks is the hooks' own work for one contact sent in one
// attempt (AttemptStart, AttemptDone, Outcome), without the network: the
// CPU and allocations BenchmarkUpserter's differences are made of, free of
// its noise.
func BenchmarkHooks(b *testing.B) {
	for _, mode := range []string{"noop", "metrics", "metrics+traces"} {
		b.Run("hooks="+mode, func(b *testing.B) {
			var opts []otelsfmc.Option
			if mode != "noop" {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer func() { _ = mp.Shutdown(context.Background()) }()
				opts = append(opts, otelsfmc.WithMeterProvider(mp), otelsfmc.WithTracerProvider(noop.NewTracerProvider()))
			}
			if mode == "metrics+traces" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				opts = append(opts, otelsfmc.WithTracerProvider(tp))
			}
			hooks, err := otelsfmc.Hooks(opts...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			a := sfmc.Attempt{Method: "PATCH", Route: "/contacts/v1/contacts", Host: "mc.rest.marketingcloudapis.com", Number: 1}
			res := sfmc.AttemptResult{StatusCode: 200, Class: "ok", Duration: 30 * time.Millisecond}
			o := sfmc.OutcomeEvent{Outcome: sfmc.Outcome{Key: "K", Attempts: 1}, Latency: 40 * time.Millisecond}
			b.ReportAllocs()
			for b.Loop() {
				hooks.AttemptDone(hooks.AttemptStart(ctx, a), a, res)
				hooks.Outcome(ctx, o)
			}
		})
	}
}
