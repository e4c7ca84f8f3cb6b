package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// profilesNDJSON returns n generated demo profiles as NDJSON.
func profilesNDJSON(t testing.TB, n int) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, writeProfiles(&b, 1, n))
	return b.String()
}

func TestPushJSON(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 200), "push", "--mapping", mapping, "--input", "-",
		"--workers", "4", "--rate", "100000", "--failures", failures, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 200, s.Read)
	assert.EqualValues(t, 200, s.Upserted)
	assert.Zero(t, s.Failed)
	assert.EqualValues(t, 200, s.Requests)
	require.Len(t, s.Segments, 4)
	var want [4]segmentCounts
	for i := 1; i <= 200; i++ {
		for k, st := range genProfile(1, i).status {
			switch st {
			case sfmc.StatusRealized:
				want[k].Realized++
			case sfmc.StatusExisting:
				want[k].Existing++
			case sfmc.StatusExited:
				want[k].Exited++
			}
		}
	}
	for k, sg := range demoSegments {
		assert.Equal(t, want[k], *s.Segments[sg.SegmentID], sg.SegmentID)
	}
	assert.Empty(t, readFailures(t, failures), "an empty failures file when nothing failed")
	assert.Zero(t, s.NotSent)
	assert.False(t, s.Interrupted)
	assert.Nil(t, s.StopReason)
	assert.Nil(t, s.ResumeLine)
	assert.Equal(t, failures, s.FailuresFile)
	assert.Len(t, srv.Contacts(), 200)
}

func TestPushHumanSummary(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 20))
	r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--failures", filepath.Join(t.TempDir(), "f"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "read 20 records: 20 upserted, 0 failed")
	assert.NotContains(t, r.stderr, "\r", "no progress bar when stderr is not a terminal")
}

func TestPushBadLines(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	good := strings.Split(strings.TrimSpace(profilesNDJSON(t, 5)), "\n")
	lines := []string{
		good[0],            // 1
		"this is not json", // 2
		`{"person":{"name":{"firstName":"NoKey"}},"personalEmail":{"address":"n@example.com"}}`, // 3: no contactKey
		good[1], // 4
		`{"identityMap":{"contactKey":[{"id":"LONG-1","primary":true}]},"person":{"name":{"firstName":"` + strings.Repeat("x", 101) + `"}},"personalEmail":{"address":"l@example.com"}}`, // 5: too long
		`{"identityMap":{"contactKey":"BAD-STATUS"},"personalEmail":{"address":"b@example.com"},"segmentMembership":{"ups":{"seg-2":{"status":"entered"}}}}`,                             // 6
		"",        // 7: blank, skipped
		`[1,2,3]`, // 8: not an object
		good[2],   // 9
		`{"identityMap":{"contactKey":"TRAILING"}} {}`, // 10: trailing data
		good[3] + "\r", // 11: CRLF is fine
	}
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	r := runCLI(context.Background(), simEnv(srv), strings.Join(lines, "\n")+"\n", "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", failures, "--json")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 10, s.Read)
	assert.EqualValues(t, 4, s.Upserted)
	assert.EqualValues(t, 6, s.Failed)

	recs := readFailures(t, failures)
	require.Len(t, recs, 6)
	byLine := map[int64]failureRecord{}
	for _, rec := range recs {
		byLine[rec.Line] = rec
	}
	key := func(line int64) string {
		if byLine[line].ContactKey == nil {
			return "<nil>"
		}
		return *byLine[line].ContactKey
	}
	assert.Contains(t, byLine[2].Error, "not a JSON object")
	assert.Equal(t, "<nil>", key(2))
	assert.Contains(t, byLine[3].Error, "no contact key")
	assert.Equal(t, "<nil>", key(3))
	assert.Contains(t, byLine[5].Error, "longer than the target attribute")
	assert.Equal(t, "LONG-1", key(5))
	assert.Contains(t, byLine[6].Error, `unknown segment status "entered"`)
	assert.Equal(t, "BAD-STATUS", key(6))
	assert.Contains(t, byLine[8].Error, "not a JSON object")
	assert.Contains(t, byLine[10].Error, "unexpected data")
	for _, k := range []string{"DEMO-0000001", "DEMO-0000002", "DEMO-0000003", "DEMO-0000004"} {
		_, ok := srv.Contact(k)
		assert.True(t, ok, k)
	}
}

