package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/boltstore"
)

const pushUsage = `Usage: sfmc push --mapping FILE [--input FILE|-] [--format ndjson|csv]
                 [--dry-run] [--workers N] [--max-workers N] [--rate R]
                 [--fail-on-block] [--failures FILE] [--drain-timeout D]
                 [--progress auto|bar|plain|off] [--state FILE [--full]]
                 [--json]
                 [--log-level L] [--log-format text|json]

Streams profiles, NDJSON or CSV, record by record, never all at once (each
record goes on as soon as it is read, however slow the pipe), maps each one
with the mapping file and upserts the contacts. The mapping is validated
against the tenant's attributes (every page) first: when it has problems
they are printed, nothing is sent, and the exit code is 2 (a configuration
error); its warnings are printed and go on.

Input: --format ndjson (one JSON object per line) or csv; the default is
csv for a file named *.csv and ndjson otherwise (standard input included).
A UTF-8 byte-order mark at the start is skipped; blank lines are skipped.
An NDJSON input whose first line shows another format (a JSON array, a
JSON document over several lines, CSV, compressed data) stops with one
error, exit 2. CSV (RFC 4180) has a header row whose column names are dot
paths into the profile as NDJSON has it: identityMap.contactKey (the key
itself in the cell; the mapping's identity must be a column),
person.name.firstName, personalEmail.address,
segmentMembership.ups.seg-1.status. Cells are text, sent exactly as they
are; an empty cell means absent. A CSV file and an NDJSON file holding the
same data push exactly the same contacts.

Nothing is changed on the way: a record that cannot be used (not JSON, a
CSV row that does not parse, invalid UTF-8 anywhere, no contact key or one
with leading or trailing whitespace, a value that does not fit its
attribute, an unknown segment status, longer than 16 MiB) and a contact
SFMC refuses are failure records; the rest go on. A mapped source that is
absent from every one of the first 1,000 records (a typo such as
person.name.firstname) is a warning, on stderr and in the summary.

--dry-run reads and maps every record and checks every value against the
tenant's attributes as a real run does, and prints the same summary and
per-segment counts ("upserted" then counts the records that would be
sent), without sending any contact: only the attribute definitions are
read. It writes the failures file only when --failures is given.

Accounting: every record read ends up in exactly one of upserted, failed and
not sent (read = upserted + failed + notSent). The failures file
(--failures) is created, or truncated, before anything is sent, and then
holds one JSON record per failed or not-sent record:
  {"line":N,"contactKey":K|null,"error":"...","status":"failed"|"notSent",
   "mayHaveApplied":true (failed without an answer: SFMC may have stored it),
   "input":"the original line"}  (or "inputBase64" when it is not UTF-8)
so it holds the profiles' data: keep it as safe as the input (a new file
gets mode 0600). For CSV, line is where the record starts and input is
the record's profile as an NDJSON line (or, for a row that does not parse,
its original text). Replay it with
  sfmc push --mapping FILE --input FAILURES --failures OTHER-FILE
push reads each failure record as the line it holds (the new records' line
numbers are lines of FAILURES). --failures must not name the input (or the
mapping) file.

At the end a summary: on stderr for a person, with the per-segment counts,
or with --json only this JSON on stdout: {"read","upserted","failed",
"segments":{ID:{"realized","existing","exited"}},"requests","retries",
"throttled","notSent","interrupted","stopReason","resumeLine",
"elapsedSeconds","failuresFile","failuresWritten","rate","warnings",
"dryRun","skipped","skippedAttributes"} (segments count upserted
records; stopReason and resumeLine are null unless the run stopped early;
resumeLine is the first input line not accounted for; rate is the pace at
the end, requests per second; warnings is a list of sentences; skipped
counts the upserted records --state skipped, skippedAttributes the values
it left out).

Change-only sending (--state FILE): the file (created when missing, on
bbolt) remembers per contact key a fingerprint of each value SFMC
confirmed, never the values. A contact whose values SFMC confirmed within
30 days is not sent (skipped: it counts as upserted), and only the changed
attributes of the others are (PATCH merges per attribute). A value is
remembered only after SFMC confirmed it, so a rerun after a crash or an
interrupt skips exactly what was confirmed and sends the rest. --full sends
every contact whole for one run and refreshes the file; deleting the file
resets it. A file that cannot be opened (in use by another push, not a
state file) is an error before anything is sent (exit 2); a file that fails
during the run makes push send contacts whole, warn to run the next push
with --full, and exit 1. A dry run does not read or change the file.

Progress (--progress): bar draws one live line on stderr that never
exceeds the terminal's width: percent and ETA (for a regular file, by
bytes), records read, upserted, failed and not sent, the send rate,
retries and throttling, and what the run waits for ("SFMC not answering
for 12 s, 353 retries", a block, the input); plain prints one line every
10 s instead (for CI and Kubernetes logs); auto (the default) is bar on a
terminal and plain otherwise; off prints none.

Pace: SFMC publishes no rate limit, so without --rate push finds the
tenant's pace itself (from 20 requests/s, faster while answers are clean,
slower on 429 and 503), and sizes the requests in flight from that pace and
the latency (up to --max-workers); --rate R makes R the most it sends, and
--workers N a fixed number in flight. A 429 with errorcode 50200 ("requests
temporarily blocked") pauses every request, for a growing time, probes one
request at a time until the block ends, and goes on at a lower pace: the
contacts wait (a warning says so); --fail-on-block stops the run instead.
REST refusing a freshly fetched token (a revoked or mis-scoped integration)
stops the run at once: exit 2.

At the end of the input push waits for every contact to get its outcome,
however long the rate or the tenant makes that. Ctrl-C stops reading and
gives the contacts already accepted up to --drain-timeout to finish; a
second Ctrl-C, or SIGTERM at any time (Kubernetes and systemd send it before
SIGKILL), stops at once: requests in flight are cut off (failed, may have
applied) and the contacts not yet sent are not sent. Either way the summary
and the failures file are written, with every record not sent listed.

Exit codes: 0 every record upserted; 1 some records failed or were not
sent, the run stopped early, it was interrupted (also while the
attributes load), or the --state file failed during the run; 2 usage,
configuration or authentication error (also when SFMC refuses the
credentials, the IP address or the integration in the middle of a run),
invalid mapping, unreadable input or one in another format, or unwritable
failures file, found before anything was sent.

Examples:
  sfmc push --mapping mapping.json --input profiles.ndjson --rate 200
  sfmc push --mapping mapping.json --input profiles.csv --dry-run
  sfmc push --mapping mapping.json --input daily.ndjson --state sfmc-state.db
`

