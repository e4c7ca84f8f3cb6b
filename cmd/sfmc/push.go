package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfmc-go/sfmc"
)

const pushUsage = `Usage: sfmc push --mapping FILE [--input FILE|-] [--workers N] [--rate R] [--failures FILE] [--json]

Streams NDJSON profiles (one JSON object per line, read line by line, never
all at once), maps each one with the mapping file and upserts the contacts.
The mapping is validated against the tenant's attributes (every page) first:
when it has problems they are printed, nothing is sent, and the exit code is
2 (a configuration error).

A line that cannot be used (not JSON, no contact key, a value longer than
its attribute, an unknown segment status, longer than 16 MiB) and a contact
SFMC refuses become failure records {"line":N,"contactKey":...,"error":...}
in the failures file, created only when something failed; the rest go on.
Blank lines are skipped.

At the end a summary: on stderr for a person, or with --json only this JSON
on stdout: {"read","upserted","failed","segments":{ID:{"realized","existing",
"exited"}},"requests","retries","throttled"} (segments count upserted
records). On a terminal stderr shows a live progress bar.

Ctrl-C stops reading, lets the contacts already accepted finish (up to 60 s),
writes the summary and the failures, and exits 1.

Exit codes: 0 every record upserted; 1 some records failed or interrupted;
2 usage, configuration, authentication error or invalid mapping.

Example:
  sfmc push --mapping mapping.json --input profiles.ndjson --workers 16 --rate 200
`

// closeTimeout bounds how long push waits, at the end or after Ctrl-C, for
// the contacts already accepted to be sent.
const closeTimeout = 60 * time.Second

func runPush(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	mappingPath := fs.String("mapping", "", "mapping `file` (JSON; required)")
	input := fs.String("input", "-", "NDJSON profiles `file`, or - for stdin")
	workers := fs.Int("workers", sfmc.DefaultUpserterWorkers, "concurrent requests")
	rate := fs.Float64("rate", 0, "client-side limit in requests per `second` (0: none)")
	failures := fs.String("failures", "sfmc-failures.ndjson", "failure records `file` (NDJSON), created only when something fails")
	asJSON := fs.Bool("json", false, "print only the summary JSON on stdout")
	if done, code := parseFlags(fs, e, pushUsage, args); done {
		return code
	}
	switch {
	case *mappingPath == "":
		errorf(e, "push", "--mapping FILE is required")
		return exitUsage
	case *workers < 0:
		errorf(e, "push", "--workers must be positive, got %d", *workers)
		return exitUsage
	case *rate < 0:
		errorf(e, "push", "--rate must be 0 (no limit) or positive, got %v", *rate)
		return exitUsage
	}
	m, err := sfmc.ReadMappingFile(*mappingPath)
	if err != nil {
		return fail(e, "push", err)
	}
	in := e.stdin
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return fail(e, "push", err)
		}
		defer f.Close()
		in = f
	}
	extra := []sfmc.Option{sfmc.WithHTTPClient(httpClient(max(*workers, sfmc.DefaultUpserterWorkers)))}
	if *rate > 0 {
		// A burst of a few requests lets the limiter catch up when a timer
		// fires late; with a burst of 1 that time is lost (about 8% of the
		// rate, measured).
		extra = append(extra, sfmc.WithRateLimit(*rate, min(5, max(1, int(*rate/10)))))
	}
	c, err := newClient(e, extra...)
	if err != nil {
		return fail(e, "push", err)
	}
	pm, code := compileMapping(ctx, e, "push", c, m)
	if pm == nil {
		return code
	}
	opts := pushOptions{workers: *workers, failuresPath: *failures}
	if !*asJSON && isTerminal(e.stderr) {
		opts.progress = e.stderr
	}
	s, err := push(ctx, c, m, pm, in, opts)
	if err != nil {
		return fail(e, "push", err)
	}
	return reportPush(e, s, *asJSON, false)
}