func TestPushRefusedContactsAreFailures(t *testing.T) {
	t.Parallel()
	srv := newSim(t, sfmctest.WithRetryAfter(time.Millisecond))
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	pr, pw := io.Pipe()
	go func() {
		// Once the catalog has been read, block the tenant: the first
		// contact is refused (50200, not retried), and the run stops.
		for srv.Stats().RESTRequests < 1 {
			time.Sleep(time.Millisecond)
		}
		srv.FailNext(3, sfmctest.FaultBlocked)
		_, _ = io.WriteString(pw, profilesNDJSON(t, 50))
		pw.Close()
	}()
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"push", "--mapping", writeMapping(t, demoMapping()),
		"--workers", "1", "--fail-on-block", "--failures", failures, "--json"}, simEnv(srv), pr, &out, &errOut)
	assert.Equal(t, exitFailed, code, errOut.String())
	s := parseSummary(t, out.String())
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent)
	assert.Positive(t, s.Failed)
	assert.Contains(t, errOut.String(), "stopped early")
	assert.Contains(t, errOut.String(), "blocked")
	require.NotNil(t, s.StopReason)
	assert.Contains(t, *s.StopReason, "blocked")
	recs := readFailures(t, failures)
	assert.Len(t, recs, int(s.Failed+s.NotSent))
	for _, rec := range recs {
		require.NotNil(t, rec.ContactKey)
		assert.Equal(t, fmt.Sprintf("DEMO-%07d", rec.Line), *rec.ContactKey, "line numbers follow the contacts")
	}
}

func TestPushInvalidMappingSendsNothing(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	m := demoMapping()
	m.Segments[0].MappingID = "salesforce_mc_segment_9"
	r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 10), "push", "--mapping", writeMapping(t, m),
		"--failures", filepath.Join(t.TempDir(), "f"), "--json")
	assert.Equal(t, exitUsage, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "nothing was sent")
	assert.Contains(t, r.stderr, "salesforce_mc_segment_9")
	assert.Zero(t, srv.Stats().Writes)
	assert.Empty(t, srv.Contacts())
}

func TestPushUsageErrors(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	for _, args := range [][]string{
		{"push"},
		{"push", "--mapping", mapping, "--rate", "-1"},
		{"push", "--mapping", mapping, "--workers", "-2"},
		{"push", "--mapping", mapping, "--input", filepath.Join(t.TempDir(), "missing.ndjson")},
	} {
		r := runCLI(context.Background(), simEnv(srv), "", args...)
		assert.Equal(t, exitUsage, r.code, args)
	}
	assert.Zero(t, srv.Stats().RESTRequests)
}

func TestPushLongLine(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	good := strings.Split(strings.TrimSpace(profilesNDJSON(t, 2)), "\n")
	long := `{"identityMap":{"contactKey":"HUGE"},"pad":"` + strings.Repeat("a", maxLineBytes) + `"}`
	input := good[0] + "\n" + long + "\n" + good[1] + "\n"
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	r := runCLI(context.Background(), simEnv(srv), input, "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", failures, "--json")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 3, s.Read)
	assert.EqualValues(t, 2, s.Upserted)
	recs := readFailures(t, failures)
	require.Len(t, recs, 1)
	assert.EqualValues(t, 2, recs[0].Line)
	assert.Contains(t, recs[0].Error, "bytes long")

}

func TestLineReaderLimits(t *testing.T) {
	t.Parallel()
	const limit = 100 << 10 // the real 16 MiB limit is tested through push in TestPushLongLine
	exact := bytes.Repeat([]byte("e"), limit)
	input := bytes.Join([][]byte{[]byte("a"), exact, append(exact, 'x'), []byte("b\r"), []byte("c")}, []byte("\n"))
	lr := newLineReaderMax(bytes.NewReader(input), limit)
	var got []lineRef
	var texts []string
	for b := range lr.batches {
		for _, l := range b.lines {
			got = append(got, l)
			texts = append(texts, string(b.line(l)[:min(len(b.line(l)), 3)]))
		}
		lr.Release(b)
	}
	_, err := lr.state()
	require.NoError(t, err)
	require.Len(t, got, 5)
	for i, l := range got {
		assert.EqualValues(t, i+1, l.num)
	}
	assert.Zero(t, got[1].tooLong, "a line of exactly the limit is accepted")
	assert.Equal(t, limit, got[1].end-got[1].start)
	assert.Positive(t, got[2].tooLong, "one byte more is too long")
	assert.Equal(t, []string{"a", "eee", "", "b", "c"}, texts, "line breaks and CR trimmed; reading resumes after a long line")
}

// endlessProfiles yields generated profiles without end: a stream that
// only an interrupt stops.
type endlessProfiles struct {
	i   int
	buf []byte
}