// defaultDrainTimeout is how long push waits after an interrupt for the
// contacts already accepted (--drain-timeout).
const defaultDrainTimeout = 60 * time.Second

// defaultFailures is the default failures file (--failures).
const defaultFailures = "sfmc-failures.ndjson"

func runPush(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	mappingPath := fs.String("mapping", "", "the mapping `file` (JSON; required)")
	input := fs.String("input", "-", "the profiles `file` (NDJSON or CSV), or - for standard input")
	format := fs.String("format", "", "`ndjson|csv`: the input format (default: csv for *.csv files, else ndjson)")
	dryRun := fs.Bool("dry-run", false, "read, map and check every record against the tenant's attributes, print the summary, send no contact")
	workers := fs.Int("workers", 0, "a fixed number of concurrent requests (0: sized from the pace and the latency, up to --max-workers)")
	maxWorkers := fs.Int("max-workers", sfmc.DefaultMaxWorkers, "the most concurrent requests when --workers is 0")
	rate := fs.Float64("rate", 0, "send at most `R` requests per second (0: find the tenant's pace, starting at 20/s)")
	failOnBlock := fs.Bool("fail-on-block", false, "stop the run when SFMC blocks the requests (429, errorcode 50200) instead of pausing until the block ends")
	failures := fs.String("failures", defaultFailures, "the failure records `file` (NDJSON), created or truncated before anything is sent")
	drain := fs.Duration("drain-timeout", defaultDrainTimeout, "after Ctrl-C, how long the contacts already accepted get to finish (0: stop at once)")
	progressFlag := fs.String("progress", "auto", "`auto|bar|plain|off`: how to show the progress on stderr (auto: bar on a terminal, else plain)")
	asJSON := fs.Bool("json", false, "print only the summary JSON on stdout")
	statePath := fs.String("state", "", "change-only sending: the state `file` remembering what SFMC confirmed (created when missing); contacts SFMC already holds are skipped")
	full := fs.Bool("full", false, "with --state: send every contact whole this run, and record what SFMC confirms")
	lf := addLogFlags(fs, e)
	if done, code := parseFlags(fs, e, pushUsage, args); done {
		return code
	}
	failuresSet := false
	fs.Visit(func(f *flag.Flag) { failuresSet = failuresSet || f.Name == "failures" })
	inFormat, ferr := inputFormat(*format, *input)
	mode, perr := progressModeOf(*progressFlag)
	var bad error
	switch {
	case *mappingPath == "":
		bad = errors.New("--mapping FILE is required")
	case *failures == "":
		bad = errors.New("--failures FILE must name a file")
	case *workers < 0:
		bad = fmt.Errorf("--workers must be positive, or 0 to size the concurrency from the pace, got %d", *workers)
	case *maxWorkers < 1:
		bad = fmt.Errorf("--max-workers must be positive, got %d", *maxWorkers)
	case *rate < 0:
		bad = fmt.Errorf("--rate must be 0 (no limit) or positive, got %v", *rate)
	case *drain < 0:
		bad = fmt.Errorf("--drain-timeout must not be negative, got %v", *drain)
	case *full && *statePath == "":
		bad = errors.New("--full needs --state FILE (it sends everything and refreshes that file)")
	case ferr != nil:
		bad = ferr
	case perr != nil:
		bad = perr
	default:
		bad = lf.check()
	}
	if bad != nil {
		return usageError(e, "push", bad)
	}
	m, err := sfmc.ReadMappingFile(*mappingPath)
	if err != nil {
		return fail(e, "push", err)
	}
	in := e.stdin
	var inputSize int64
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return fail(e, "push", err)
		}
		defer f.Close()
		in = f
	}
	if err := checkPushFiles(in, *input, *mappingPath, *failures); err != nil {
		errorf(e, "push", "%v", err)
		return exitUsage
	}
	var state *boltstore.Store
	if *statePath != "" && !*dryRun {
		if err := checkStateFile(in, *statePath, *mappingPath, *failures); err != nil {
			errorf(e, "push", "%v", err)
			return exitUsage
		}
		st, err := boltstore.Open(*statePath)
		if err != nil {
			errorf(e, "push", "--state: %v; nothing was sent", err)
			return exitUsage
		}
		defer st.Close() // for the returns before push, which closes it (a second Close is a no-op error)
		state = st
	}
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			inputSize = st.Size()
		}
	}
	failuresPath := *failures
	if *dryRun && !failuresSet {
		failuresPath = "" // a dry run keeps the last run's failures file
	}
	con := &console{w: e.stderr}
	lf.out = redactWriter{con, e.getenv(envClientSecret)}
	conc := *maxWorkers
	if *workers > 0 {
		conc = *workers
	}
	extra := []sfmc.Option{sfmc.WithHTTPClient(httpClient(conc))}
	if *rate > 0 {
		// A burst of a few requests lets the limiter catch up when a timer
		// fires late; with a burst of 1 that time is lost (about 8% of the
		// rate, measured).
		extra = append(extra, sfmc.WithRateLimit(*rate, min(5, max(1, int(*rate/10)))))
	}
	c, err := newClient(e, lf, extra...)
	if err != nil {
		return fail(e, "push", err)
	}
	pm, warnings, code := compileMapping(ctx, e, "push", c, m)
	if pm == nil {
		return code
	}
	notify := redactWriter{con, e.getenv(envClientSecret)}
	for _, w := range warnings {
		fmt.Fprintln(notify, "sfmc push: warning:", w)
	}
	if *input == "-" && e.isTerm(e.stdin) {
		fmt.Fprintf(notify, "sfmc push: reading %s profiles from standard input (a terminal): end with Ctrl-D, or give --input FILE\n", strings.ToUpper(inFormat))
	}
	if mode == progressAuto {
		mode = progressPlain
		if e.isTerm(e.stderr) {
			mode = progressBar
		}
	}
	opts := pushOptions{workers: *workers, maxWorkers: *maxWorkers, failOnBlock: *failOnBlock,
		failuresPath: failuresPath, drainTimeout: *drain, hard: e.hard, notify: notify,
		format: inFormat, dryRun: *dryRun, warnings: warnings, inputSize: inputSize,
		progress: mode, console: con, width: terminalWidth(e), full: *full}
	if state != nil {
		opts.state, opts.statePath = state, *statePath
		opts.closeState = state.Close
	}
	s, err := push(ctx, c, m, pm, in, opts)
	if err != nil {
		return fail(e, "push", err)
	}
	return reportPush(e, s, *asJSON, false)
}