// compileMapping reads every page of the tenant's attribute sets, validates
// m against them and compiles it. On failure it prints why and returns nil
// and the exit code (2: nothing was sent).
func compileMapping(ctx context.Context, e *env, cmd string, c *sfmc.Client, m *sfmc.Mapping) (*sfmc.ProfileMapper, int) {
	cat, err := c.AttributeSets.Catalog(ctx)
	if err != nil {
		return nil, fail(e, cmd, err)
	}
	if err := m.Validate(cat); err != nil {
		errorf(e, cmd, "the mapping does not fit the tenant's attributes; nothing was sent:")
		var ve *sfmc.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				fmt.Fprintln(e.stderr, "  "+p)
			}
		} else {
			fmt.Fprintln(e.stderr, "  "+err.Error())
		}
		return nil, exitUsage
	}
	pm, err := m.Compile(cat)
	if err != nil {
		return nil, fail(e, cmd, err)
	}
	return pm, exitOK
}

// reportPush prints the summary (JSON on stdout, or for a person on
// stderr, or on stdout for the demo) and returns the exit code.
func reportPush(e *env, s *summary, asJSON, demo bool) int {
	if asJSON {
		if s.problem != "" {
			fmt.Fprintln(e.stderr, "sfmc push: stopped early:", s.problem)
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
		if demo {
			s.writeSegmentTable(w)
		}
	}
	if s.Failed > 0 || s.interrupted || s.problem != "" {
		return exitFailed
	}
	return exitOK
}

// pushOptions tunes push.
type pushOptions struct {
	workers      int
	failuresPath string
	progress     io.Writer // when set, a live progress bar is drawn there
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
// its outcome can be reported with the input line number and counted per
// segment status. Nothing per record outlives its outcome.
type recTag struct {
	line int64
	segs uint64  // status code of segment i in bits 2i..2i+1
	more []uint8 // status codes of segments beyond packedSegments
}

// pusher holds the state of one push: counters updated by the reading loop
// and, concurrently, by the Upserter's OnResult.
type pusher struct {
	mapper   *sfmc.ProfileMapper
	identity []string
	segIDs   []string
	counts   []segmentCounter
	fails    *failureWriter

	read, upserted, failed atomic.Int64

	problemMu sync.Mutex
	problem   string // first fatal alert
}

// segmentCounter counts one segment's statuses among upserted records.
type segmentCounter struct{ realized, existing, exited atomic.Int64 }

// push streams NDJSON profiles from in to SFMC through an Upserter and
// returns the summary. It returns an error only when it cannot start.
func push(ctx context.Context, c *sfmc.Client, m *sfmc.Mapping, pm *sfmc.ProfileMapper, in io.Reader, o pushOptions) (*summary, error) {
	p := &pusher{
		mapper:   pm,
		identity: strings.Split(m.Identity, "."),
		fails:    &failureWriter{path: o.failuresPath},
	}
	for _, sg := range m.Segments {
		p.segIDs = append(p.segIDs, sg.ID)
	}
	p.counts = make([]segmentCounter, len(p.segIDs))
	workers := o.workers
	if workers <= 0 {
		workers = sfmc.DefaultUpserterWorkers
	}
	up, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{
		Workers:   workers,
		QueueSize: max(64, 4*workers),
		OnResult:  p.onResult,
		OnAlert:   p.onAlert,
	})
	if err != nil {
		return nil, err
	}
	var bar *progress
	if o.progress != nil {
		bar = startProgress(o.progress, p, up)
	}

	s := &summary{failuresPath: o.failuresPath}
	lr := newLineReader(in)
	interrupted, stopErr := p.readAll(ctx, lr, up)
	lr.Stop()
	if stopErr == nil && lr.err != nil && !interrupted {
		stopErr = fmt.Errorf("reading input: %w", lr.err)
	}

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	_ = up.Close(closeCtx) // on timeout every remaining contact gets a failure outcome
	cancel()
	if bar != nil {
		bar.stop()
	}
	ferr := p.fails.Close()

	st := up.Stats()
	s.Read, s.Upserted, s.Failed = p.read.Load(), p.upserted.Load(), p.failed.Load()
	s.Requests, s.Retries, s.Throttled = st.Requests, st.Retried, st.Throttled
	s.interrupted = interrupted
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
	var problems []string
	if stopErr != nil {
		problems = append(problems, stopErr.Error())
	}
	p.problemMu.Lock()
	if p.problem != "" && (stopErr == nil || !strings.Contains(stopErr.Error(), p.problem)) {
		problems = append(problems, p.problem)
	}
	p.problemMu.Unlock()
	if ferr != nil {
		problems = append(problems, ferr.Error())
	}
	s.problem = strings.Join(problems, "; ")
	return s, nil
}

// readAll reads, maps and adds every line until the input ends, ctx is done
// (interrupted) or the Upserter refuses more (stopErr).
func (p *pusher) readAll(ctx context.Context, lr *lineReader, up *sfmc.Upserter) (interrupted bool, stopErr error) {
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case b, ok := <-lr.batches:
			if !ok {
				return false, nil
			}
			for _, l := range b.lines {
				if ctx.Err() != nil {
					return true, nil
				}
				if err := p.handle(ctx, up, b, l); err != nil {
					if ctx.Err() != nil {
						return true, nil
					}
					return false, err
				}
			}
			lr.Release(b)
		}
	}
}

