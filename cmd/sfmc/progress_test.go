package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/sfmc-go/sfmc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 14, item 3: the progress line never takes more than the
// terminal's width (less one column), however large the counts, and keeps
// the most telling parts: percent, what it waits for, the counts.
func TestRenderBarFitsWidth(t *testing.T) {
	t.Parallel()
	busy := progressState{read: 1_234_567, upserted: 1_230_001, failed: 3_456, notSent: 1_110, percent: 42, eta: 3*time.Minute + 12*time.Second,
		elapsed: 95 * time.Minute, recRate: 812.4, pace: 900, retries: 12_345, throttled: 678}
	waiting := busy
	waiting.status = "SFMC not answering for 12 s, 353 retries"
	stream := busy
	stream.percent, stream.eta = -1, -1
	for _, width := range []int{80, 60, 40, 24, 120, 200} {
		for name, s := range map[string]progressState{"busy": busy, "waiting": waiting, "stream": stream, "dry run": {read: 20_000, upserted: 19_000, percent: 100, dryRun: true}} {
			line := renderBar(s, width)
			assert.LessOrEqual(t, utf8.RuneCountInString(line), width-1, "%s at %d: %q", name, width, line)
			assert.NotContains(t, line, "\n")
			if width == 80 {
				switch name {
				case "busy":
					assert.True(t, strings.HasPrefix(line, " 42% "), line)
					assert.Contains(t, line, "read 1.23M · upserted 1.23M · failed 3456 · 812/s · ETA 3m12s", line)
				case "waiting":
					assert.Contains(t, line, " 42% SFMC not answering for 12 s, 353 retries · read 1.23M", line)
				case "stream":
					assert.Regexp(t, `^[|/\\-] read 1.23M`, line)
				case "dry run":
					assert.Contains(t, line, "valid 19000")
				}
			}
		}
	}
	wide := renderBar(busy, 200)
	assert.Contains(t, wide, "[█", "a bar when there is room")
	assert.Contains(t, wide, "12345 retries · 678 throttled · pace 900/s · 1h35m elapsed")
	assert.Equal(t, "42% · read 1234567 · upserted 1230001 · failed 3456 · not sent 1110 · 812/s · ETA 3m12s · 12345 retries · 678 throttled · pace 900/s · 1h35m elapsed",
		renderPlain(busy))
}

// The state shown: percent and ETA by bytes over the recent window, the
// record rate, and what the run waits for.
func TestProgressObserve(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pr := &progress{cfg: progressConfig{total: 1000}, start: t0, lastIn: t0}
	st := pr.observe(progressSample{at: t0, bytes: 0})
	assert.Equal(t, 0, st.percent)
	assert.Equal(t, time.Duration(-1), st.eta, "no rate yet")
	st = pr.observe(progressSample{at: t0.Add(2 * time.Second), bytes: 200, read: 20, upserted: 10,
		stats: sfmc.UpserterStats{InFlight: 4, LastAnswer: t0.Add(time.Second), Retried: 7, Rate: 33}})
	assert.Equal(t, 20, st.percent)
	assert.Equal(t, 8*time.Second, st.eta, "800 bytes left at 100 bytes/s")
	assert.InDelta(t, 5, st.recRate, 1e-9)
	assert.Empty(t, st.status)
	assert.EqualValues(t, 7, st.retries)
	assert.InDelta(t, 33, st.pace, 1e-9)

	// SFMC silent for 12 s with contacts waiting.
	st = pr.observe(progressSample{at: t0.Add(13 * time.Second), bytes: 300, read: 30, upserted: 10,
		stats: sfmc.UpserterStats{InFlight: 4, QueueDepth: 10, LastAnswer: t0.Add(time.Second), Retried: 353}})
	assert.Equal(t, "SFMC not answering for 12 s, 353 retries", st.status)
	assert.Zero(t, st.recRate, "nothing settled in the window")
	// Blocked.
	st = pr.observe(progressSample{at: t0.Add(14 * time.Second), bytes: 300, stats: sfmc.UpserterStats{Blocked: true, InFlight: 1, Retried: 9}})
	assert.Equal(t, "SFMC blocked the requests (50200): paused, probing; 9 retries", st.status)
	// The input is idle.
	st = pr.observe(progressSample{at: t0.Add(17 * time.Second), bytes: 300})
	assert.Equal(t, "waiting for input (4 s)", st.status)
	// The input is read; the last contacts are on their way.
	st = pr.observe(progressSample{at: t0.Add(18 * time.Second), bytes: 1000, eof: true,
		stats: sfmc.UpserterStats{QueueDepth: 5, LastAnswer: t0.Add(18 * time.Second)}})
	assert.Equal(t, "sending the last 5", st.status)
	assert.Equal(t, 100, st.percent)
	assert.Zero(t, st.eta)

	// No answer ever, from the start.
	pr = &progress{cfg: progressConfig{}, start: t0, lastIn: t0}
	st = pr.observe(progressSample{at: t0.Add(6 * time.Second), bytes: 10, stats: sfmc.UpserterStats{InFlight: 8, Retried: 2}})
	assert.Equal(t, "SFMC not answering for 6 s, 2 retries", st.status)
	assert.Equal(t, -1, st.percent, "no size: no percent")
}

