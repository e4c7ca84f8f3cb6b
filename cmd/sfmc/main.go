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
//	sfmc push       --mapping FILE [--input FILE|-] [--workers N] [--rate R] [--failures FILE] [--drain-timeout D] [--json]
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
// contacts through a bounded sfmc.Upserter. Nothing is changed on the way:
// invalid UTF-8 and keys with surrounding whitespace are record errors.
// Every line read ends up in exactly one of upserted, failed and not sent;
// the failed and not-sent ones are failure records
// {"line","contactKey","error","status","mayHaveApplied","input"} in the
// failures file, created (or truncated) before anything is sent, each with
// its original input line, so that the file can be replayed as push's
// input. At the end it prints a summary; with --json only the summary JSON
// {"read","upserted","failed","segments","requests","retries","throttled",
// "notSent","interrupted","stopReason","resumeLine","elapsedSeconds",
// "failuresFile","failuresWritten"} on stdout. On a terminal, stderr shows
// a live progress bar.
//
// Signals: the first Ctrl-C (SIGINT) stops push reading and gives the
// contacts already accepted --drain-timeout (default 60 s) to finish. A
// second Ctrl-C, or a SIGTERM at any time, stops at once: requests in
// flight are cut off and the contacts not yet sent are reported not sent;
// the summary and the failures file are still written. SIGTERM never waits
// for the drain because it is what Kubernetes and systemd send before
// SIGKILL, after a grace period (30 s by default in Kubernetes) shorter
// than the drain: waiting would risk losing the accounting. After the stop
// at once, a further signal kills the process.
//
// Exit codes: 0 all good; 1 some records failed or were not sent,
// validation found problems, the run stopped early, or it was interrupted
// (also while the tenant's attributes load); 2 usage, configuration or
// authentication error found before anything was sent (including push
// with a mapping the tenant does not accept, an input that is missing or a
// directory, and a failures file that cannot be created or is the input).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Why a command was asked to stop: the causes of its contexts.
var (
	errInterrupted     = errors.New("interrupted (Ctrl-C)")
	errSecondInterrupt = errors.New("stopped at once by a second Ctrl-C")
	errTerminated      = errors.New("stopped at once by SIGTERM")
)

func main() {
	hard, stopHard := context.WithCancelCause(context.Background())
	ctx, interrupt := context.WithCancelCause(hard)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go watchSignals(sigs, done, interrupt, stopHard, os.Stderr, func() {
		// From now on a signal kills the process.
		signal.Reset(os.Interrupt, syscall.SIGTERM)
	})
	code := runEnv(ctx, &env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, hard: hard}, os.Args[1:])
	close(done)
	os.Exit(code)
}

// watchSignals turns signals into the two stops until done is closed: the
// first SIGINT cancels the command's context (interrupt); a second SIGINT,
// or a SIGTERM at any time, cancels the hard context too (stop at once),
// after which afterHard is called and the watch ends.
func watchSignals(sigs <-chan os.Signal, done <-chan struct{}, interrupt, stopHard context.CancelCauseFunc, stderr io.Writer, afterHard func()) {
	interrupted := false
	for {
		var sig os.Signal
		select {
		case <-done:
			return
		case sig = <-sigs:
		}
		var why error
		switch {
		case sig == syscall.SIGTERM:
			why = errTerminated
		case interrupted:
			why = errSecondInterrupt
		default:
			interrupted = true
			interrupt(errInterrupted)
			continue
		}
		fmt.Fprintf(stderr, "sfmc: %v\n", why)
		stopHard(why)
		interrupt(why)
		afterHard()
		return
	}
}
