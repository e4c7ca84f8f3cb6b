package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sfmc-go/sfmc"
	"golang.org/x/term"
)

// How often the progress is shown.
const (
	barInterval   = 250 * time.Millisecond // a live line on a terminal
	plainInterval = 10 * time.Second       // a log line off a terminal
	rateWindow    = 10 * time.Second       // rates and the ETA are measured over the last ones
	silentAfter   = 5 * time.Second        // SFMC silent that long with work waiting is shown
	idleAfter     = 2 * time.Second        // no input that long is shown
)

// isTerminal reports whether v is a terminal (an *os.File on a tty).
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth returns a function giving the width of e's stderr: the
// terminal's when it is one (read at each call: the window may change),
// else $COLUMNS, else 80.
func terminalWidth(e *env) func() int {
	return func() int {
		if f, ok := e.stderr.(*os.File); ok && e.isTerm(f) {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
				return w
			}
		}
		if n, err := strconv.Atoi(strings.TrimSpace(e.getenv("COLUMNS"))); err == nil && n > 0 {
			return n
		}
		return 80
	}
}

// progressMode is how push shows its progress (--progress).
type progressMode int

const (
	progressAuto  progressMode = iota // bar on a terminal, plain otherwise
	progressBar                       // one live line, redrawn
	progressPlain                     // a log line every plainInterval
	progressOff                       // nothing
)

// progressModeOf parses --progress.
func progressModeOf(s string) (progressMode, error) {
	switch s {
	case "auto":
		return progressAuto, nil
	case "bar":
		return progressBar, nil
	case "plain":
		return progressPlain, nil
	case "off":
		return progressOff, nil
	}
	return 0, fmt.Errorf("--progress must be auto, bar, plain or off, got %q", s)
}

// console is stderr shared by the progress line and everything else
// printed while it is drawn (warnings, log records): a write clears the
// line, prints, and draws the line again below, so that the two never
// mix on one line.
type console struct {
	mu   sync.Mutex
	w    io.Writer
	line string // the progress line on the screen, "" when none
}

// Write prints p above the progress line.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line == "" {
		return c.w.Write(p)
	}
	_, _ = io.WriteString(c.w, "\r\x1b[K")
	n, err := c.w.Write(p)
	if len(p) > 0 && p[len(p)-1] != '\n' {
		_, _ = io.WriteString(c.w, "\n")
	}
	_, _ = io.WriteString(c.w, c.line)
	return n, err
}

// draw replaces the progress line by line.
func (c *console) draw(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, "\r"+line+"\x1b[K")
	c.line = line
}

// clear removes the progress line.
func (c *console) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.line != "" {
		_, _ = io.WriteString(c.w, "\r\x1b[K")
		c.line = ""
	}
}

// progressSample is the state of a push at one moment.
type progressSample struct {
	at                              time.Time
	read, upserted, failed, notSent int64
	bytes                           int64 // input consumed
	eof                             bool  // the whole input was read
	stats                           sfmc.UpserterStats
}

// settled is the number of records with their outcome.
func (s progressSample) settled() int64 { return s.upserted + s.failed + s.notSent }

// progressConfig sets up a progress display.
type progressConfig struct {
	mode    progressMode // progressBar or progressPlain
	console *console
	width   func() int // the terminal's width (nil: 80)
	total   int64      // input size in bytes (0: unknown)
	dryRun  bool
	sample  func() progressSample
	// interval overrides the mode's interval (tests).
	interval time.Duration
}

// progress shows a push's progress until stop is called.
type progress struct {
	cfg     progressConfig
	start   time.Time
	history []progressSample // the last rateWindow of samples, oldest first
	lastIn  time.Time        // when input bytes last came
	ticks   int
	quit    chan struct{}
	done    chan struct{}
}

// startProgress starts showing the progress cfg describes.
func startProgress(cfg progressConfig) *progress {
	if cfg.width == nil {
		cfg.width = func() int { return 80 }
	}
	interval := cfg.interval
	if interval <= 0 {
		interval = barInterval
		if cfg.mode == progressPlain {
			interval = plainInterval
		}
	}
	now := time.Now()
	pr := &progress{cfg: cfg, start: now, lastIn: now, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		if cfg.mode == progressBar {
			pr.show()
		}
		for {
			select {
			case <-pr.quit:
				return
			case <-t.C:
				pr.show()
			}
		}
	}()
	return pr
}

