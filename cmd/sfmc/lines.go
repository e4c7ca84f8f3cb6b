package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// maxLineBytes is the longest input line push accepts (16 MiB). A longer
// line becomes a failure record and reading resumes at the next line.
const maxLineBytes = 16 << 20

// Batching of input lines between the reader goroutine and the pusher.
const (
	batchLines   = 256      // lines per batch, at most
	batchBytes   = 1 << 20  // bytes per batch, at most (a single longer line gets a batch of its own)
	batchKeepCap = 4 << 20  // larger buffers are dropped after use, not kept
	batchCount   = 4        // batches in circulation: bounds the reader's memory
	readerBuffer = 64 << 10 // bufio.Reader size
)

// utf8BOM is the UTF-8 byte-order mark some tools write at the start of a
// file; it is skipped.
var utf8BOM = []byte("\xef\xbb\xbf")

// errStopped is what the input's Read returns to the reader goroutine
// once Stop was called.
var errStopped = errors.New("reading stopped")

// lineRef locates one line in a batch's data: an NDJSON line, or a CSV
// record as the NDJSON line of its profile.
type lineRef struct {
	num        int64 // 1-based line number in the input (where a CSV record starts)
	endNum     int64 // last line of a CSV record spanning several lines (0: num)
	start, end int   // data[start:end], without the line break
	tooLong    int64 // when > 0: the line had this many bytes and was dropped
	// err, when set, is why the record cannot be used, found by the
	// reader (a CSV record that does not parse); data[start:end] is then
	// its original text, and key its contact key when it is known.
	err string
	key *string
}

// last returns the last input line l occupies.
func (l lineRef) last() int64 { return max(l.num, l.endNum) }

// lineBatch is a group of input lines sharing one buffer.
type lineBatch struct {
	data  []byte
	lines []lineRef
}

// line returns the bytes of l.
func (b *lineBatch) line(l lineRef) []byte { return b.data[l.start:l.end] }

func (b *lineBatch) reset() {
	if cap(b.data) > batchKeepCap {
		b.data = nil
	}
	b.data = b.data[:0]
	b.lines = b.lines[:0]
}

// lineReader reads lines from r on its own goroutine and hands them over
// in batches, so that the consumer can stop at once (Ctrl-C) even while a
// read blocks. Memory is bounded: batchCount batches circulate.
//
// A line is read once all of its bytes through its line break (or the end
// of the input) have been taken off r. The reader hands over every line it
// has read before it calls r.Read again unless another complete line is
// already buffered, so a line from a slow pipe reaches the consumer as
// soon as it arrives, and a reader blocked in Read holds no line: Stop
// returns every line read and not yet consumed, and a line still being
// received when Stop is called is not read (its number is the resume
// point).
type lineReader struct {
	batches chan *lineBatch // filled batches, closed when the goroutine ends
	free    chan *lineBatch // batches to fill
	stop    chan struct{}   // closed by Stop
	max     int64           // longest line accepted, in bytes (maxLineBytes)
	// check, when set, is applied to the first line that is not blank: an
	// error stops reading there (the line is not read) and is the read
	// error (an *inputFormatError).
	check func(num int64, line []byte) error

	// consumed counts the input bytes of the lines handed over or about to
	// be (the BOM included), for the progress.
	consumed atomic.Int64

	mu      sync.Mutex
	stopped bool // Stop was called: Read returns errStopped
	inRead  bool // the goroutine is in r.Read, holding no complete line

	err error // read error other than EOF (under mu)
	eof bool  // the whole input was read (under mu)
}

// newLineReader starts reading r, accepting lines of up to maxLineBytes.
func newLineReader(r io.Reader) *lineReader { return newLineReaderMax(r, maxLineBytes) }

// newLineReaderMax starts reading r, accepting lines of up to max bytes.
func newLineReaderMax(r io.Reader, max int64) *lineReader {
	return startLineReader(r, max, nil)
}

// newNDJSONReader starts reading r as NDJSON: lines of up to
// maxLineBytes, the first of which must look like a JSON object
// (ndjsonStart).
func newNDJSONReader(r io.Reader) *lineReader {
	return startLineReader(r, maxLineBytes, ndjsonStart)
}

// startLineReader starts reading r line by line.
func startLineReader(r io.Reader, max int64, check func(int64, []byte) error) *lineReader {
	lr := newReaderState(max)
	lr.check = check
	go lr.loop(&stopReader{r: r, lr: lr})
	return lr
}

// newReaderState returns a lineReader whose goroutine is yet to start.
func newReaderState(max int64) *lineReader {
	lr := &lineReader{
		max: max,
		// Room for every batch: a send never blocks.
		batches: make(chan *lineBatch, batchCount),
		free:    make(chan *lineBatch, batchCount),
		stop:    make(chan struct{}),
	}
	for range batchCount {
		lr.free <- &lineBatch{data: make([]byte, 0, batchBytes), lines: make([]lineRef, 0, batchLines)}
	}
	return lr
}