// checkPushFiles refuses an input that is a directory, and a failures file
// that is the input (or the mapping) file: push truncates the failures
// file before it reads anything. Files are compared by identity
// (os.SameFile: the same inode, whatever the path or link).
func checkPushFiles(in io.Reader, inputPath, mappingPath, failuresPath string) error {
	fi, err := os.Stat(failuresPath)
	if err != nil {
		fi = nil // does not exist yet (or cannot be read: openFailures will say)
	}
	name := inputPath
	if name == "-" {
		name = "standard input"
	}
	if f, ok := in.(*os.File); ok {
		st, err := f.Stat()
		if err == nil && st.IsDir() {
			return fmt.Errorf("--input %s is a directory, not a file of profiles", name)
		}
		if err == nil && fi != nil && os.SameFile(st, fi) {
			return fmt.Errorf("--failures %s is the input (%s): it would be truncated before it is read; name another file", failuresPath, name)
		}
	}
	if fi != nil {
		if st, err := os.Stat(mappingPath); err == nil && os.SameFile(st, fi) {
			return fmt.Errorf("--failures %s is the mapping file: it would be truncated; name another file", failuresPath)
		}
	}
	return nil
}

// checkStateFile refuses a --state file that is the input, the mapping or
// the failures file: opening it as a store could turn an empty one into a
// database, and a run would never read it as profiles again.
func checkStateFile(in io.Reader, statePath, mappingPath, failuresPath string) error {
	fi, err := os.Stat(statePath)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("--state %s is a directory; name a file (created when missing)", statePath)
	}
	if f, ok := in.(*os.File); ok && err == nil {
		if st, serr := f.Stat(); serr == nil && os.SameFile(st, fi) {
			return fmt.Errorf("--state %s is the input; name another file", statePath)
		}
	}
	for _, other := range [][2]string{{"--mapping", mappingPath}, {"--failures", failuresPath}} {
		// The same path, or the same file under another name: the
		// failures file may not exist yet.
		if samePath(statePath, other[1]) {
			return fmt.Errorf("--state %s is the %s file; name another file", statePath, other[0])
		}
		if st, serr := os.Stat(other[1]); err == nil && serr == nil && os.SameFile(st, fi) {
			return fmt.Errorf("--state %s is the %s file; name another file", statePath, other[0])
		}
	}
	return nil
}

// samePath reports whether a and b name the same path once made absolute
// and cleaned.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// compileMapping reads every page of the tenant's attribute sets, validates
// m against them and compiles it, and returns the mapping's warnings
// (Mapping.Warnings). On failure it prints why and returns nil and the exit
// code: 2 (nothing was sent), or 1 when it was interrupted.
func compileMapping(ctx context.Context, e *env, cmd string, c *sfmc.Client, m *sfmc.Mapping) (*sfmc.ProfileMapper, []string, int) {
	cat, err := c.AttributeSets.Catalog(ctx)
	if err != nil {
		if ctx.Err() != nil {
			errorf(e, cmd, "%s while reading the tenant's attributes; nothing was sent", interruptText(ctx))
			return nil, nil, exitFailed
		}
		return nil, nil, fail(e, cmd, err)
	}
	if err := m.Validate(cat); err != nil {
		errorf(e, cmd, "the mapping does not fit the tenant's attributes; nothing was sent:")
		for _, p := range problemsOf(err) {
			fmt.Fprintln(e.stderr, "  "+p)
		}
		return nil, nil, exitUsage
	}
	pm, err := m.Compile(cat)
	if err != nil {
		return nil, nil, fail(e, cmd, err)
	}
	return pm, m.Warnings(cat), exitOK
}

// interruptText says how ctx was interrupted: its cause, when it has one
// (main gives the signal), else "interrupted".
func interruptText(ctx context.Context) string {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	return "interrupted"
}

