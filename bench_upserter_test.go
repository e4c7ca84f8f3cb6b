package sfmc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/boltstore"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// The benchmarks below measure the client's share of the work: the
// simulator runs in another process (this test binary re-executed with
// simulatorChildEnv set), so this process's CPU time and allocations are
// the client's alone.
const simulatorChildEnv = "SFMC_BENCH_SIMULATOR_CHILD"

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
	srv, err := sfmctest.StartServer(sfmctest.WithRequestLogSize(0), sfmctest.WithAttributes("Email Demographics",
		sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 20},
		sfmctest.Attribute{Name: "salesforce_mc_segment_2", DataType: "Text", Length: 20}))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

var (
	childOnce sync.Once
	childURL  string
	childErr  error
	// childStdin stays open for the life of this process: the child exits
	// when it closes.
	childStdin io.WriteCloser
)

// simulatorProcess starts (once per test binary) the simulator in a child
// process and returns its URL.
func simulatorProcess(b *testing.B) string {
	childOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), simulatorChildEnv+"=1", "GOMAXPROCS=1")
		var err error
		childStdin, err = cmd.StdinPipe()
		if err != nil {
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
	})
	if childErr != nil {
		b.Fatal(childErr)
	}
	return childURL
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchContact(i int) sfmc.Contact {
	return sfmc.Contact{Key: "K-" + strconv.Itoa(i), Attributes: []sfmc.AttributeValue{
		{Set: "Email Addresses", Name: "Email Address", Value: "ann@example.com"},
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
		{Set: "Email Demographics", Name: "Last Name", Value: "O'Neil"},
		{Set: "Email Demographics", Name: "salesforce_mc_segment_1", Value: "realized"},
		{Set: "Email Demographics", Name: "salesforce_mc_segment_2", Value: "exited"},
	}}
}

// reportCPU adds the client's CPU per contact and contacts per client
// CPU-second to the benchmark's output.
func reportCPU(b *testing.B, cpu time.Duration, wall time.Duration, n int) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "client-µs/contact")
	b.ReportMetric(float64(n)/cpu.Seconds(), "contacts/client-cpu-s")
	b.ReportMetric(float64(n)/wall.Seconds(), "contacts/s")
}

// BenchmarkUpserter pushes b.N contacts through an Upserter to a simulator
// in another process on loopback, with no latency, for 1, 8 and 32
// workers. allocs/op is the whole client stack per contact (retries,
// token, limiter, JSON, net/http).
func BenchmarkUpserter(b *testing.B) {
	url := simulatorProcess(b)
	queue, _ := strconv.Atoi(os.Getenv("SFMC_BENCH_QUEUE")) // 0: the default
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			srvCfg := sfmc.Config{Subdomain: sfmctest.Subdomain, ClientID: sfmctest.DefaultClientID, ClientSecret: sfmctest.DefaultClientSecret}
			tr := &http.Transport{MaxIdleConnsPerHost: workers}
			defer tr.CloseIdleConnections()
			// A ceiling far above loopback speed: the pace starts there
			// (the benchmark measures the client's CPU, not its slow start).
			c, err := sfmc.NewClient(srvCfg, sfmc.WithAuthURL(url), sfmc.WithRESTURL(url), sfmc.WithHTTPClient(&http.Client{Transport: tr}),
				sfmc.WithRateLimit(1e6, 1000))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Verify(context.Background()); err != nil {
				b.Fatal(err)
			}
			var failed int64
			var mu sync.Mutex
			u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: workers, QueueSize: queue, OnResult: func(o sfmc.Outcome) {
				if o.Err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}})
			if err != nil {
				b.Fatal(err)
			}
			// Unique keys, made before the timer starts: nothing coalesces,
			// every Add is one request.
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = "K-" + strconv.Itoa(i)
			}
			c0 := benchContact(0)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, wall0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				c0.Key = keys[i]
				if err := u.Add(ctx, c0); err != nil {
					b.Fatal(err)
				}
			}
			if err := u.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			reportCPU(b, cpuTime()-cpu0, time.Since(wall0), b.N)
			if failed > 0 {
				b.Fatalf("%d contacts failed", failed)
			}
		})
	}
}