// Release gives a consumed batch back for reuse.
func (lr *lineReader) Release(b *lineBatch) {
	b.reset()
	select {
	case lr.free <- b:
	default:
	}
}

// Stop stops reading and returns the batches of lines read but not yet
// received from batches, in order. It waits for the goroutine only when
// it is not blocked in Read (then it soon stops); a Read that is blocked
// stays blocked until it returns, and whatever it returns is dropped.
// Stop must be called once, by the consumer.
func (lr *lineReader) Stop() []*lineBatch {
	lr.mu.Lock()
	lr.stopped = true
	blocked := lr.inRead
	lr.mu.Unlock()
	close(lr.stop)
	var rest []*lineBatch
	if blocked {
		// Every line read was handed over before that Read.
		for {
			select {
			case b, ok := <-lr.batches:
				if !ok {
					return rest
				}
				rest = append(rest, b)
			default:
				return rest
			}
		}
	}
	for b := range lr.batches {
		rest = append(rest, b)
	}
	return rest
}

// state reports whether the whole input was read, and the read error
// (other than EOF) that ended reading, if any.
func (lr *lineReader) state() (eof bool, err error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.eof, lr.err
}

// stopReader is the input as the reader goroutine sees it: it records
// when a Read is under way and fails once Stop was called.
type stopReader struct {
	r  io.Reader
	lr *lineReader
}

func (s *stopReader) Read(p []byte) (int, error) {
	lr := s.lr
	lr.mu.Lock()
	if lr.stopped {
		lr.mu.Unlock()
		return 0, errStopped
	}
	lr.inRead = true
	lr.mu.Unlock()
	n, err := s.r.Read(p)
	lr.mu.Lock()
	lr.inRead = false
	stopped := lr.stopped
	lr.mu.Unlock()
	if stopped {
		return 0, errStopped // arrived after Stop: nobody takes it any more
	}
	return n, err
}

// completeLineBuffered reports whether br holds a whole line, so that the
// next ReadSlice will not call Read.
func completeLineBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

// next returns a free batch to fill, or false once Stop was called.
func (lr *lineReader) next() (*lineBatch, bool) {
	select {
	case b := <-lr.free:
		return b, true
	case <-lr.stop:
		return nil, false
	}
}

// setErr records why reading ended: the end of the input, Stop, or an
// error.
func (lr *lineReader) setErr(err error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	switch {
	case err == io.EOF:
		lr.eof = true
	case errors.Is(err, errStopped):
	default:
		lr.err = err
	}
}

func (lr *lineReader) loop(r io.Reader) {
	defer close(lr.batches)
	br := bufio.NewReaderSize(r, readerBuffer)
	var b *lineBatch
	get := func() bool {
		var ok bool
		b, ok = lr.next()
		return ok
	}
	setErr := lr.setErr
	if !get() {
		return
	}
	if bom, err := br.Peek(len(utf8BOM)); bytes.Equal(bom, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		lr.consumed.Add(int64(len(utf8BOM)))
	} else if err != nil && len(bom) == 0 {
		setErr(err)
		return
	}
	var num int64
	checked := lr.check == nil
	for {
		if n := len(b.lines); n > 0 && (n >= batchLines || len(b.data) >= batchBytes || !completeLineBuffered(br)) {
			lr.batches <- b // never blocks: the channel has room for every batch
			if !get() {
				return
			}
		}
		start := len(b.data)
		var n int64
		over := false
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			n += int64(len(frag))
			if !over && n > lr.max+2 { // +2: room for "\r\n"
				over = true
				b.data = b.data[:start]
			}
			if !over {
				b.data = append(b.data, frag...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && (n == 0 || err != io.EOF) {
			// Nothing more, or a line cut short by an error or by Stop:
			// not a line.
			b.data = b.data[:start]
			setErr(err)
			break
		}
		num++
		ref := lineRef{num: num, start: start, end: len(b.data)}
		ref.end = start + len(trimLineBreak(b.data[start:ref.end]))
		if over || int64(ref.end-ref.start) > lr.max {
			ref.tooLong = n
			ref.end = start
			b.data = b.data[:start]
		}
		if !checked && ref.tooLong == 0 && len(bytes.TrimSpace(b.line(ref))) > 0 {
			checked = true
			if cerr := lr.check(num, b.line(ref)); cerr != nil {
				b.data = b.data[:start]
				setErr(cerr)
				break
			}
		}
		lr.consumed.Add(n)
		b.lines = append(b.lines, ref)
		if err != nil { // io.EOF after a last line without a line break
			setErr(err)
			break
		}
	}
	if len(b.lines) > 0 {
		lr.batches <- b
	}
}

// trimLineBreak removes one "\n" or "\r\n" from the end of line, nothing
// else.
func trimLineBreak(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}