// reportPush prints the summary (JSON on stdout, or for a person on
// stderr, or on stdout for the demo) and returns the exit code.
func reportPush(e *env, s *summary, asJSON, demo bool) int {
	if asJSON {
		if s.StopReason != nil {
			fmt.Fprintln(e.stderr, "sfmc push: stopped early:", *s.StopReason)
		}
		if err := s.writeJSON(e.stdout); err != nil {
			return fail(e, "push", err)
		}
	} else {
		w := e.stderr
		if demo {
			w = e.stdout
		}
		s.writeHuman(w)
		s.writeSegmentTable(w)
	}
	switch {
	case s.authStop, s.inputStop:
		// The credentials, the IP allowlist or the integration were
		// refused, or the input is not in the format read: a setup
		// error, whatever was sent before.
		return exitUsage
	case !s.ok():
		return exitFailed
	}
	return exitOK
}

// pushOptions tunes push.
type pushOptions struct {
	workers      int             // fixed concurrency, or 0 to size it from the pace
	maxWorkers   int             // bound of the sized concurrency (0: the default)
	failOnBlock  bool            // a 50200 block stops the run
	failuresPath string          // created or truncated before anything is sent ("": none, for a dry run)
	drainTimeout time.Duration   // after an interrupt (ctx done), how long accepted contacts get
	hard         context.Context // when done: stop at once (nil: never)
	notify       io.Writer       // when set, warnings and what push does on an interrupt are said there
	format       string          // formatNDJSON ("" too) or formatCSV
	dryRun       bool            // map and check every record, send none
	warnings     []string        // the mapping's warnings, for the summary
	inputSize    int64           // bytes of the input when it is a regular file (0: unknown), for the progress
	progress     progressMode    // progressBar or progressPlain draw on console; others: none
	console      *console        // stderr, shared by the progress, warnings and logs
	width        func() int      // the terminal's width, for the progress bar (nil: 80)
	state        sfmc.SentStore  // change-only sending (--state), or nil
	statePath    string          // the --state file ("": none), which the failures file may not be
	closeState   func() error    // closes state once the Upserter is done (nil: nothing to close)
	full         bool            // --full: send everything, refresh state
}

// Segment status codes packed in a recTag, 2 bits per segment.
const (
	codeRealized = 1
	codeExisting = 2
	codeExited   = 3
)

// packedSegments is how many segments fit in recTag.segs.
const packedSegments = 32

// recTag travels with each contact through the Upserter (AddTagged) so that
// its outcome can be reported with the input line number and original
// line, and counted per segment status. Nothing per record outlives its
// outcome.
type recTag struct {
	line int64
	raw  string  // the original input line, for the failures file
	segs uint64  // status code of segment i in bits 2i..2i+1
	more []uint8 // status codes of segments beyond packedSegments
}

// sink is where push hands its contacts: an *sfmc.Upserter, or a
// dryRun that sends nothing.
type sink interface {
	AddTagged(ctx context.Context, c sfmc.Contact, tag any) error
	Close(ctx context.Context) error
	Stats() sfmc.UpserterStats
}

// dryRun is the sink of push --dry-run: every contact is validated as the
// Upserter would (Contact.Validate) and reported upserted at once,
// without a request.
type dryRun struct {
	onResult func(sfmc.Outcome)
	added    atomic.Int64
}

func (d *dryRun) AddTagged(_ context.Context, c sfmc.Contact, tag any) error {
	if err := c.Validate(); err != nil {
		return err
	}
	d.added.Add(1)
	d.onResult(sfmc.Outcome{Key: c.Key, Tag: tag})
	return nil
}

func (d *dryRun) Close(context.Context) error { return nil }

func (d *dryRun) Stats() sfmc.UpserterStats {
	n := d.added.Load()
	return sfmc.UpserterStats{Added: n, Succeeded: n}
}

// pusher holds the state of one push: counters updated by the reading loop
// and, concurrently, by the Upserter's OnResult.
type pusher struct {
	mapper   *sfmc.ProfileMapper
	identity []string
	segIDs   []string
	counts   []segmentCounter
	fails    *failureWriter
	closeCtx context.Context // cancelled (with a cause) when the drain is cut short
	csv      bool            // the input is CSV: no line is a failure record to replay

	read, upserted, failed, notSent atomic.Int64
	lastLine                        int64 // highest line number taken from the reader (reading goroutine)

	pendingMu sync.Mutex
	pending   map[int64]*recTag // accepted by the Upserter, outcome not yet reported

	problemMu sync.Mutex
	problem   string   // first fatal alert
	warnings  []string // every warning printed, in order, without repeats

	sources *sourceProbe // mapped sources seen in the first records (reading goroutine)

	authStop    atomic.Bool // the run stopped on credentials, the IP allowlist or a rejected integration
	stateBroken atomic.Bool // the --state file failed: the next run should be --full
	notify      io.Writer   // warnings go there, when set
	failOnBlock bool
}

// segmentCounter counts one segment's statuses among upserted records.
type segmentCounter struct{ realized, existing, exited atomic.Int64 }

