package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

const simulatorUsage = `Usage: sfmc simulator [--addr 127.0.0.1:8080] [--token-ttl S] [--rate R]
                      [--latency D] [--seed N] [--segments N] [--retry-after D]
                      [--fault-429 F] [--fault-503 F] [--fault-500 F]
                      [--fault-blocked F] [--fault-drop F]
                      [--fault-drop-after-write F]

Serves the embedded SFMC simulator (package sfmctest) as a process until
Ctrl-C: the token endpoint, contacts and attribute-set definitions, with
Mapping-ID attributes salesforce_mc_segment_1..N (Text, length 20) in Email
Demographics. It prints its URL, the test client id and secret it accepts,
and export lines to paste into another shell, so that verify, attributes,
validate and push can be tried without a tenant. Fault flags take the
fraction (0 to 1) of REST requests that fail that way.

Example:
  sfmc simulator --addr 127.0.0.1:8080 --latency 2ms --fault-429 0.01
  # in another shell: paste the export line, then
  sfmc demo --write-mapping mapping.json --write-profiles profiles.ndjson
  sfmc push --mapping mapping.json --input profiles.ndjson
`

// secondsFlag is a duration given as seconds ("30", "0.5") or as a Go
// duration ("30s", "2m").
type secondsFlag struct{ d *time.Duration }

func (f secondsFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f secondsFlag) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*f.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want seconds or a duration such as 30s, got %q", s)
	}
	*f.d = d
	return nil
}

// mappingIDAttributes returns n Mapping-ID attributes
// salesforce_mc_segment_1..n (Text, length 20) for Email Demographics.
func mappingIDAttributes(n int) sfmctest.ServerOption {
	attrs := make([]sfmctest.Attribute, n)
	for i := range attrs {
		attrs[i] = sfmctest.Attribute{Name: mappingIDName(i + 1), DataType: "Text", Length: 20}
	}
	return sfmctest.WithAttributes(sfmc.SetEmailDemographics, attrs...)
}

// mappingIDName is the name of the i-th (1-based) demo Mapping ID.
func mappingIDName(i int) string { return "salesforce_mc_segment_" + strconv.Itoa(i) }

func runSimulator(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the `address` to listen on (port 0: any free port)")
	var ttl, latency, retryAfter time.Duration
	fs.Var(secondsFlag{&ttl}, "token-ttl", "the access token lifetime, `S` seconds or a duration such as 5m (default 1080)")
	rate := fs.Float64("rate", 0, "the tenant's rate limit, `R` requests per second; past it 429 (0: none)")
	fs.Var(secondsFlag{&latency}, "latency", "the delay `D` of every REST request, a duration such as 2ms")
	seed := fs.Int64("seed", 1, "the seed of the fault randomness")
	faults := []struct {
		name  string
		fault sfmctest.Fault
		what  string
		frac  *float64
	}{
		{"fault-429", sfmctest.Fault429, "429 with Retry-After", new(float64)},
		{"fault-503", sfmctest.Fault503, "503 with Retry-After", new(float64)},
		{"fault-500", sfmctest.Fault500, "500", new(float64)},
		{"fault-blocked", sfmctest.FaultBlocked, "429 errorcode 50200 (blocked)", new(float64)},
		{"fault-drop", sfmctest.FaultDrop, "a dropped connection, before the write", new(float64)},
		{"fault-drop-after-write", sfmctest.FaultDropAfterWrite, "a dropped connection, after the write", new(float64)},
	}
	for _, f := range faults {
		fs.Float64Var(f.frac, f.name, 0, "the fraction `F` (0 to 1) of REST requests answered with "+f.what)
	}
	fs.Var(secondsFlag{&retryAfter}, "retry-after", "the Retry-After `D` of injected 429 and 503 answers (default 1s)")
	segments := fs.Int("segments", 3, "the number `N` of Mapping-ID attributes salesforce_mc_segment_1..N")
	if done, code := parseFlags(fs, e, simulatorUsage, args); done {
		return code
	}
	if *segments < 0 || *rate < 0 {
		errorf(e, "simulator", "--segments and --rate must not be negative")
		return exitUsage
	}
	opts := []sfmctest.ServerOption{sfmctest.WithAddr(*addr), sfmctest.WithSeed(*seed), mappingIDAttributes(*segments)}
	if ttl > 0 {
		opts = append(opts, sfmctest.WithTokenTTL(ttl))
	}
	if *rate > 0 {
		opts = append(opts, sfmctest.WithRateLimit(*rate, max(1, int(*rate/10))))
	}
	if latency > 0 {
		opts = append(opts, sfmctest.WithLatency(latency))
	}
	if retryAfter > 0 {
		opts = append(opts, sfmctest.WithRetryAfter(retryAfter))
	}
	for _, f := range faults {
		if *f.frac < 0 || *f.frac > 1 {
			errorf(e, "simulator", "--%s must be a fraction between 0 and 1, got %v", f.name, *f.frac)
			return exitUsage
		}
		if *f.frac > 0 {
			opts = append(opts, sfmctest.WithFaultRate(f.fault, *f.frac))
		}
	}
	srv, err := sfmctest.StartServer(opts...)
	if err != nil {
		errorf(e, "simulator", "%v", err)
		return exitUsage
	}
	defer srv.Close()
	id, secret := srv.Credentials()
	fmt.Fprintf(e.stdout, "SFMC simulator listening on %s\n", srv.URL())
	fmt.Fprintf(e.stdout, "it accepts client id %q and client secret %q (the simulator's test credentials)\n", id, secret)
	if *segments > 0 {
		fmt.Fprintf(e.stdout, "Email Demographics has Mapping IDs %s..%d (Text, length 20)\n", mappingIDName(1), *segments)
	}
	fmt.Fprintf(e.stdout, "\nexport SFMC_SUBDOMAIN=%s SFMC_CLIENT_ID=%s SFMC_CLIENT_SECRET=%s SFMC_AUTH_URL=%s\n\n",
		sfmctest.Subdomain, id, secret, srv.URL())
	fmt.Fprintln(e.stdout, "serving until Ctrl-C")
	<-ctx.Done()
	st := srv.Stats()
	fmt.Fprintf(e.stdout, "stopped: %d token requests, %d REST requests, %d contact writes, %d dropped connections\n",
		st.TokenRequests, st.RESTRequests, st.Writes, st.Dropped)
	return exitOK
}