// stop ends the display; a progress bar is removed (the summary follows).
func (pr *progress) stop() {
	close(pr.quit)
	<-pr.done
	if pr.cfg.mode == progressBar {
		pr.cfg.console.clear()
	}
}

// show takes a sample and shows it.
func (pr *progress) show() {
	s := pr.cfg.sample()
	st := pr.observe(s)
	if pr.cfg.mode == progressBar {
		pr.cfg.console.draw(renderBar(st, pr.cfg.width()))
		return
	}
	fmt.Fprintln(pr.cfg.console, "sfmc push: progress: "+renderPlain(st))
}

// progressState is what a progress line shows.
type progressState struct {
	read, upserted, failed, notSent int64
	percent                         int           // of the input read, -1: unknown
	eta                             time.Duration // -1: unknown
	elapsed                         time.Duration
	recRate                         float64 // records settled per second, recently
	pace                            float64 // the client's pace, requests per second
	retries, throttled              int64
	status                          string // what the run waits for, "" when nothing
	spin                            int
	dryRun                          bool
}

// observe adds s to the history and computes what to show.
func (pr *progress) observe(s progressSample) progressState {
	if n := len(pr.history); n == 0 || s.bytes > pr.history[n-1].bytes {
		pr.lastIn = s.at
	}
	pr.history = append(pr.history, s)
	for len(pr.history) > 2 && s.at.Sub(pr.history[1].at) >= rateWindow {
		pr.history = pr.history[1:]
	}
	pr.ticks++
	old := pr.history[0]
	st := progressState{
		read: s.read, upserted: s.upserted, failed: s.failed, notSent: s.notSent,
		percent: -1, eta: -1, elapsed: s.at.Sub(pr.start),
		pace: s.stats.Rate, retries: s.stats.Retried, throttled: s.stats.Throttled,
		spin: pr.ticks, dryRun: pr.cfg.dryRun,
	}
	dt := s.at.Sub(old.at).Seconds()
	if dt > 0 {
		st.recRate = float64(s.settled()-old.settled()) / dt
	}
	if total := pr.cfg.total; total > 0 {
		st.percent = int(min(100, s.bytes*100/total))
		if dt > 0 {
			if byteRate := float64(s.bytes-old.bytes) / dt; byteRate > 0 && s.bytes < total {
				st.eta = time.Duration(float64(total-s.bytes) / byteRate * float64(time.Second)).Round(time.Second)
			}
		}
		if s.bytes >= total {
			st.eta = 0
		}
	}
	st.status = waitStatus(s, pr.start, pr.lastIn)
	return st
}

// waitStatus says what the run is waiting for, if anything worth a word:
// a block, SFMC not answering, the last contacts, or the input.
func waitStatus(s progressSample, start, lastIn time.Time) string {
	st := s.stats
	pending := st.InFlight + st.QueueDepth
	switch {
	case st.Blocked:
		return fmt.Sprintf("SFMC blocked the requests (50200): paused, probing; %d retries", st.Retried)
	case pending > 0:
		since := st.LastAnswer
		if since.IsZero() {
			since = start
		}
		if silent := s.at.Sub(since); silent >= silentAfter {
			return fmt.Sprintf("SFMC not answering for %d s, %d retries", int(silent.Seconds()), st.Retried)
		}
		if s.eof {
			return fmt.Sprintf("sending the last %d", pending)
		}
	case !s.eof && s.at.Sub(lastIn) >= idleAfter:
		return fmt.Sprintf("waiting for input (%d s)", int(s.at.Sub(lastIn).Seconds()))
	}
	return ""
}

// fmtDuration formats d briefly: 12s, 3m04s, 2h05m.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtRate formats a per-second rate: 812/s, 3.5/s.
func fmtRate(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
	}
	return strconv.FormatFloat(r, 'f', 0, 64) + "/s"
}