// push streams profiles (NDJSON, or CSV when o.format says so) from in to
// SFMC through an Upserter (or nowhere, for a dry run) and returns the
// summary. It returns an error only when it cannot start (the failures
// file cannot be created): then nothing was read or sent.
//
// After the end of the input it waits for every contact's outcome. When
// ctx is done (an interrupt) it stops reading and gives the contacts
// accepted o.drainTimeout to finish; when o.hard is done it stops at once.
// Every record read is then accounted for: upserted, failed or not sent,
// the last two in the failures file.
func push(ctx context.Context, c *sfmc.Client, m *sfmc.Mapping, pm *sfmc.ProfileMapper, in io.Reader, o pushOptions) (*summary, error) {
	start := time.Now()
	var fails *failureWriter
	var err error
	if o.failuresPath == "" && o.dryRun {
		fails = discardFailures()
	} else if fails, err = openFailures(o.failuresPath, o.statePath); err != nil {
		return nil, err
	}
	hard := o.hard
	if hard == nil {
		hard = context.Background()
	}
	closeCtx, cutDrain := context.WithCancelCause(context.Background())
	defer cutDrain(nil)
	p := &pusher{
		mapper:   pm,
		identity: strings.Split(m.Identity, "."),
		fails:    fails,
		closeCtx: closeCtx,
		pending:  make(map[int64]*recTag),
		csv:      o.format == formatCSV,
		sources:  newSourceProbe(m),
	}
	for _, w := range o.warnings {
		p.addWarning(w)
	}
	for _, sg := range m.Segments {
		p.segIDs = append(p.segIDs, sg.SegmentID)
	}
	p.counts = make([]segmentCounter, len(p.segIDs))
	conc := o.workers
	if conc <= 0 {
		conc = cmp.Or(o.maxWorkers, sfmc.DefaultMaxWorkers)
	}
	p.notify, p.failOnBlock = o.notify, o.failOnBlock
	var up sink
	if o.dryRun {
		up = &dryRun{onResult: p.onResult}
	} else {
		u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{
			Workers:     o.workers,
			MaxWorkers:  o.maxWorkers,
			QueueSize:   max(64, 4*conc),
			FailOnBlock: o.failOnBlock,
			OnResult:    p.onResult,
			OnAlert:     p.onAlert,
			SentStore:   o.state,
			ResendAll:   o.full,
		})
		if err != nil {
			_ = fails.Close()
			return nil, err
		}
		up = u
	}
	ended := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchDrain(ctx, hard, ended, o.drainTimeout, cutDrain, func() {
			if o.notify == nil {
				return
			}
			st := up.Stats()
			if o.drainTimeout > 0 {
				fmt.Fprintf(o.notify, "sfmc push: %s: reading stopped; the %d contacts accepted get up to %v to finish (Ctrl-C again, or SIGTERM, stops at once)\n",
					interruptText(ctx), st.QueueDepth+st.InFlight, o.drainTimeout)
			} else {
				fmt.Fprintf(o.notify, "sfmc push: %s: stopping at once (--drain-timeout 0)\n", interruptText(ctx))
			}
		})
	}()

	var lr *lineReader
	if p.csv {
		lr = newCSVReader(in, maxLineBytes, m.Identity)
	} else {
		lr = newNDJSONReader(in)
	}
	var pr *progress
	if o.console != nil && (o.progress == progressBar || o.progress == progressPlain) {
		pr = startProgress(progressConfig{
			mode: o.progress, console: o.console, width: o.width, total: o.inputSize, dryRun: o.dryRun,
			sample: func() progressSample {
				eof, _ := lr.state()
				return progressSample{
					at: time.Now(), read: p.read.Load(), upserted: p.upserted.Load(), failed: p.failed.Load(), notSent: p.notSent.Load(),
					bytes: lr.consumed.Load(), eof: eof, stats: up.Stats(),
				}
			},
		})
	}
	stopErr := p.readAll(ctx, lr, up)
	rest := lr.Stop()
	eof, readErr := lr.state()
	var formatErr *inputFormatError
	inputStop := errors.As(readErr, &formatErr)
	if stopErr == nil && ctx.Err() == nil && readErr != nil {
		stopErr = readErr
		if !inputStop {
			stopErr = fmt.Errorf("reading the input: %w", readErr)
		}
	}
	reading := func() string {
		if ctx.Err() != nil {
			return interruptText(ctx)
		}
		if stopErr != nil {
			return stopErr.Error()
		}
		return "the run stopped"
	}
	for _, b := range rest {
		p.notSentBatch(b, 0, "read, but not processed before reading stopped ("+reading()+")")
		lr.Release(b)
	}
	p.sources.finish(p)

	// When cut short, every contact left gets an outcome.
	drainCut := up.Close(closeCtx) != nil
	close(ended)
	<-watched
	if o.closeState != nil {
		if err := o.closeState(); err != nil {
			p.stateFailed("the --state file failed to commit its last records: " + err.Error())
		}
	}
	interrupted := ctx.Err() != nil
	unreported := p.failUnreported()
	if pr != nil {
		pr.stop()
	}
	ferr := fails.Close()
	written, lost, firstLost := fails.counts()

	st := up.Stats()
	s := &summary{
		Read: p.read.Load(), Upserted: p.upserted.Load(), Failed: p.failed.Load(), NotSent: p.notSent.Load(),
		Requests: st.Requests, Retries: st.Retried, Throttled: st.Throttled, Rate: math.Round(st.Rate*10) / 10,
		Skipped: st.Skipped, SkippedAttributes: st.SkippedAttributes,
		Interrupted:  interrupted,
		authStop:     p.authStop.Load(),
		inputStop:    inputStop,
		elapsed:      time.Since(start),
		FailuresFile: o.failuresPath, FailuresWritten: written, failuresLost: lost,
		DryRun:      o.dryRun,
		stateFailed: p.stateBroken.Load(),
	}
	s.ElapsedSeconds = s.elapsed.Seconds()
	s.Segments = make(map[string]*segmentCounts, len(p.segIDs))
	for i, id := range p.segIDs {
		s.segmentOrder = append(s.segmentOrder, id)
		s.mappingIDs = append(s.mappingIDs, m.Segments[i].MappingID)
		s.Segments[id] = &segmentCounts{
			Realized: p.counts[i].realized.Load(),
			Existing: p.counts[i].existing.Load(),
			Exited:   p.counts[i].exited.Load(),
		}
	}
	var reasons []string
	if interrupted {
		reasons = append(reasons, interruptText(ctx))
	}
	if drainCut {
		reasons = append(reasons, context.Cause(closeCtx).Error())
	}
	if stopErr != nil {
		reasons = append(reasons, stopErr.Error())
	}
	p.problemMu.Lock()
	if p.problem != "" && (stopErr == nil || !strings.Contains(stopErr.Error(), p.problem)) {
		reasons = append(reasons, p.problem)
	}
	s.Warnings = append([]string{}, p.warnings...)
	p.problemMu.Unlock()
	if unreported > 0 {
		reasons = append(reasons, fmt.Sprintf("%d accepted contacts got no outcome from the upserter", unreported))
	}
	if ferr != nil {
		reasons = append(reasons, fmt.Sprintf("%v (%d records not written)", ferr, lost))
	}
	if len(reasons) > 0 {
		r := strings.Join(slices.Compact(reasons), "; ")
		s.StopReason = &r
	}
	var resume int64
	if !eof {
		resume = p.lastLine + 1
	}
	if firstLost > 0 && (resume == 0 || firstLost < resume) {
		resume = firstLost
	}
	if resume > 0 {
		s.ResumeLine = &resume
	}
	return s, nil
}