// handle processes one input line. It returns an error only when reading
// must stop (the Upserter refuses every further contact, or ctx is done).
func (p *pusher) handle(ctx context.Context, up *sfmc.Upserter, b *lineBatch, l lineRef) error {
	if l.tooLong > 0 {
		p.read.Add(1)
		p.fail(l.num, nil, fmt.Sprintf("line is %d bytes long; the longest accepted is %d bytes", l.tooLong, maxLineBytes))
		return nil
	}
	line := b.line(l)
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	p.read.Add(1)
	prof, err := sfmc.DecodeProfile(line)
	if err != nil {
		p.fail(l.num, nil, "not a JSON object: "+err.Error())
		return nil
	}
	contact, statuses, err := p.mapper.Map(prof)
	if err != nil {
		p.fail(l.num, identityOf(prof, p.identity), err.Error())
		return nil
	}
	tag := recTag{line: l.num}
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
	if err := up.AddTagged(ctx, contact, tag); err != nil {
		key := contact.Key
		msg := "not sent: " + err.Error()
		if ctx.Err() != nil {
			msg = "not sent: interrupted before it was queued (" + err.Error() + ")"
		}
		p.fail(l.num, &key, msg)
		if errors.Is(err, sfmc.ErrInvalidContact) {
			return nil
		}
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

// fail records a failed line.
func (p *pusher) fail(line int64, key *string, msg string) {
	p.failed.Add(1)
	p.fails.Write(line, key, msg)
}

// onResult is the Upserter's OnResult: it runs on the workers.
func (p *pusher) onResult(o sfmc.Outcome) {
	tag, _ := o.Tag.(recTag)
	if o.Err != nil {
		key := o.Key
		p.fail(tag.line, &key, o.Err.Error())
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
// allowlist, blocked) for the summary, with what to do.
func (p *pusher) onAlert(a sfmc.Alert) {
	if a.Kind == sfmc.AlertFailureRatio {
		return
	}
	msg := a.Message
	if adv := advice(a.Err); adv != "" {
		msg += " — " + adv
	}
	p.problemMu.Lock()
	if p.problem == "" {
		p.problem = msg
	}
	p.problemMu.Unlock()
}

// identityOf returns the contact key found at path in a profile, for
// failure records of lines that could not be mapped; nil when there is
// none. An array of {"id","primary"} objects yields the primary (else the
// first) id, as the mapping does.
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
		s = strings.TrimSpace(x)
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
