package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runWith runs the command line with stdin and a hard-stop context.
func runWith(ctx, hard context.Context, getenv func(string) string, stdin io.Reader, args ...string) result {
	var out, errOut syncBuffer
	code := runEnv(ctx, &env{getenv: getenv, stdin: stdin, stdout: &out, stderr: &errOut, hard: hard}, args)
	return result{code, out.String(), errOut.String()}
}

// inputOf returns the original line a failure record holds.
func inputOf(t testing.TB, r failureRecord) []byte {
	t.Helper()
	switch {
	case r.Input != nil:
		require.Nil(t, r.InputBase64, "line %d: input and inputBase64", r.Line)
		return []byte(*r.Input)
	case r.InputBase64 != nil:
		return r.InputBase64
	}
	t.Fatalf("line %d: the failure record holds no input line", r.Line)
	return nil
}

// byLine indexes failure records by line, checking each line is there once.
func byLine(t testing.TB, recs []failureRecord) map[int64]failureRecord {
	t.Helper()
	out := map[int64]failureRecord{}
	for _, r := range recs {
		_, dup := out[r.Line]
		require.False(t, dup, "line %d reported twice", r.Line)
		out[r.Line] = r
	}
	return out
}

// profileLine returns one profile line with key (a JSON value) and email.
func profileLine(key, extra string) string {
	return `{"identityMap":{"contactKey":` + key + `}` + extra + `,"personalEmail":{"address":"x@example.com"}}`
}

// integrityLines is an input with a BOM, invalid UTF-8 in keys, values and
// outside JSON, a surrogate escape, and keys with surrounding whitespace.
func integrityLines(t testing.TB) []string {
	good := strings.Split(strings.TrimSpace(profilesNDJSON(t, 10)), "\n")
	return []string{
		"\xef\xbb\xbf" + good[0], // 1: BOM, skipped: DEMO-0000001 is stored
		`{"identityMap":{"contactKey":[{"id":"M` + "\xfc" + `ller-1","primary":true}]},"personalEmail":{"address":"a@example.com"}}`, // 2: Latin-1 Müller
		`{"identityMap":{"contactKey":[{"id":"M` + "\xe4" + `ller-1","primary":true}]},"personalEmail":{"address":"b@example.com"}}`, // 3: Latin-1 Mäller
		profileLine(`"K-4"`, `,"person":{"name":{"lastName":"M`+"\xe4"+`ller"}}`),                                                    // 4: Latin-1 value
		profileLine(`"  K 16  "`, ""),                                     // 5: key with spaces
		profileLine(`"K-6"`, `,"person":{"name":{"firstName":"\ud800"}}`), // 6: lone surrogate escape
		"not json \xff", // 7
		good[7] + "\r",  // 8: CRLF: DEMO-0000008 is stored
		`{"identityMap":{"contactKey":[{"id":"K-9 ","primary":true}]},"personalEmail":{"address":"f@example.com"}}`, // 9
		"\xef\xbb\xbf" + good[9], // 10: a BOM inside the input is data
	}
}