// failUnreported fails the contacts accepted whose outcome the Upserter
// did not report by the time Close returned (it promises them all), as
// "may have applied", and returns how many there were. A late outcome is
// then ignored.
func (p *pusher) failUnreported() int {
	p.pendingMu.Lock()
	left := p.pending
	p.pending = nil
	p.pendingMu.Unlock()
	lines := make([]int64, 0, len(left))
	for line := range left {
		lines = append(lines, line)
	}
	slices.Sort(lines)
	for _, line := range lines {
		p.failed.Add(1)
		r := &failureRecord{Line: line, Status: statusFailed, MayHaveApplied: true,
			Error: "no outcome was reported before the upserter closed: SFMC may have applied it"}
		r.setInput([]byte(left[line].raw))
		p.fails.Write(r)
	}
	return len(lines)
}

// watchDrain cuts the drain short: at once when hard is done, or
// drainTimeout after ctx is done (an interrupt, during reading or during
// the drain after the end of the input); onInterrupt is called when the
// interrupt is seen. It returns when ended is closed.
func watchDrain(ctx, hard context.Context, ended <-chan struct{}, drainTimeout time.Duration, cut context.CancelCauseFunc, onInterrupt func()) {
	stopAtOnce := func() {
		why := "stopped at once"
		if err := context.Cause(hard); err != nil && !errors.Is(err, context.Canceled) {
			why = err.Error()
		}
		cut(errors.New(why))
	}
	select {
	case <-ended:
		return
	case <-hard.Done():
		stopAtOnce()
		return
	case <-ctx.Done():
	}
	if hard.Err() != nil {
		stopAtOnce()
		return
	}
	onInterrupt()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-ended:
	case <-hard.Done():
		stopAtOnce()
	case <-t.C:
		cut(fmt.Errorf("%s, and the --drain-timeout of %v ran out", interruptText(ctx), drainTimeout))
	}
}

// readAll reads, maps and adds every line until the input ends, ctx is done
// (interrupted) or the run must stop (the error says why). Lines taken from
// the reader and not handled are reported not sent.
func (p *pusher) readAll(ctx context.Context, lr *lineReader, up sink) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-lr.batches:
			if !ok {
				return nil
			}
			if n := len(b.lines); n > 0 {
				p.lastLine = b.lines[n-1].last()
			}
			for i, l := range b.lines {
				if ctx.Err() != nil {
					p.notSentBatch(b, i, "read, but not processed before the "+interruptText(ctx))
					lr.Release(b)
					return nil
				}
				if p.fails.Broken() {
					err := errors.New("the failures file cannot be written")
					p.notSentBatch(b, i, "read, but not processed: "+err.Error())
					lr.Release(b)
					return err
				}
				if err := p.handle(ctx, up, b, l); err != nil {
					if ctx.Err() != nil {
						p.notSentBatch(b, i+1, "read, but not processed before the "+interruptText(ctx))
						lr.Release(b)
						return nil
					}
					p.notSentBatch(b, i+1, "read, but not processed: the run stopped: "+err.Error())
					lr.Release(b)
					return err
				}
			}
			lr.Release(b)
		}
	}
}

// notSentBatch reports the lines of b from index i on as not sent (blank
// lines are no records; a line too long is failed as always).
func (p *pusher) notSentBatch(b *lineBatch, i int, why string) {
	for _, l := range b.lines[i:] {
		if n := l.last(); n > p.lastLine {
			p.lastLine = n
		}
		if l.tooLong > 0 || l.err != "" {
			p.readFailed(b, l)
			continue
		}
		line := b.line(l)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p.read.Add(1)
		raw, prof, err := decodeLine(line, !p.csv)
		var key *string
		if err == nil {
			key = identityOf(prof, p.identity)
		}
		p.recordNotSent(l.num, key, raw, "not sent: "+why)
	}
}

// decodeLine decodes an input line. With records, a failure record from an
// earlier run stands for the line it holds: raw is that line (else line
// itself), prof its profile. A failure record without its line is an error
// with raw nil.
func decodeLine(line []byte, records bool) (raw []byte, prof map[string]any, err error) {
	prof, err = sfmc.DecodeProfile(line)
	if err != nil || !records {
		return line, prof, err
	}
	orig, isRecord, err := failureRecordInput(prof)
	switch {
	case err != nil:
		return nil, nil, err
	case !isRecord:
		return line, prof, nil
	}
	prof, err = sfmc.DecodeProfile(orig)
	return orig, prof, err
}

func tooLongText(n int64) string {
	return fmt.Sprintf("line is %d bytes long; the longest accepted is %d bytes (the line is not kept)", n, maxLineBytes)
}

