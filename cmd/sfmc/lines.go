package main

import (
	"bufio"
	"bytes"
	"io"
)

// maxLineBytes is the longest input line push accepts (16 MiB). A longer
// line becomes a failure record and reading resumes at the next line.
const maxLineBytes = 16 << 20

// Batching of input lines between the reader goroutine and the pusher.
const (
	batchLines   = 256      // lines per batch
	batchBytes   = 1 << 20  // bytes per batch (a single longer line gets a batch of its own)
	batchKeepCap = 4 << 20  // larger buffers are dropped after use, not kept
	batchCount   = 4        // batches in circulation: bounds the reader's memory
	readerBuffer = 64 << 10 // bufio.Reader size
)

// lineRef locates one line in a batch's data.
type lineRef struct {
	num        int64 // 1-based line number in the input
	start, end int   // data[start:end], without the line break
	tooLong    int64 // when > 0: the line had this many bytes and was dropped
}

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
type lineReader struct {
	batches chan *lineBatch // filled batches, closed at the end of input
	free    chan *lineBatch // batches to fill
	stop    chan struct{}   // closed by Stop
	max     int64           // longest line accepted, in bytes (maxLineBytes)
	err     error           // read error other than EOF, set before batches is closed
}

// newLineReader starts reading r, accepting lines of up to maxLineBytes.
func newLineReader(r io.Reader) *lineReader { return newLineReaderMax(r, maxLineBytes) }

// newLineReaderMax starts reading r, accepting lines of up to max bytes.
func newLineReaderMax(r io.Reader, max int64) *lineReader {
	lr := &lineReader{
		max:     max,
		batches: make(chan *lineBatch, batchCount),
		free:    make(chan *lineBatch, batchCount),
		stop:    make(chan struct{}),
	}
	for range batchCount {
		lr.free <- &lineBatch{data: make([]byte, 0, batchBytes), lines: make([]lineRef, 0, batchLines)}
	}
	go lr.loop(r)
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

// Stop makes the reader goroutine quit at its next hand-over. A read that
// is blocked stays blocked until it returns.
func (lr *lineReader) Stop() { close(lr.stop) }

func (lr *lineReader) loop(r io.Reader) {
	defer close(lr.batches)
	br := bufio.NewReaderSize(r, readerBuffer)
	var b *lineBatch
	get := func() bool {
		select {
		case b = <-lr.free:
			return true
		case <-lr.stop:
			return false
		}
	}
	send := func() bool {
		select {
		case lr.batches <- b:
			b = nil
			return true
		case <-lr.stop:
			return false
		}
	}
	if !get() {
		return
	}
	var num int64
	for {
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
		if n == 0 && err != nil {
			if err != io.EOF {
				lr.err = err
			}
			break
		}
		num++
		ref := lineRef{num: num, start: start, end: len(b.data)}
		ref.end = start + len(bytes.TrimRight(b.data[start:ref.end], "\r\n"))
		if over || int64(ref.end-ref.start) > lr.max {
			ref.tooLong = n
			ref.end = start
			b.data = b.data[:start]
		}
		b.lines = append(b.lines, ref)
		if err != nil {
			if err != io.EOF {
				lr.err = err
			}
			break
		}
		if len(b.lines) >= batchLines || len(b.data) >= batchBytes {
			if !send() || !get() {
				return
			}
		}
	}
	if len(b.lines) > 0 {
		send()
	}
}