// Issue 12, items 1, 2, 5 and 7 through the CLI: every bad line is a
// failure record naming the line and the field, holding the line exactly;
// nothing is stored changed.
func TestPushInvalidTextBOMAndKeys(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	lines := integrityLines(t)
	input := writeFile(t, "in.ndjson", strings.Join(lines, "\n")+"\n")
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()),
		"--input", input, "--failures", failures, "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 10, s.Read)
	assert.EqualValues(t, 2, s.Upserted)
	assert.EqualValues(t, 8, s.Failed)
	assert.Zero(t, s.NotSent)
	assert.Nil(t, s.StopReason)
	assert.Nil(t, s.ResumeLine, "the whole input is accounted for")
	assert.EqualValues(t, 8, s.FailuresWritten)
	fi, err := os.Stat(failures)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it holds the profiles' data")

	var keys []string
	for _, c := range srv.Contacts() {
		keys = append(keys, c.Key)
	}
	assert.Equal(t, []string{"DEMO-0000001", "DEMO-0000008"}, keys, "nothing else stored, nothing merged")

	recs := byLine(t, readFailures(t, failures))
	want := []struct {
		line  int64
		key   *string
		parts []string
	}{
		{2, nil, []string{`"identityMap.contactKey[0].id"`, "invalid UTF-8", "0xfc"}},
		{3, nil, []string{`"identityMap.contactKey[0].id"`, "invalid UTF-8", "0xe4"}},
		{4, nil, []string{`"person.name.lastName"`, "invalid UTF-8"}},
		{5, ptr("  K 16  "), []string{`"identityMap.contactKey"`, "whitespace", `"  K 16  "`}},
		{6, nil, []string{`"person.name.firstName"`, `\ud800`, "surrogate"}},
		{7, nil, []string{"not a JSON object"}},
		{9, ptr("K-9 "), []string{"whitespace"}},
		{10, nil, []string{"not a JSON object"}},
	}
	require.Len(t, recs, len(want))
	for _, w := range want {
		rec, ok := recs[w.line]
		if !assert.True(t, ok, "line %d not in the failures file", w.line) {
			continue
		}
		assert.Equal(t, statusFailed, rec.Status, w.line)
		assert.False(t, rec.MayHaveApplied)
		assert.Equal(t, w.key, rec.ContactKey, "line %d: the key as it is in the input", w.line)
		for _, p := range w.parts {
			assert.Contains(t, rec.Error, p, "line %d", w.line)
		}
		assert.NotContains(t, rec.Error, "\ufffd", "line %d", w.line)
		assert.Equal(t, []byte(lines[w.line-1]), inputOf(t, rec), "line %d is kept exactly", w.line)
	}
	// Lines that are not UTF-8 are kept as base64, the others as text.
	for _, n := range []int64{2, 3, 4, 7} {
		assert.NotNil(t, recs[n].InputBase64, n)
	}
	for _, n := range []int64{5, 6, 9, 10} {
		assert.NotNil(t, recs[n].Input, n)
	}
}

func ptr[T any](v T) *T { return &v }

// Issue 12, item 5: a failures file replayed as the input sends exactly
// its records, each as the line it holds.
func TestPushReplaysFailures(t *testing.T) {
	t.Parallel()
	// First run: once the attributes are read, the tenant blocks (50200)
	// the first contact and the run stops: the record errors fail and the
	// other records are not sent.
	srv := newSim(t)
	lines := integrityLines(t)
	lines = append(lines, strings.Split(strings.TrimSpace(profilesNDJSON(t, 30)), "\n")[10:]...) // 20 more good lines
	mapping := writeMapping(t, demoMapping())
	dir := t.TempDir()
	first := filepath.Join(dir, "first.ndjson")
	pr, pw := io.Pipe()
	go func() {
		for srv.Stats().RESTRequests < 1 {
			time.Sleep(time.Millisecond)
		}
		srv.FailNext(1, sfmctest.FaultBlocked)
		_, _ = io.WriteString(pw, strings.Join(lines, "\n")+"\n")
		pw.Close()
	}()
	r := runWith(context.Background(), nil, simEnv(srv), pr, "push", "--mapping", mapping, "--workers", "1", "--fail-on-block", "--failures", first, "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	s1 := parseSummary(t, r.stdout)
	require.EqualValues(t, 30, s1.Read, r.stderr)
	require.Zero(t, s1.Upserted, r.stderr)
	require.Positive(t, s1.NotSent)
	recs1 := readFailures(t, first)
	require.Len(t, recs1, 30)

	// Replay the failures file against a healthy tenant.
	srv2 := newSim(t)
	second := filepath.Join(dir, "second.ndjson")
	r = runCLI(context.Background(), simEnv(srv2), "", "push", "--mapping", mapping, "--input", first,
		"--failures", second, "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	s2 := parseSummary(t, r.stdout)
	assert.EqualValues(t, 30, s2.Read, "one record per failure record")
	assert.EqualValues(t, 8, s2.Failed, "the record errors fail again")
	assert.EqualValues(t, 22, s2.Upserted)
	var keys []string
	for _, c := range srv2.Contacts() {
		keys = append(keys, c.Key)
	}
	want := []string{"DEMO-0000001", "DEMO-0000008"}
	for i := 11; i <= 30; i++ {
		want = append(want, genProfile(1, i).key)
	}
	assert.Equal(t, want, keys, "exactly the records that were not upserted, as they were")
	// The second file holds the same original lines for the record errors
	// (never failure records of failure records).
	var in2 [][]byte
	for _, rec := range readFailures(t, second) {
		in2 = append(in2, inputOf(t, rec))
	}
	var errLines [][]byte
	for _, n := range []int{2, 3, 4, 5, 6, 7, 9, 10} {
		errLines = append(errLines, []byte(lines[n-1]))
	}
	assert.ElementsMatch(t, errLines, in2)
}

func TestFailureRecordInput(t *testing.T) {
	t.Parallel()
	dec := func(s string) map[string]any {
		p, err := sfmc.DecodeProfile([]byte(s))
		require.NoError(t, err, s)
		return p
	}
	line, ok, err := failureRecordInput(dec(`{"line":3,"contactKey":null,"error":"x","status":"notSent","input":"{\"a\":1}"}`))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, `{"a":1}`, string(line))
	line, ok, err = failureRecordInput(dec(`{"line":3,"contactKey":null,"error":"x","status":"failed","inputBase64":"/w=="}`))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []byte{0xff}, line)
	_, ok, err = failureRecordInput(dec(`{"line":3,"contactKey":null,"error":"line is too long","status":"failed"}`))
	assert.True(t, ok)
	assert.ErrorContains(t, err, "holds no input line")
	for _, notRecord := range []string{
		`{"identityMap":{"contactKey":"K"}}`,
		`{"line":3,"error":"x","status":"failed","input":"{}","identityMap":{}}`, // a profile with such fields
		`{"line":3,"error":"x","status":"other","input":"{}"}`,
		`{"line":"3","error":"x","status":"failed","input":"{}"}`,
	} {
		_, ok, _ := failureRecordInput(dec(notRecord))
		assert.False(t, ok, notRecord)
	}
}

