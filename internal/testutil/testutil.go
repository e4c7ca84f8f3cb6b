// Package testutil holds the helpers the module's tests share: a log sink
// safe for concurrent writers, in-memory HTTP answers and transports (which
// work inside a testing/synctest bubble, where real sockets do not), and
// waiting helpers that fail a test instead of hanging it.
//
// It is imported by tests only.
package testutil

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is an io.Writer safe for concurrent use: a log sink that a
// client's goroutines write to while the test reads it. The zero value is
// ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RoundTripFunc is an http.RoundTripper made of a function.
type RoundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f RoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// JSONResponse returns an in-memory answer to req (which may be nil) with
// the status, the JSON body, its Content-Length, Content-Type
// application/json, and the header name/value pairs given.
func JSONResponse(req *http.Request, status int, body string, header ...string) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}

// JSONHandler answers every request with the status and the JSON body,
// after setting the header name/value pairs given.
func JSONHandler(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// InMemory returns a RoundTripper that serves each request with h on the
// calling goroutine, without a socket: h's waits (time.Sleep, timers) then
// run on the fake clock of a testing/synctest bubble. The answer is
// complete when RoundTrip returns (no streaming, no hijacking): use a real
// server (httptest, sfmctest) for what happens on the wire.
func InMemory(h http.Handler) http.RoundTripper {
	return RoundTripFunc(func(req *http.Request) (*http.Response, error) {
		// What a server would see: a body (maybe empty), the request URI
		// and the Host.
		in := req.Clone(req.Context())
		if in.Body == nil {
			in.Body = http.NoBody
		}
		in.RequestURI = req.URL.RequestURI()
		if in.Host == "" {
			in.Host = req.URL.Host
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, in)
		if req.Body != nil {
			_ = req.Body.Close()
		}
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	})
}

// Recv returns the next value received from ch. It fails t when none
// arrives within d: in a synctest bubble, d passes at once when every
// goroutine is blocked, so a hang fails fast instead of at the test
// binary's timeout.
func Recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}

// WaitFor polls cond every interval until it holds or timeout passes, and
// reports whether it held. Unlike testify's Eventually it starts no
// goroutine, so it can wait for a goroutine count.
func WaitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}
