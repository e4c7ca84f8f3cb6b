// Command sfmc upserts profiles into Salesforce Marketing Cloud (SFMC)
// contacts, as Adobe Experience Platform's "(API) Salesforce Marketing
// Cloud" streaming destination does, and checks a tenant's configuration.
//
// Usage:
//
//	sfmc demo       [--profiles N] [--workers N] [--json]
//	sfmc simulator  [--addr A] [--token-ttl S] [--rate R] [--latency D] [faults...] [--segments N]
//	sfmc verify
//	sfmc attributes [--all] [--set NAME] [--json]
//	sfmc validate   --mapping FILE [--all]
//	sfmc push       --mapping FILE [--input FILE|-] [--workers N] [--rate R] [--failures FILE] [--json]
//	sfmc help [COMMAND]
//
// demo runs the whole job against an in-process simulator and needs no
// credentials: it generates sample profiles with segment memberships,
// validates the mapping, pushes the profiles through the same code path as
// push, prints the summary and a per-segment table, and checks every
// contact the simulator stored. simulator serves the same simulator as a
// process, for trying the other commands without a tenant.
//
// verify, attributes, validate and push talk to a tenant named by the
// environment: SFMC_SUBDOMAIN, SFMC_CLIENT_ID and SFMC_CLIENT_SECRET
// (required), SFMC_ACCOUNT_ID and SFMC_SCOPE (space-separated; optional),
// SFMC_AUTH_URL and SFMC_REST_URL (endpoint overrides, for proxies and the
// simulator). The client secret and access tokens are never printed.
//
// push reads NDJSON profiles line by line, maps each one with the mapping
// file (identity, attributes, segments → Mapping IDs), and upserts the
// contacts through a bounded sfmc.Upserter. A line that cannot be mapped,
// and a contact SFMC refuses, becomes a failure record
// {"line":N,"contactKey":...,"error":...} in the failures file (created
// only when there are failures); the rest go on. At the end it prints a
// summary; with --json only the summary JSON
// {"read","upserted","failed","segments","requests","retries","throttled"}
// on stdout. On a terminal, stderr shows a live progress bar.
//
// Exit codes: 0 all good; 1 some records failed, validation found problems,
// or the run was interrupted; 2 usage, configuration or authentication
// error (including push with a mapping the tenant does not accept: nothing
// is sent).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