// slowPipe is an input whose lines the test writes when it wants.
type slowPipe struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func newSlowPipe(t *testing.T) *slowPipe {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return &slowPipe{r, w}
}

func (p *slowPipe) write(t *testing.T, s string) {
	t.Helper()
	_, err := io.WriteString(p.w, s)
	require.NoError(t, err)
}

// Issue 12, item 4: lines from a slow pipe are sent as they arrive, and on
// an interrupt every line read is stored or listed.
func TestPushSlowPipe(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	profiles := strings.SplitAfter(profilesNDJSON(t, 9), "\n")
	pipe := newSlowPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	done := make(chan result, 1)
	go func() {
		done <- runWith(ctx, nil, simEnv(srv), pipe.r, "push", "--mapping", writeMapping(t, demoMapping()),
			"--failures", failures, "--json")
	}()
	stored := func(n int) func() bool { return func() bool { return len(srv.Contacts()) == n } }
	pipe.write(t, strings.Join(profiles[:5], "")) // (head -5 profiles; sleep ...) | sfmc push
	require.Eventually(t, stored(5), 10*time.Second, 5*time.Millisecond, "the 5 lines are stored while the pipe stays open")
	pipe.write(t, profiles[5])
	pipe.write(t, profiles[6]+profiles[7])
	require.Eventually(t, stored(8), 10*time.Second, 5*time.Millisecond)
	pipe.write(t, profiles[8][:20]) // line 9 is still being received
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("push did not stop after the interrupt")
	}
	assert.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.True(t, s.Interrupted)
	assert.EqualValues(t, 8, s.Read, "every line read is counted; the one being received is not read")
	assert.EqualValues(t, 8, s.Upserted)
	require.NotNil(t, s.ResumeLine)
	assert.EqualValues(t, 9, *s.ResumeLine, "resume at the line that was being received")
	require.NotNil(t, s.StopReason)
	assert.Contains(t, *s.StopReason, "interrupted")
	assert.Empty(t, readFailures(t, failures))
}

