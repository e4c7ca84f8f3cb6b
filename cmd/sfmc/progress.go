package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sfmc-go/sfmc"
	"golang.org/x/term"
)

// progressInterval is how often the progress bar is refreshed.
const progressInterval = 250 * time.Millisecond

// isTerminal reports whether w is a terminal (an *os.File on a tty).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a live bar of a push: records read (with the rate), and
// upserted, failed, not sent and throttled in the description.
type progress struct {
	bar  *progressbar.ProgressBar
	w    io.Writer
	quit chan struct{}
	done chan struct{}
}

// startProgress starts refreshing a bar on w from p's counters and up's
// stats until stop is called.
func startProgress(w io.Writer, p *pusher, up *sfmc.Upserter) *progress {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rec"),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(progressInterval/2),
	)
	pr := &progress{bar: bar, w: w, quit: make(chan struct{}), done: make(chan struct{})}
	update := func() {
		st := up.Stats()
		bar.Describe(fmt.Sprintf("read %d · upserted %d · failed %d · not sent %d · throttled %d",
			p.read.Load(), p.upserted.Load(), p.failed.Load(), p.notSent.Load(), st.Throttled))
		_ = bar.Set64(p.read.Load())
	}
	go func() {
		defer close(pr.done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-pr.quit:
				update()
				return
			case <-t.C:
				update()
			}
		}
	}()
	return pr
}

// stop draws the bar a last time and ends its line.
func (pr *progress) stop() {
	close(pr.quit)
	<-pr.done
	_ = pr.bar.Finish()
	fmt.Fprintln(pr.w)
}
