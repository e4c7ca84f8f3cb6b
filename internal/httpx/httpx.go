// Package httpx holds small HTTP helpers shared by the sfmc packages:
// Retry-After parsing, loopback detection and bounded body reading.
package httpx

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter parses a Retry-After header value: delay-seconds or an
// HTTP-date. It reports false for a missing or unparsable value. Negative
// results are clamped to zero and absurdly large ones to max (when max > 0),
// so a hostile or broken server cannot make a caller wait forever.
func ParseRetryAfter(v string, now time.Time, max time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) {
			return 0, false
		}
		switch {
		case secs <= 0:
			d = 0
		case secs >= float64(math.MaxInt64/int64(time.Second)):
			d = time.Duration(math.MaxInt64)
		default:
			d = time.Duration(secs * float64(time.Second))
		}
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d < 0 {
		d = 0
	}
	if max > 0 && d > max {
		d = max
	}
	return d, true
}

// IsLoopback reports whether host (a hostname without port) is a loopback
// name or address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ErrTooLarge is returned by ReadLimited when the body exceeds the limit.
var ErrTooLarge = errors.New("body exceeds size limit")

// ReadLimited reads at most limit bytes of r. When the body is longer it
// returns ErrTooLarge (after reading limit+1 bytes, never more). A known
// contentLength (>= 0) sizes the buffer in one allocation.
func ReadLimited(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return nil, ErrTooLarge
	}
	if contentLength >= 0 {
		buf := make([]byte, contentLength)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	n := limit + 1
	if n <= 0 { // limit+1 overflowed: a limit of MaxInt64 read nothing
		n = math.MaxInt64
	}
	buf, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > limit {
		return nil, ErrTooLarge
	}
	return buf, nil
}