// An interrupt with contacts queued and no drain: each line read is
// stored, or listed as not sent with its line.
func TestPushSlowPipeInterruptListsNotSent(t *testing.T) {
	t.Parallel()
	srv := newSim(t, sfmctest.WithLatency(100*time.Millisecond))
	profiles := strings.SplitAfter(profilesNDJSON(t, 20), "\n")
	pipe := newSlowPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	done := make(chan result, 1)
	go func() {
		done <- runWith(ctx, nil, simEnv(srv), pipe.r, "push", "--mapping", writeMapping(t, demoMapping()),
			"--workers", "1", "--drain-timeout", "0", "--failures", failures, "--json")
	}()
	pipe.write(t, strings.Join(profiles[:20], ""))
	require.Eventually(t, func() bool { return srv.Stats().Writes >= 1 }, 10*time.Second, 2*time.Millisecond)
	cancel()
	r := <-done
	assert.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 20, s.Read)
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent)
	assert.Positive(t, s.NotSent)
	require.NotNil(t, s.ResumeLine)
	assert.EqualValues(t, 21, *s.ResumeLine, "the pipe did not end")
	recs := byLine(t, readFailures(t, failures))
	assert.Len(t, recs, int(s.Failed+s.NotSent))
	for i := int64(1); i <= s.Read; i++ {
		p := genProfile(1, int(i))
		_, stored := srv.Contact(p.key)
		rec, listed := recs[i]
		switch {
		case listed:
			assert.Equal(t, strings.TrimSuffix(profiles[i-1], "\n"), string(inputOf(t, rec)), "line %d", i)
			if rec.Status == statusNotSent {
				assert.False(t, stored, "line %d not sent but stored", i)
			} else {
				assert.True(t, rec.MayHaveApplied || !stored, "line %d failed but stored: %+v", i, rec)
			}
		default:
			assert.True(t, stored, "line %d neither stored nor listed", i)
		}
	}
}

// The reader hands every line over before it reads again, skips a BOM at
// the start only, and a line still being received is not read.
func TestLineReaderHandsOverBeforeItBlocks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		lr := newLineReader(pr)
		take := func() []string {
			synctest.Wait() // the reader is blocked reading
			var got []string
			for {
				select {
				case b := <-lr.batches:
					for _, l := range b.lines {
						got = append(got, fmt.Sprintf("%d:%s", l.num, b.line(l)))
					}
					lr.Release(b)
				default:
					return got
				}
			}
		}
		go func() { _, _ = pw.Write([]byte("\xef\xbb\xbfa\nb\n")) }()
		assert.Equal(t, []string{"1:a", "2:b"}, take())
		go func() { _, _ = pw.Write([]byte("\xef\xbb\xbfc\r\n\nd")) }()
		assert.Equal(t, []string{"3:\xef\xbb\xbfc", "4:"}, take(), "only the input's first BOM is skipped")
		go func() { _, _ = pw.Write([]byte("e\nf")) }()
		synctest.Wait()
		rest := lr.Stop()
		var got []string
		for _, b := range rest {
			for _, l := range b.lines {
				got = append(got, fmt.Sprintf("%d:%s", l.num, b.line(l)))
			}
		}
		assert.Equal(t, []string{"5:de"}, got, "f is still being received: not read")
		pr.CloseWithError(io.ErrClosedPipe)
	})
}

func TestLineReaderBOMOnly(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"\xef\xbb\xbf":       nil,
		"\xef\xbb":           {"\xef\xbb"},
		"\xef\xbb\xbf{}\n{}": {"{}", "{}"},
		"x\r\r\n":            {"x\r"},
	} {
		lr := newLineReader(strings.NewReader(in))
		var got []string
		for b := range lr.batches {
			for _, l := range b.lines {
				got = append(got, string(b.line(l)))
			}
			lr.Release(b)
		}
		assert.Equal(t, want, got, "%q", in)
		eof, err := lr.state()
		assert.True(t, eof)
		assert.NoError(t, err)
	}
}

