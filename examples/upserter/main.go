// Command upserter shows the sfmc.Upserter embedded in a channel-fed
// pipeline: a producer goroutine sends contacts on a channel, a loop Adds
// them (Add blocks while the Upserter's bounded queue is full, which paces
// the producer), OnResult counts successes and failures as they happen,
// and Close sends whatever is left before the Stats are printed.
//
// By default it runs against an embedded SFMC simulator (package sfmctest)
// that answers a few requests with 429 "rate limited", so the retries show
// in the Stats. With SFMC_SUBDOMAIN, SFMC_CLIENT_ID and SFMC_CLIENT_SECRET
// set (optionally SFMC_ACCOUNT_ID) it upserts to that tenant instead: the
// contacts it writes have keys "UPSERTER-EXAMPLE-n".
//
//	go run ./examples/upserter
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// contacts is how many contacts the producer sends.
const contacts = 500

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "upserter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	client, cleanup, err := newClient()
	if err != nil {
		return err
	}
	defer cleanup()

	// Count outcomes as they arrive. OnResult runs on the Upserter's
	// workers, concurrently: keep it short and use atomics.
	var ok, failed atomic.Int64
	up, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{
		Workers:   8,
		QueueSize: 64,
		OnResult: func(o sfmc.Outcome) {
			if o.Err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "contact %s failed: %v\n", o.Key, o.Err)
				return
			}
			ok.Add(1)
		},
		OnAlert: func(a sfmc.Alert) { fmt.Fprintln(os.Stderr, "alert:", a.Kind, a.Message) },
	})
	if err != nil {
		return err
	}

	// The producer: anything that yields contacts (a queue consumer, a
	// database cursor, ...). It stops when the context is done.
	in := make(chan sfmc.Contact)
	go func() {
		defer close(in)
		for i := 1; i <= contacts; i++ {
			c := sfmc.Contact{Key: fmt.Sprintf("UPSERTER-EXAMPLE-%d", i), Attributes: []sfmc.AttributeValue{
				{Set: sfmc.SetEmailAddresses, Name: sfmc.AttrEmailAddress, Value: fmt.Sprintf("upserter.example.%d@example.com", i)},
				{Set: sfmc.SetEmailAddresses, Name: sfmc.AttrHTMLEnabled, Value: true}, // required with the email address
				{Set: sfmc.SetEmailDemographics, Name: "First Name", Value: fmt.Sprintf("Example %d", i)},
			}}
			select {
			case in <- c:
			case <-ctx.Done():
				return
			}
		}
	}()

	// The consumer loop: Add blocks while the queue is full.
	start := time.Now()
	for c := range in {
		if err := up.Add(ctx, c); err != nil {
			// Not accepted. An invalid contact is this contact's problem;
			// anything else (the context is done, or the Upserter stopped
			// on an error that needs a person: credentials, IP allowlist,
			// blocked) stops the loop.
			fmt.Fprintln(os.Stderr, "not added:", c.Key, err)
			if errors.Is(err, sfmc.ErrInvalidContact) {
				continue
			}
			break
		}
	}

	// Close sends what is queued and waits for every outcome (bounded, so
	// a stuck tenant cannot hold the program forever).
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := up.Close(closeCtx); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
	}
	st := up.Stats()
	fmt.Printf("%d upserted, %d failed in %v\n", ok.Load(), failed.Load(), time.Since(start).Round(time.Millisecond))
	fmt.Printf("stats: added %d, coalesced %d, requests %d, succeeded %d, failed %d, retried %d, throttled %d\n",
		st.Added, st.Coalesced, st.Requests, st.Succeeded, st.Failed, st.Retried, st.Throttled)
	if failed.Load() > 0 {
		return fmt.Errorf("%d contacts failed", failed.Load())
	}
	return nil
}

// newClient returns a client for the tenant in the environment, or for an
// embedded simulator that throttles a few requests.
func newClient() (*sfmc.Client, func(), error) {
	if os.Getenv("SFMC_SUBDOMAIN") != "" {
		fmt.Println("Using the tenant named by SFMC_SUBDOMAIN.")
		c, err := sfmc.NewClient(sfmc.Config{
			Subdomain:    os.Getenv("SFMC_SUBDOMAIN"),
			ClientID:     os.Getenv("SFMC_CLIENT_ID"),
			ClientSecret: os.Getenv("SFMC_CLIENT_SECRET"),
			AccountID:    os.Getenv("SFMC_ACCOUNT_ID"),
		})
		return c, func() {}, err
	}
	// 429 with a short Retry-After on the 5th to 9th requests: the workers
	// pause together (one shared cool-down) and the Upserter retries.
	srv := sfmctest.NewServer(sfmctest.WithRetryAfter(50*time.Millisecond), sfmctest.WithLatency(time.Millisecond))
	fmt.Println("Using an embedded SFMC simulator at", srv.URL(), "with injected 429s (set SFMC_SUBDOMAIN, SFMC_CLIENT_ID and SFMC_CLIENT_SECRET for a real tenant).")
	go func() {
		for srv.Stats().RESTRequests < 4 {
			time.Sleep(time.Millisecond)
		}
		srv.FailNext(5, sfmctest.Fault429)
	}()
	c, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	return c, srv.Close, err
}