// readFailed counts a record the reader already found unusable (too long,
// or a CSV row that does not parse) as read and failed.
func (p *pusher) readFailed(b *lineBatch, l lineRef) {
	p.read.Add(1)
	if l.tooLong > 0 {
		p.recordFailed(l.num, nil, nil, tooLongText(l.tooLong))
		return
	}
	p.recordFailed(l.num, l.key, b.line(l), l.err)
}

// handle processes one input line. It returns an error only when reading
// must stop (the Upserter refuses every further contact, or ctx is done);
// the line itself is accounted for either way.
func (p *pusher) handle(ctx context.Context, up sink, b *lineBatch, l lineRef) error {
	if l.tooLong > 0 || l.err != "" {
		p.readFailed(b, l)
		return nil
	}
	line := b.line(l)
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	p.read.Add(1)
	raw, prof, err := decodeLine(line, !p.csv)
	if err != nil {
		msg := err.Error()
		if raw != nil && !errors.Is(err, sfmc.ErrInvalidUTF8) {
			msg = "not a JSON object: " + msg
		}
		p.recordFailed(l.num, nil, raw, msg)
		return nil
	}
	p.sources.see(p, prof)
	contact, statuses, err := p.mapper.Map(prof)
	if err != nil {
		p.recordFailed(l.num, identityOf(prof, p.identity), raw, err.Error())
		return nil
	}
	tag := &recTag{line: l.num, raw: string(raw)}
	if len(statuses) > 0 {
		for i, id := range p.segIDs {
			st, ok := statuses[id]
			if !ok {
				continue
			}
			code := statusCode(st)
			if i < packedSegments {
				tag.segs |= uint64(code) << (2 * i)
				continue
			}
			if tag.more == nil {
				tag.more = make([]uint8, len(p.segIDs)-packedSegments)
			}
			tag.more[i-packedSegments] = code
		}
	}
	// In pending before AddTagged: the outcome may come before it returns.
	p.pendingMu.Lock()
	p.pending[l.num] = tag
	p.pendingMu.Unlock()
	if err := up.AddTagged(ctx, contact, tag); err != nil {
		p.pendingMu.Lock()
		delete(p.pending, l.num)
		p.pendingMu.Unlock()
		key := contact.Key
		if errors.Is(err, sfmc.ErrInvalidContact) {
			p.recordFailed(l.num, &key, raw, err.Error())
			return nil
		}
		msg := "not sent: " + err.Error()
		if ctx.Err() != nil {
			msg = "not sent: " + interruptText(ctx) + " before it was queued"
		}
		p.recordNotSent(l.num, &key, raw, msg)
		return err
	}
	return nil
}

func statusCode(s sfmc.SegmentStatus) uint8 {
	switch s {
	case sfmc.StatusRealized:
		return codeRealized
	case sfmc.StatusExisting:
		return codeExisting
	case sfmc.StatusExited:
		return codeExited
	}
	return 0
}

// recordFailed counts a failed record and writes its failure record; raw
// is its original line (nil: not kept).
func (p *pusher) recordFailed(line int64, key *string, raw []byte, msg string) {
	p.failed.Add(1)
	r := &failureRecord{Line: line, ContactKey: key, Error: msg, Status: statusFailed}
	r.setInput(raw)
	p.fails.Write(r)
}

// recordNotSent counts a record that was never sent and writes its failure
// record.
func (p *pusher) recordNotSent(line int64, key *string, raw []byte, msg string) {
	p.notSent.Add(1)
	r := &failureRecord{Line: line, ContactKey: key, Error: msg, Status: statusNotSent}
	r.setInput(raw)
	p.fails.Write(r)
}

// onResult is the Upserter's OnResult: it runs on the workers. An outcome
// without any request made (Attempts 0, no unanswered attempt) is "not
// sent"; an error otherwise is "failed", and may have been applied when an
// attempt got no answer or the request was cut off by the stop.
func (p *pusher) onResult(o sfmc.Outcome) {
	tag, _ := o.Tag.(*recTag)
	if tag == nil {
		return
	}
	p.pendingMu.Lock()
	_, ok := p.pending[tag.line]
	delete(p.pending, tag.line)
	p.pendingMu.Unlock()
	if !ok {
		return // already accounted for (after Close returned)
	}
	if o.Err != nil {
		key := o.Key
		unknown := errors.Is(o.Err, sfmc.ErrOutcomeUnknown)
		msg := o.Err.Error()
		cut := errors.Is(o.Err, sfmc.ErrClosed) && p.closeCtx.Err() != nil
		if cut {
			msg = context.Cause(p.closeCtx).Error() + " (" + msg + ")"
		}
		if o.Attempts == 0 && !unknown {
			if !cut {
				msg = "the upserter stopped before sending it: " + msg
			}
			p.recordNotSent(tag.line, &key, []byte(tag.raw), "not sent: "+msg)
			return
		}
		// A request cut off by the stop may have been applied even when the
		// client saw no sign of it (the answer can arrive as the context
		// ends, and is then dropped): say so.
		if cut && !unknown {
			unknown = true
			msg += " (SFMC may have applied it: the request was in flight)"
		}
		p.failed.Add(1)
		r := &failureRecord{Line: tag.line, ContactKey: &key, Error: msg, Status: statusFailed, MayHaveApplied: unknown}
		r.setInput([]byte(tag.raw))
		p.fails.Write(r)
		return
	}
	p.upserted.Add(1)
	for i := range p.segIDs {
		var code uint8
		if i < packedSegments {
			code = uint8(tag.segs>>(2*i)) & 3
		} else if tag.more != nil {
			code = tag.more[i-packedSegments]
		}
		switch code {
		case codeRealized:
			p.counts[i].realized.Add(1)
		case codeExisting:
			p.counts[i].existing.Add(1)
		case codeExited:
			p.counts[i].exited.Add(1)
		}
	}
}