// Issue 12, item 5: the failures file never overwrites the input (or the
// mapping), and one that cannot be created stops push before it sends.
func TestPushFailuresFileRefused(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	content := profilesNDJSON(t, 5)
	input := writeFile(t, "in.ndjson", content)
	link := filepath.Join(t.TempDir(), "link.ndjson")
	require.NoError(t, os.Link(input, link))
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"same path":            {"--input", input, "--failures", input},
		"hard link":            {"--input", input, "--failures", link},
		"another path to it":   {"--input", input, "--failures", filepath.Join(filepath.Dir(input), ".", filepath.Base(input))},
		"the mapping":          {"--input", input, "--failures", mapping},
		"missing directory":    {"--input", input, "--failures", filepath.Join(dir, "no", "such", "dir", "f.ndjson")},
		"a directory":          {"--input", input, "--failures", dir},
		"input missing":        {"--input", filepath.Join(dir, "missing.ndjson"), "--failures", filepath.Join(dir, "f1")},
		"input is a directory": {"--input", dir, "--failures", filepath.Join(dir, "f2")},
		"empty failures name":  {"--input", input, "--failures", ""},
	} {
		r := runCLI(context.Background(), simEnv(srv), "", append([]string{"push", "--mapping", mapping}, args...)...)
		assert.Equal(t, exitUsage, r.code, "%s: %s", name, r.stderr)
		assert.NotEmpty(t, r.stderr, name)
	}
	got, err := os.ReadFile(input)
	require.NoError(t, err)
	assert.Equal(t, content, string(got), "the input is intact")
	m, err := sfmc.ReadMappingFile(mapping)
	require.NoError(t, err)
	assert.Equal(t, demoMapping(), m, "the mapping is intact")
	assert.Zero(t, srv.Stats().Writes, "nothing was sent")

	// Standard input redirected from the failures file.
	f, err := os.Open(input)
	require.NoError(t, err)
	defer f.Close()
	r := runWith(context.Background(), nil, simEnv(srv), f, "push", "--mapping", mapping, "--failures", link)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "standard input")
	got, _ = os.ReadFile(input)
	assert.Equal(t, content, string(got))
}

// The failures file is truncated before anything is sent: a clean run
// leaves no stale records, and the summary says what the file holds.
func TestPushFailuresFileTruncatedAndDescribed(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	failures := writeFile(t, "failures.ndjson", `{"line":1,"contactKey":"OLD","error":"old run","status":"failed","input":"{}"}`+"\n")
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 3))
	r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--failures", failures)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, readFailures(t, failures))
	assert.Contains(t, r.stderr, "read 3 records: 3 upserted, 0 failed, 0 not sent")
	assert.Contains(t, r.stderr, "failures file "+failures+": 0 records (nothing failed)")
	assert.NotContains(t, r.stderr, "resume")

	r = runCLI(context.Background(), simEnv(srv), "not json\n", "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", failures)
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "failures file "+failures+": 1 records (1 failed, 0 not sent), each with its input line")
	assert.Contains(t, r.stderr, "--input "+failures)
}

// A failures file that fails while the run goes on: the run stops, the
// summary says the file is incomplete, and the resume point is the first
// line whose record was lost.
func TestPushFailuresFileWriteError(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	srv := newSim(t)
	good := strings.Split(strings.TrimSpace(profilesNDJSON(t, 4)), "\n")
	input := strings.Join([]string{good[0], "bad 1", good[1], "bad 2", good[2], good[3]}, "\n") + "\n"
	r := runCLI(context.Background(), simEnv(srv), input, "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", "/dev/full", "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	require.NotNil(t, s.StopReason)
	assert.Contains(t, *s.StopReason, "failures file")
	require.NotNil(t, s.ResumeLine)
	assert.EqualValues(t, 2, *s.ResumeLine, "line 2's record was lost")
	assert.Zero(t, s.FailuresWritten)
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent)

	r = runCLI(context.Background(), simEnv(srv), input, "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", "/dev/full")
	assert.Contains(t, r.stderr, "INCOMPLETE")
}

// Issue 12, item 3: after the end of the input push waits for every
// contact, however long the rate needs, past the interrupt drain timeout.
func TestPushDrainAfterEOFOutlastsTimeout(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 20))
	r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--rate", "20", "--drain-timeout", "50ms", "--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 20, s.Upserted)
	assert.Zero(t, s.Failed+s.NotSent)
	assert.Greater(t, s.ElapsedSeconds, 0.05, "the drain took longer than the drain timeout")
	assert.Len(t, srv.Contacts(), 20)
}