// fmtCount formats a count exactly up to 99,999 and in three significant
// digits above (123k, 1.23M), or always exactly.
func fmtCount(n int64, exact bool) string {
	switch {
	case exact || n < 100_000:
		return strconv.FormatInt(n, 10)
	case n < 1_000_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	case n < 1_000_000_000:
		return compact(float64(n)/1e6) + "M"
	}
	return compact(float64(n)/1e9) + "G"
}

// compact formats f (at least 1) in three significant digits, rounding down.
func compact(f float64) string {
	switch {
	case f < 10:
		return strconv.FormatFloat(float64(int64(f*100))/100, 'f', 2, 64)
	case f < 100:
		return strconv.FormatFloat(float64(int64(f*10))/10, 'f', 1, 64)
	}
	return strconv.FormatInt(int64(f), 10)
}

// progressFields returns the parts of a progress line in display order,
// each with its priority (0 first) for a line that cannot hold them all;
// counts are exact, or compact for the bar.
func progressFields(s progressState, exact bool) (texts []string, prios []int) {
	add := func(prio int, format string, args ...any) {
		texts = append(texts, fmt.Sprintf(format, args...))
		prios = append(prios, prio)
	}
	n := func(v int64) string { return fmtCount(v, exact) }
	if s.status != "" {
		add(1, "%s", s.status)
	}
	add(2, "read %s", n(s.read))
	if s.dryRun {
		add(4, "valid %s", n(s.upserted))
	} else {
		add(4, "upserted %s", n(s.upserted))
	}
	if s.failed > 0 {
		add(5, "failed %s", n(s.failed))
	}
	if s.notSent > 0 {
		add(6, "not sent %s", n(s.notSent))
	}
	add(5, "%s", fmtRate(s.recRate))
	if s.eta > 0 {
		add(3, "ETA %s", fmtDuration(s.eta))
	}
	if s.retries > 0 {
		add(7, "%s retries", n(s.retries))
	}
	if s.throttled > 0 {
		add(8, "%s throttled", n(s.throttled))
	}
	if s.pace > 0 && !s.dryRun {
		add(9, "pace %s", fmtRate(s.pace))
	}
	add(10, "%s elapsed", fmtDuration(s.elapsed))
	return texts, prios
}

// fieldSep separates the parts of a progress line.
const fieldSep = " · "

// renderBar renders the live progress line for a terminal width columns
// wide: it never takes more than width-1 columns (the last column would
// make some terminals wrap), dropping the least important parts first,
// then cutting the line.
func renderBar(s progressState, width int) string {
	limit := max(width-1, 1)
	head := `|/-\`[s.spin%4 : s.spin%4+1]
	if s.percent >= 0 {
		head = fmt.Sprintf("%3d%%", s.percent)
	}
	texts, prios := progressFields(s, false)
	keep := make([]bool, len(texts))
	used := utf8.RuneCountInString(head)
	for prio := 0; prio <= 10; prio++ {
		for i, p := range prios {
			if p != prio {
				continue
			}
			w := utf8.RuneCountInString(texts[i]) + utf8.RuneCountInString(fieldSep)
			if used+w <= limit {
				keep[i] = true
				used += w
			}
		}
	}
	var b strings.Builder
	b.WriteString(head)
	if s.percent >= 0 {
		// A bar in the room that is left, when there is enough of it.
		if room := limit - used - 3; room >= 10 {
			n := min(room, 30)
			full := n * s.percent / 100
			b.WriteString(" [")
			b.WriteString(strings.Repeat("█", full))
			b.WriteString(strings.Repeat("░", n-full))
			b.WriteString("]")
		}
	}
	first := true
	for i, t := range texts {
		if !keep[i] {
			continue
		}
		if first {
			b.WriteString(" ")
			first = false
		} else {
			b.WriteString(fieldSep)
		}
		b.WriteString(t)
	}
	line := b.String()
	if utf8.RuneCountInString(line) > limit {
		line = string([]rune(line)[:limit])
	}
	return line
}

// renderPlain renders a progress log line: every part, no width limit.
func renderPlain(s progressState) string {
	texts, _ := progressFields(s, true)
	if s.percent >= 0 {
		texts = append([]string{fmt.Sprintf("%d%%", s.percent)}, texts...)
	}
	return strings.Join(texts, fieldSep)
}