// onAlert keeps the first alert that stops the run (credentials, IP
// allowlist, the integration rejected, a block with --fail-on-block) for the
// summary, with what to do; the others (a block the client waits out,
// shared state lost) are warnings on stderr.
func (p *pusher) onAlert(a sfmc.Alert) {
	msg := a.Message
	if adv := advice(a.Err); adv != "" {
		msg += " — " + adv
	}
	switch a.Kind {
	case sfmc.AlertFailureRatio:
		return
	case sfmc.AlertInvalidCredentials, sfmc.AlertIPNotAllowlisted, sfmc.AlertUnauthorized:
		p.authStop.Store(true)
	case sfmc.AlertBlocked:
		if !p.failOnBlock {
			p.warn(msg)
			return
		}
	case sfmc.AlertSentStoreUnavailable:
		p.stateFailed(msg)
		return
	default:
		p.warn(msg)
		return
	}
	p.problemMu.Lock()
	if p.problem == "" {
		p.problem = msg
	}
	p.problemMu.Unlock()
}

// stateFailed notes that the --state file failed: the run goes on (every
// contact it cannot check is sent whole) but ends with exit code 1, and the
// file may say SFMC holds values it no longer does, so the next run should
// send everything.
func (p *pusher) stateFailed(msg string) {
	p.stateBroken.Store(true)
	p.warn(msg + " — run the next push with --full")
}

// warn prints a condition the run goes on through, and keeps it for the
// summary.
func (p *pusher) warn(msg string) {
	p.addWarning(msg)
	if p.notify != nil {
		fmt.Fprintln(p.notify, "sfmc push: warning:", msg)
	}
}

// addWarning keeps msg for the summary, once.
func (p *pusher) addWarning(msg string) {
	p.problemMu.Lock()
	defer p.problemMu.Unlock()
	if !slices.Contains(p.warnings, msg) {
		p.warnings = append(p.warnings, msg)
	}
}

// identityOf returns the contact key found at path in a profile, exactly
// as it is (never trimmed), for failure records of lines that could not be
// mapped; nil when there is none. An array of {"id","primary"} objects
// yields the primary (else the first) id, as the mapping does.
func identityOf(profile map[string]any, path []string) *string {
	var v any = profile
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	if arr, ok := v.([]any); ok {
		v = nil
		for _, el := range arr {
			m, _ := el.(map[string]any)
			if m == nil || m["id"] == nil {
				continue
			}
			if v == nil {
				v = m["id"]
			}
			if prim, _ := m["primary"].(bool); prim {
				v = m["id"]
				break
			}
		}
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return nil
	}
	if s == "" {
		return nil
	}
	return &s
}

// sourceProbeRecords is how many records the absent-source check reads.
const sourceProbeRecords = 1000

// sourceProbe finds mapped sources absent from every one of the first
// sourceProbeRecords records: a typo in the mapping (person.name.firstname
// for person.name.firstName) that validation cannot see, since the
// tenant's attributes say nothing of the profiles. It runs on the reading
// goroutine.
type sourceProbe struct {
	sources []probedSource
	seen    int  // records looked at
	done    bool // the warnings were given
}

// probedSource is one mapped source under watch.
type probedSource struct {
	source, target string
	path           []string
	found          bool   // present (even null) in a record
	nearest        string // the same path in other letter cases, seen in a record
}

func newSourceProbe(m *sfmc.Mapping) *sourceProbe {
	sp := &sourceProbe{}
	for _, a := range m.Attributes {
		sp.sources = append(sp.sources, probedSource{source: a.Source, target: a.Target, path: strings.Split(a.Source, ".")})
	}
	return sp
}

// see looks at one more decoded profile.
func (sp *sourceProbe) see(p *pusher, prof map[string]any) {
	if sp.done {
		return
	}
	for i := range sp.sources {
		s := &sp.sources[i]
		if s.found {
			continue
		}
		if _, ok := lookup(prof, s.path, false); ok {
			s.found = true
		} else if s.nearest == "" {
			if path, ok := lookup(prof, s.path, true); ok {
				s.nearest = path.(string)
			}
		}
	}
	if sp.seen++; sp.seen >= sourceProbeRecords {
		sp.finish(p)
	}
}

// finish warns of every source not found in the records seen (at the
// sourceProbeRecords-th record, or at the end of a shorter input).
func (sp *sourceProbe) finish(p *pusher) {
	if sp.done {
		return
	}
	sp.done = true
	if sp.seen == 0 {
		return
	}
	which := fmt.Sprintf("every one of the first %d records", sp.seen)
	if sp.seen < sourceProbeRecords {
		which = fmt.Sprintf("all %d records read", sp.seen)
		if sp.seen == 1 {
			which = "the only record read"
		}
	}
	for _, s := range sp.sources {
		if s.found {
			continue
		}
		msg := fmt.Sprintf("mapped source %q (target %q) is absent from %s: %q is never written; check the source's spelling", s.source, s.target, which, s.target)
		if s.nearest != "" {
			msg += fmt.Sprintf(" (the records have %q)", s.nearest)
		}
		p.warn(msg)
	}
}

// lookup follows path through the nested objects of prof. It returns the
// value found, or with fold (letter case ignored) the path as the profile
// spells it, when that differs from path.
func lookup(prof map[string]any, path []string, fold bool) (any, bool) {
	var v any = prof
	spelled := make([]string, 0, len(path))
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; ok {
			spelled = append(spelled, k)
			continue
		}
		if !fold {
			return nil, false
		}
		found := false
		for name, val := range m {
			if strings.EqualFold(name, k) {
				v, found = val, true
				spelled = append(spelled, name)
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	if fold {
		p := strings.Join(spelled, ".")
		if p == strings.Join(path, ".") {
			return nil, false
		}
		return p, true
	}
	return v, true
}