func (e *endlessProfiles) Read(p []byte) (int, error) {
	if len(e.buf) == 0 {
		e.i++
		e.buf = genProfile(1, e.i).appendJSON(e.buf[:0])
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func TestPushInterrupt(t *testing.T) {
	t.Parallel()
	srv := newSim(t, sfmctest.WithLatency(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for srv.Stats().Writes < 40 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	var out, errOut syncBuffer
	code := run(ctx, []string{"push", "--mapping", writeMapping(t, demoMapping()), "--workers", "8", "--failures", failures, "--json"},
		simEnv(srv), &endlessProfiles{}, &out, &errOut)
	assert.Equal(t, exitFailed, code)
	s := parseSummary(t, out.String())
	assert.Positive(t, s.Read)
	assert.GreaterOrEqual(t, s.Upserted, int64(40))
	assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent, "every record read was upserted or reported")
	assert.True(t, s.Interrupted)

	failed := map[int64]bool{}
	for _, rec := range readFailures(t, failures) {
		failed[rec.Line] = true
	}
	assert.Len(t, failed, int(s.Failed+s.NotSent))
	for i := int64(1); i <= s.Read; i++ {
		p := genProfile(1, int(i))
		_, stored := srv.Contact(p.key)
		assert.True(t, stored || failed[i], "line %d neither stored nor reported", i)
	}
	assert.Len(t, srv.Contacts(), int(s.Upserted), "nothing stored beyond what was reported upserted")
}

func TestLineReaderStopsWhileBlocked(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	lr := newLineReader(pr)
	_, _ = pw.Write([]byte("a\nb\n"))
	lr.Stop() // must not hang, although the reader is blocked reading
	pr.CloseWithError(io.ErrClosedPipe)
	for range lr.batches {
	}
}

// BenchmarkPush100k pushes 100,000 generated profiles to the simulator
// through the push code path and reports the peak heap, which must not grow
// with the input: memory is bounded by the Upserter's queue and the
// reader's batches. The simulator's store is emptied while sampling, so the
// figure is the client's.
func BenchmarkPush100k(b *testing.B) {
	const n = 100_000
	srv := sfmctest.NewServer(mappingIDAttributes(3), sfmctest.WithRequestLogSize(0))
	defer srv.Close()
	c, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	require.NoError(b, err)
	m := demoMapping()
	cat, err := c.AttributeSets.Catalog(context.Background())
	require.NoError(b, err)
	pm, err := m.Compile(cat)
	require.NoError(b, err)
	dir := b.TempDir()
	var peak atomic.Uint64
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				// The in-process simulator keeps every contact; drop them so
				// that the heap shows the client's memory only.
				srv.Reset()
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeProfiles(pw, 1, n)) }()
		s, err := push(context.Background(), c, m, pm, pr, pushOptions{workers: 16, failuresPath: filepath.Join(dir, "f")})
		close(stop)
		<-sampled
		require.NoError(b, err)
		require.EqualValues(b, n, s.Upserted)
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "contacts/op")
	_ = os.Remove(filepath.Join(dir, "f"))
}

// Issue 11, item 3: REST answers 401 to every token it issues (a revoked
// or mis-scoped integration). push stops after a handful of requests, asks
// for at most 3 tokens, and exits 2 saying the integration was rejected:
// before anything is sent (the catalog read is refused), and in the middle
// of a run.
func TestPushIntegrationRejected(t *testing.T) {
	t.Parallel()
	t.Run("at the start", func(t *testing.T) {
		t.Parallel()
		srv := newSim(t, sfmctest.WithFaultRate(sfmctest.Fault401, 1))
		r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 20), "push", "--mapping", writeMapping(t, demoMapping()),
			"--failures", filepath.Join(t.TempDir(), "failures.ndjson"), "--json")
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "rejected")
		assert.Contains(t, r.stderr, "list_and_subscribers_write", "says what to check")
		st := srv.Stats()
		assert.LessOrEqual(t, st.TokenRequests, int64(3))
		assert.LessOrEqual(t, st.RESTRequests, int64(2))
	})
	t.Run("mid-run", func(t *testing.T) {
		t.Parallel()
		srv := newSim(t)
		pr, pw := io.Pipe()
		go func() {
			for srv.Stats().RESTRequests < 1 { // the catalog is read
				time.Sleep(time.Millisecond)
			}
			srv.SetFaultRate(sfmctest.Fault401, 1)
			_, _ = io.WriteString(pw, profilesNDJSON(t, 300))
			pw.Close()
		}()
		const workers = 16
		r := runWith(context.Background(), nil, simEnv(srv), pr, "push", "--mapping", writeMapping(t, demoMapping()),
			"--workers", fmt.Sprint(workers), "--failures", filepath.Join(t.TempDir(), "failures.ndjson"), "--json")
		assert.Equal(t, exitUsage, r.code, r.stderr)
		s := parseSummary(t, r.stdout)
		assert.Equal(t, s.Read, s.Upserted+s.Failed+s.NotSent, "every record accounted for")
		require.NotNil(t, s.StopReason)
		assert.Contains(t, *s.StopReason, "rejected")
		st := srv.Stats()
		assert.LessOrEqual(t, st.TokenRequests, int64(3))
		assert.LessOrEqual(t, st.ByStatus[401], int64(2*workers), "about two requests per worker")
	})
}