// BenchmarkBareHTTP is the floor BenchmarkUpserter is compared with: a
// plain net/http loop sending the same PATCH with a prepared body and token,
// no retries, limiter, validation or decoding, one request at a time.
func BenchmarkBareHTTP(b *testing.B) {
	url := simulatorProcess(b)
	resp, err := http.Post(url+"/v2/token", "application/json", strings.NewReader(
		`{"grant_type":"client_credentials","client_id":"`+sfmctest.DefaultClientID+`","client_secret":"`+sfmctest.DefaultClientSecret+`"}`))
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := jsonUnmarshal(body, &tok); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"contactKey":"K-1","attributeSets":[{"name":"Email Addresses","items":[{"values":[{"name":"Email Address","value":"ann@example.com"}]}]},{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Ann"},{"name":"Last Name","value":"O'Neil"},{"name":"salesforce_mc_segment_1","value":"realized"},{"name":"salesforce_mc_segment_2","value":"exited"}]}]}]}`)
	hc := &http.Client{Transport: &http.Transport{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPatch, url+"/contacts/v1/contacts", bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.StopTimer()
	reportCPU(b, cpuTime()-cpu0, time.Since(wall0), b.N)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// BenchmarkUpserterSentStore measures change-only sending (issue 16) with 8
// workers against the simulator process: "first" sends every contact with
// a store recording what SFMC confirms (none: no store, for the
// comparison), "skip" adds contacts the store already holds, which send
// nothing. client-µs/contact is the client's CPU per contact.
func BenchmarkUpserterSentStore(b *testing.B) {
	url := simulatorProcess(b)
	stores := []struct {
		name string
		open func(b *testing.B) sfmc.SentStore
	}{
		{"none", func(*testing.B) sfmc.SentStore { return nil }},
		{"memory", func(*testing.B) sfmc.SentStore { return sfmc.NewMemoryStore() }},
		{"bolt", func(b *testing.B) sfmc.SentStore {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
	for _, phase := range []string{"first", "skip"} {
		for _, st := range stores {
			if phase == "skip" && st.name == "none" {
				continue
			}
			b.Run(phase+"/store="+st.name, func(b *testing.B) {
				store := st.open(b)
				keys := make([]string, b.N)
				for i := range keys {
					keys[i] = "K-" + strconv.Itoa(i)
				}
				if phase == "skip" {
					pushContacts(b, url, store, keys) // untimed: SFMC confirms them all
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0, wall0 := cpuTime(), time.Now()
				st := pushContacts(b, url, store, keys)
				b.StopTimer()
				reportCPU(b, cpuTime()-cpu0, time.Since(wall0), b.N)
				if phase == "skip" && st.Skipped != int64(b.N) {
					b.Fatalf("%d of %d skipped", st.Skipped, b.N)
				}
			})
		}
	}
}

// pushContacts adds benchContact for each key through a new Upserter with
// store, closes it and returns its Stats; a failed contact fails b.
func pushContacts(b *testing.B, url string, store sfmc.SentStore, keys []string) sfmc.UpserterStats {
	srvCfg := sfmc.Config{Subdomain: sfmctest.Subdomain, ClientID: sfmctest.DefaultClientID, ClientSecret: sfmctest.DefaultClientSecret}
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	c, err := sfmc.NewClient(srvCfg, sfmc.WithAuthURL(url), sfmc.WithRESTURL(url), sfmc.WithHTTPClient(&http.Client{Transport: tr}),
		sfmc.WithRateLimit(1e6, 1000))
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{Workers: 8, SentStore: store, OnResult: func(o sfmc.Outcome) {
		if o.Err != nil {
			failed.Add(1)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c0 := benchContact(0)
	for _, k := range keys {
		c0.Key = k
		if err := u.Add(ctx, c0); err != nil {
			b.Fatal(err)
		}
	}
	if err := u.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d contacts failed", n)
	}
	return u.Stats()
}