// An interrupt bounds the drain by --drain-timeout: the contacts not sent
// by then are listed not sent, with their line.
func TestPushInterruptDrainTimeout(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	content := profilesNDJSON(t, 30)
	input := writeFile(t, "in.ndjson", content)
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for srv.Stats().Writes < 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	r := runCLI(ctx, simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--rate", "5", "--workers", "1", "--drain-timeout", "300ms", "--failures", failures, "--json")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "get up to 300ms to finish")
	s := parseSummary(t, r.stdout)
	assert.True(t, s.Interrupted)
	assert.EqualValues(t, 30, s.Read)
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent)
	assert.Positive(t, s.NotSent)
	assert.Nil(t, s.ResumeLine, "the whole input was read: nothing to resume, replay the failures")
	require.NotNil(t, s.StopReason)
	assert.Contains(t, *s.StopReason, "--drain-timeout of 300ms ran out")
	lines := strings.Split(strings.TrimSpace(content), "\n")
	recs := byLine(t, readFailures(t, failures))
	assert.Len(t, recs, int(s.Failed+s.NotSent))
	for i := int64(1); i <= 30; i++ {
		_, stored := srv.Contact(genProfile(1, int(i)).key)
		rec, listed := recs[i]
		require.True(t, stored != listed || rec.MayHaveApplied, "line %d: stored %v, listed %v", i, stored, listed)
		if listed && rec.Status == statusNotSent {
			assert.Contains(t, rec.Error, "not sent")
			assert.Equal(t, lines[i-1], string(inputOf(t, rec)))
		}
	}
}

// Issue 12, item 3: a second interrupt (or SIGTERM) during the drain stops
// at once, and the summary and failures file are still complete.
func TestPushSecondInterruptStopsAtOnce(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 40))
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	hard, stopHard := context.WithCancelCause(context.Background())
	defer stopHard(nil)
	ctx, interrupt := context.WithCancelCause(hard)
	defer interrupt(nil)
	done := make(chan result, 1)
	go func() {
		done <- runWith(ctx, hard, simEnv(srv), nil, "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
			"--rate", "2", "--workers", "2", "--drain-timeout", "1h", "--failures", failures, "--json")
	}()
	require.Eventually(t, func() bool { return srv.Stats().Writes >= 1 }, 10*time.Second, time.Millisecond)
	interrupt(errInterrupted)
	select {
	case r := <-done:
		t.Fatalf("push did not wait for the drain: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	stopHard(errSecondInterrupt)
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a second interrupt did not stop push at once")
	}
	assert.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.True(t, s.Interrupted)
	assert.EqualValues(t, 40, s.Read)
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent)
	assert.Positive(t, s.NotSent)
	require.NotNil(t, s.StopReason)
	assert.Contains(t, *s.StopReason, "second Ctrl-C")
	recs := readFailures(t, failures)
	assert.Len(t, recs, int(s.Failed+s.NotSent))
	notSent := 0
	for _, rec := range recs {
		if rec.Status == statusNotSent {
			notSent++
			assert.Contains(t, rec.Error, "second Ctrl-C")
			_, stored := srv.Contact(*rec.ContactKey)
			assert.False(t, stored)
		}
	}
	assert.EqualValues(t, s.NotSent, notSent)
}

// The signal policy: the first SIGINT interrupts, a second one or any
// SIGTERM stops at once, then signals are the system's again.
func TestWatchSignals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		sigs       []os.Signal
		soft, hard error
	}{
		"one Ctrl-C":  {[]os.Signal{os.Interrupt}, errInterrupted, nil},
		"two Ctrl-C":  {[]os.Signal{os.Interrupt, os.Interrupt}, errInterrupted, errSecondInterrupt},
		"SIGTERM":     {[]os.Signal{syscall.SIGTERM}, errTerminated, errTerminated},
		"Ctrl-C+TERM": {[]os.Signal{os.Interrupt, syscall.SIGTERM}, errInterrupted, errTerminated},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				hard, stopHard := context.WithCancelCause(context.Background())
				ctx, interrupt := context.WithCancelCause(hard)
				sigs := make(chan os.Signal, len(tc.sigs))
				done := make(chan struct{})
				var stderr bytes.Buffer
				reset := false
				ended := make(chan struct{})
				go func() {
					defer close(ended)
					watchSignals(sigs, done, interrupt, stopHard, &stderr, func() { reset = true })
				}()
				for _, s := range tc.sigs {
					sigs <- s
					synctest.Wait()
				}
				if tc.hard == nil {
					close(done) // the command ended
				}
				<-ended
				assert.Equal(t, tc.soft, context.Cause(ctx))
				if tc.hard == nil {
					assert.NoError(t, hard.Err())
					assert.False(t, reset)
				} else {
					assert.Equal(t, tc.hard, context.Cause(hard))
					assert.True(t, reset, "a further signal kills the process")
					assert.Contains(t, stderr.String(), tc.hard.Error())
				}
			})
		})
	}
}