// Issue 14, item 3, end to end: a push of more than 10,000 records from a
// regular file draws its progress at 80 columns: every frame fits in 79,
// shows the percent, and the line is removed before the summary.
func TestPushProgressBarAt80(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 10_050))
	var out, errOut syncBuffer
	e := &env{getenv: simEnv(srv, "COLUMNS", "80"), stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	code := runEnv(context.Background(), e, []string{"push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--failures", filepath.Join(t.TempDir(), "f"), "--progress", "bar", "--rate", "5000", "--json"})
	require.Equal(t, exitOK, code, errOut.String())
	assert.Contains(t, out.String(), `"upserted":10050`)
	text := errOut.String()
	frames := strings.Split(text, "\r")
	require.Greater(t, len(frames), 2, "the line was drawn: %q", text)
	percent := regexp.MustCompile(`^ {0,2}\d{1,3}% `)
	seen := false
	for _, f := range frames[1:] {
		f = strings.TrimSuffix(f, "\x1b[K")
		assert.NotContains(t, f, "\n", "a frame never ends its line: %q", f)
		assert.LessOrEqual(t, utf8.RuneCountInString(f), 79, "%q", f)
		if percent.MatchString(f) {
			seen = true
		}
	}
	assert.True(t, seen, "the percent of a regular file is shown: %q", frames)
	assert.True(t, strings.HasSuffix(text, "\r\x1b[K"), "the line is removed at the end")
}

// Off a terminal the progress is one plain line every 10 s, for CI and
// Kubernetes logs.
func TestProgressPlainEvery10s(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		read := int64(0)
		var b syncBuffer
		con := &console{w: &b}
		pr := startProgress(progressConfig{mode: progressPlain, console: con, total: 0, sample: func() progressSample {
			mu.Lock()
			defer mu.Unlock()
			read += 1000
			return progressSample{at: time.Now(), read: read, upserted: read, bytes: read * 100}
		}})
		time.Sleep(35 * time.Second)
		synctest.Wait()
		pr.stop()
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		require.Len(t, lines, 3, b.String())
		assert.Equal(t, "sfmc push: progress: read 1000 · upserted 1000 · 0.0/s · 10s elapsed", lines[0])
		assert.Equal(t, "sfmc push: progress: read 2000 · upserted 2000 · 100/s · 20s elapsed", lines[1])
		assert.NotContains(t, b.String(), "\r")
	})
}

// Warnings and log records printed while the bar is drawn get lines of
// their own, and the bar is drawn again below them.
func TestConsoleKeepsLinesApart(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	c := &console{w: &b}
	_, _ = c.Write([]byte("before\n"))
	c.draw(" 10% read 5")
	_, _ = c.Write([]byte("sfmc push: warning: x\n"))
	_, _ = c.Write([]byte("no newline"))
	c.draw(" 20% read 9")
	c.clear()
	_, _ = c.Write([]byte("summary\n"))
	assert.Equal(t, "before\n\r 10% read 5\x1b[K\r\x1b[Ksfmc push: warning: x\n 10% read 5\r\x1b[Kno newline\n 10% read 5\r 20% read 9\x1b[K\r\x1b[Ksummary\n", b.String())
}

func TestProgressMode(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]progressMode{"auto": progressAuto, "bar": progressBar, "plain": progressPlain, "off": progressOff} {
		got, err := progressModeOf(s)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := progressModeOf("on")
	assert.Error(t, err)
	for n, want := range map[int64]string{0: "0", 99_999: "99999", 100_000: "100k", 999_999: "999k", 1_234_567: "1.23M", 12_345_678: "12.3M",
		123_456_789: "123M", 9_999_999_999: "9.99G"} {
		assert.Equal(t, want, fmtCount(n, false), n)
	}
	assert.Equal(t, "1234567", fmtCount(1_234_567, true))
	assert.Equal(t, "12s", fmtDuration(12*time.Second))
	assert.Equal(t, "3m04s", fmtDuration(184*time.Second))
	assert.Equal(t, "2h05m", fmtDuration(125*time.Minute))
}
