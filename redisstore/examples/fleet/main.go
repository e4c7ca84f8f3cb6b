// Command fleet shows fleet mode: several sfmc.Clients — as several pods of
// one pipeline would be — share one token, one pace and one 429 cool-down
// through Redis, against an embedded SFMC simulator with a tenant limit
// they are not told.
//
// It needs a Redis server: SFMC_REDIS_ADDR (default 127.0.0.1:6379). Run it
// from the redisstore directory:
//
//	go run ./examples/fleet -clients 4 -limit 200 -contacts 4000
//
// Without -rate the fleet finds the tenant's pace (from 20 requests per
// second, shared by all clients) and prints it every second; -rate sets
// the fleet's rate (its ceiling and start), e.g. -rate 195.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/redisstore"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	clients := flag.Int("clients", 4, "number of clients (pods) in the fleet")
	limit := flag.Float64("limit", 200, "tenant limit of the simulator, requests/s (not told to the clients)")
	fleetRate := flag.Float64("rate", 0, "the fleet's rate, requests/s (0: none, the fleet finds the tenant's pace)")
	contacts := flag.Int("contacts", 4000, "contacts to push")
	workers := flag.Int("workers", 0, "Upserter workers per client (0: sized from the pace)")
	flag.Parse()
	if *clients < 1 || *limit <= 0 || *fleetRate < 0 || *contacts < 1 || *workers < 0 {
		return errors.New("-clients, -limit and -contacts must be positive, -rate and -workers not negative")
	}
	perSecond := *fleetRate
	if perSecond == 0 {
		perSecond = math.Inf(1) // no rate configured: find the pace
	}

	addr := os.Getenv("SFMC_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialerRetries: 1})
	defer rdb.Close()
	ctx := context.Background()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis at %s (set SFMC_REDIS_ADDR, or start one: redis-server --port 6379 --save '' --appendonly no --daemonize yes): %w", addr, err)
	}

	srv := sfmctest.NewServer(sfmctest.WithRateLimit(*limit, 5), sfmctest.WithRequestLogSize(*contacts*3))
	defer srv.Close()
	prefix := fmt.Sprintf("sfmc-example-%d", time.Now().UnixNano()) // a fresh fleet each run
	defer cleanup(rdb, prefix)

	cfg := srv.Config()
	cfg.Subdomain = "mcexamplefleet00000000000000" // a well-formed one; the simulator's URLs are set explicitly
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var failed, alerts atomic.Int64
	var us []*sfmc.Upserter
	for i := range *clients {
		// Each client gets its own components, as a separate process would.
		fleet, err := redisstore.ClientOptions(rdb, cfg, perSecond, 5, redisstore.WithPrefix(prefix))
		if err != nil {
			return err
		}
		opts := append(srv.ClientOptions(), sfmc.WithLogger(logger.With("client", i)),
			sfmc.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}))
		c, err := sfmc.NewClient(cfg, append(opts, fleet...)...)
		if err != nil {
			return err
		}
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{
			Workers: *workers,
			OnResult: func(o sfmc.Outcome) {
				if o.Err != nil {
					failed.Add(1)
				}
			},
			OnAlert: func(a sfmc.Alert) {
				alerts.Add(1)
				logger.Warn("alert", "client", i, "kind", a.Kind, "message", a.Message)
			},
		})
		if err != nil {
			return err
		}
		us = append(us, u)
	}

	configured := "none (the fleet finds the pace)"
	if *fleetRate > 0 {
		configured = fmt.Sprintf("%g/s", *fleetRate)
	}
	fmt.Printf("fleet of %d clients, tenant limit %g/s (not told), fleet rate %s, %d contacts, Redis %s\n", *clients, *limit, configured, *contacts, addr)
	start := time.Now()
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() { // the fleet's pace, as each client holds it, every second
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Printf("%3.0fs: pace %s requests/s\n", time.Since(start).Seconds(), paces(us))
			}
		}
	}()
	for i, u := range us {
		wg.Go(func() {
			for j := i; j < *contacts; j += len(us) {
				_ = u.Add(ctx, sfmc.Contact{Key: fmt.Sprint("K", j), Attributes: []sfmc.AttributeValue{
					{Set: "Email Addresses", Name: "Email Address", Value: fmt.Sprintf("k%d@example.com", j)},
				}})
			}
			_ = u.Close(ctx)
		})
	}
	wg.Wait()
	close(done)
	elapsed := time.Since(start)

	st := srv.Stats()
	var first, last time.Time
	n := 0
	for _, q := range srv.Requests() {
		if q.Method != http.MethodPatch {
			continue
		}
		n++
		if first.IsZero() || q.Time.Before(first) {
			first = q.Time
		}
		if q.Time.After(last) {
			last = q.Time
		}
	}
	achieved := 0.0
	if n > 1 {
		achieved = float64(n-1) / last.Sub(first).Seconds()
	}
	share := 0.0
	if st.RESTRequests > 0 {
		share = 100 * float64(st.ByStatus[429]) / float64(st.RESTRequests)
	}
	fmt.Printf("done in %v: aggregate rate %.1f requests/s at the tenant (%.1f%% of the limit)\n", elapsed.Round(time.Millisecond), achieved, 100*achieved/(*limit))
	fmt.Printf("requests %d, 429s %d (%.2f%%), token requests %d, failed contacts %d, alerts %d\n",
		st.RESTRequests, st.ByStatus[429], share, st.TokenRequests, failed.Load(), alerts.Load())
	pace, err := rdb.HGet(ctx, prefix+":"+cfg.ClientID+":"+cfg.AccountID+":pace", "rate").Float64()
	if err != nil {
		return fmt.Errorf("read the fleet's pace: %w", err)
	}
	fmt.Printf("the fleet's pace: %.1f requests/s (%.1f%% of the limit); the clients hold %s\n", pace, 100*pace/(*limit), paces(us))
	return nil
}

// paces lists the clients' current pace (Stats().Rate).
func paces(us []*sfmc.Upserter) string {
	var b strings.Builder
	for i, u := range us {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.1f", u.Stats().Rate)
	}
	return b.String()
}

// cleanup deletes the example's keys.
func cleanup(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, err := rdb.Keys(ctx, "*"+prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
}
