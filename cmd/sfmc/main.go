// Command sfmc upserts profiles into Salesforce Marketing Cloud (SFMC)
// contacts, as Adobe Experience Platform's "(API) Salesforce Marketing
// Cloud" streaming destination does, and checks a tenant's configuration.
//
// Usage:
//
//	sfmc demo       [--profiles N] [--workers N] [--seed N] [--failures FILE]
//	                [--write-mapping FILE] [--write-profiles FILE] [--json]
//	                [--log-level L] [--log-format text|json]
//	sfmc simulator  [--addr 127.0.0.1:8080] [--token-ttl S] [--rate R]
//	                [--latency D] [--seed N] [--segments N] [--retry-after D]
//	                [--fault-429 F] [--fault-503 F] [--fault-500 F]
//	                [--fault-blocked F] [--fault-drop F]
//	                [--fault-drop-after-write F]
//	sfmc verify     [--json] [--log-level L] [--log-format text|json]
//	sfmc attributes [--all] [--set NAME] [--json]
//	                [--log-level L] [--log-format text|json]
//	sfmc validate   --mapping FILE [--all] [--json]
//	                [--log-level L] [--log-format text|json]
//	sfmc push       --mapping FILE [--input FILE|-] [--format ndjson|csv]
//	                [--dry-run] [--workers N] [--max-workers N] [--rate R]
//	                [--fail-on-block] [--failures FILE] [--drain-timeout D]
//	                [--progress auto|bar|plain|off] [--state FILE [--full]]
//	                [--json]
//	                [--log-level L] [--log-format text|json]
//	sfmc version    [--json]
//	sfmc completion bash|zsh|fish
//	sfmc help       [COMMAND]
//
// Every command has --help (its usage and flags, on stdout); a usage error
// prints the error and a one-line hint on stderr and exits 2, and an
// unknown command gets the nearest ones suggested.
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
// --log-level (debug, info, warn, error or off, the default) and
// --log-format (text or json) send the library's log to stderr; SFMC_LOG_LEVEL
// and SFMC_LOG_FORMAT give their defaults.
//
// push reads profiles record by record, NDJSON lines or CSV rows
// (--format, by default csv for *.csv files), maps each one with the
// mapping file (identity, attributes, segments → Mapping IDs), and upserts
// the contacts through a bounded sfmc.Upserter. A CSV header names, for
// each column, the dot path into the profile (identityMap.contactKey,
// person.name.firstName, segmentMembership.ups.seg-1.status); an empty
// cell is absent. An NDJSON input in another format (a JSON array, a CSV
// header) stops at its first line with one error. Nothing is changed on
// the way: invalid UTF-8 and keys with surrounding whitespace are record
// errors. Every record read ends up in exactly one of upserted, failed and
// not sent; the failed and not-sent ones are failure records
// {"line","contactKey","error","status","mayHaveApplied","input"} in the
// failures file, created (or truncated) before anything is sent, each with
// its original input line (for CSV, the record's profile as an NDJSON
// line), so that the file can be replayed as push's input. A mapped source
// absent from every one of the first 1,000 records is a warning. --dry-run
// maps and checks every record without sending any. At the end it prints
// a summary with the per-segment counts; with --json only the summary JSON
// {"read","upserted","failed","segments","requests","retries","throttled",
// "notSent","interrupted","stopReason","resumeLine","elapsedSeconds",
// "failuresFile","failuresWritten","rate","warnings","dryRun"} on stdout.
// --progress bar draws a live line on stderr that fits the terminal
// (percent and ETA for a regular file, counts, rates, retries and what the
// run waits for); plain logs a line every 10 s; auto, the default, is bar
// on a terminal and plain otherwise.
//
// version prints the module version, VCS revision and Go version recorded
// in the binary (the User-Agent carries the same version); completion
// prints a completion script for bash, zsh or fish.
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
// with a mapping the tenant does not accept, an input that is missing, a
// directory or in another format, and a failures file that cannot be
// created or is the input).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Why a command was asked to stop: the causes of its contexts.
var (
	errInterrupted     = errors.New("interrupted (Ctrl-C)")
	errSecondInterrupt = errors.New("stopped at once by a second Ctrl-C")
	errTerminated      = errors.New("stopped at once by SIGTERM")
)

// gcPercent is the CLI's GOGC unless the environment sets one: push's live
// heap is small (the queue and the reader's batches, about 12 MiB), so
// collecting at 5× it instead of 2× costs some MiB of RSS and saves GC work
// (measured with bench/compare.sh; see the closing note of issue 15).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		// push allocates briskly and keeps little: a larger heap between
		// collections costs a few MiB and saves CPU (see gcPercent).
		debug.SetGCPercent(gcPercent)
	}
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