// Issue 12, item 6: Ctrl-C while the attributes load exits 1, not 2.
func TestPushInterruptWhileCatalogLoads(t *testing.T) {
	t.Parallel()
	srv := newSim(t, sfmctest.WithLatency(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for srv.Stats().TokenRequests < 1 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	r := runCLI(ctx, simEnv(srv), profilesNDJSON(t, 3), "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", filepath.Join(t.TempDir(), "f"))
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "interrupted while reading the tenant's attributes; nothing was sent")
	assert.Zero(t, srv.Stats().Writes)
}

// The summary JSON keeps the contract's keys and adds push's, with the
// documented types.
func TestPushSummaryJSONShape(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 2)+"bad\n", "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitFailed, r.code)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	for _, k := range summaryKeys {
		assert.Contains(t, raw, k)
	}
	assert.Equal(t, false, raw["interrupted"])
	assert.Nil(t, raw["stopReason"])
	assert.Nil(t, raw["resumeLine"])
	assert.EqualValues(t, 0, raw["notSent"])
	assert.EqualValues(t, 1, raw["failed"])
	assert.EqualValues(t, 1, raw["failuresWritten"])
	assert.IsType(t, float64(0), raw["elapsedSeconds"])
}

// --help documents the accounting, the failures file and the exit codes.
func TestPushHelpDocumentsAccounting(t *testing.T) {
	t.Parallel()
	r := runCLI(context.Background(), func(string) string { return "" }, "", "push", "--help")
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr, "the usage is printed once, on stdout")
	assert.Equal(t, 1, strings.Count(r.stdout, "Usage: sfmc push"))
	for _, p := range []string{"--drain-timeout", "exactly one of upserted, failed and", "not sent", "Exit codes: 0",
		"SIGTERM", "inputBase64", "resumeLine", "holds the profiles' data"} {
		assert.Contains(t, r.stdout, p)
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, p := range []string{"--drain-timeout", "exactly one of", "not sent", "resumeLine", "SIGTERM"} {
		assert.Contains(t, string(readme), p, "README")
	}
}

// A contact the Upserter never reported is failed "may have applied" once
// Close returned, with its line; a late outcome is then not counted again.
func TestPushFailsUnreportedOutcomes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.ndjson")
	fw, err := openFailures(path)
	require.NoError(t, err)
	closeCtx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	p := &pusher{fails: fw, closeCtx: closeCtx, pending: map[int64]*recTag{}}
	tags := []*recTag{{line: 7, raw: `{"a":1}`}, {line: 3, raw: `{"b":2}`}, {line: 5, raw: `{"c":3}`}}
	for _, tag := range tags {
		p.pending[tag.line] = tag
	}
	p.onResult(sfmc.Outcome{Key: "K5", Tag: tags[2], Attempts: 1})
	assert.Equal(t, 2, p.failUnreported())
	p.onResult(sfmc.Outcome{Key: "K7", Tag: tags[0], Attempts: 1}) // late
	require.NoError(t, fw.Close())
	assert.EqualValues(t, 1, p.upserted.Load())
	assert.EqualValues(t, 2, p.failed.Load())
	recs := readFailures(t, path)
	require.Len(t, recs, 2)
	for i, want := range []struct {
		line  int64
		input string
	}{{3, `{"b":2}`}, {7, `{"a":1}`}} {
		assert.Equal(t, want.line, recs[i].Line)
		assert.True(t, recs[i].MayHaveApplied)
		assert.Equal(t, statusFailed, recs[i].Status)
		assert.Equal(t, want.input, string(inputOf(t, recs[i])))
	}
}
