package httpx

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		v      string
		max    time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"empty", "", 0, 0, false},
		{"blank", "   ", 0, 0, false},
		{"seconds", "5", 0, 5 * time.Second, true},
		{"seconds with spaces", " 5 ", 0, 5 * time.Second, true},
		{"zero", "0", 0, 0, true},
		{"fractional", "1.5", 0, 1500 * time.Millisecond, true},
		{"negative", "-3", 0, 0, true},
		{"huge uncapped", "1e300", 0, time.Duration(math.MaxInt64), true},
		{"huge capped", "99999999999999999999", time.Minute, time.Minute, true},
		{"capped", "3600", 50 * time.Millisecond, 50 * time.Millisecond, true},
		{"below cap", "1", time.Minute, time.Second, true},
		{"inf", "Inf", time.Minute, time.Minute, true},
		{"nan", "NaN", time.Minute, 0, false},
		{"date future", now.Add(90 * time.Second).Format(http.TimeFormat), 0, 90 * time.Second, true},
		{"date future capped", now.Add(time.Hour).Format(http.TimeFormat), time.Second, time.Second, true},
		{"date past", now.Add(-time.Hour).Format(http.TimeFormat), 0, 0, true},
		{"date RFC 850", "Friday, 02-Jan-26 03:05:05 GMT", 0, time.Minute, true},
		{"garbage", "soon", 0, 0, false},
		{"number with unit", "5s", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseRetryAfter(tt.v, now, tt.max)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"sim.localhost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"", false},
		{"localhost.evil.com", false},
		{"evil-localhost", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"example.com", false},
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, IsLoopback(tt.host))
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadLimited(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100)
	tests := []struct {
		name          string
		body          string
		contentLength int64
		limit         int64
		want          string
		wantErr       error
		maxRead       int64
	}{
		{name: "unknown length, under", body: "hello", contentLength: -1, limit: 10, want: "hello"},
		{name: "unknown length, at limit", body: big[:10], contentLength: -1, limit: 10, want: big[:10]},
		{name: "unknown length, over", body: big, contentLength: -1, limit: 10, wantErr: ErrTooLarge, maxRead: 11},
		{name: "known length, under", body: "hello", contentLength: 5, limit: 10, want: "hello"},
		{name: "known length, at limit", body: big[:10], contentLength: 10, limit: 10, want: big[:10]},
		{name: "known length, over", body: big, contentLength: 100, limit: 10, wantErr: ErrTooLarge, maxRead: 0},
		{name: "known length, body shorter", body: "abc", contentLength: 5, limit: 10, wantErr: io.ErrUnexpectedEOF},
		{name: "empty", body: "", contentLength: 0, limit: 10, want: ""},
		{name: "empty unknown", body: "", contentLength: -1, limit: 10, want: ""},
		{name: "max limit, unknown length", body: "hello", contentLength: -1, limit: math.MaxInt64, want: "hello"},
		{name: "max limit, known length", body: "hello", contentLength: 5, limit: math.MaxInt64, want: "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cr := &countingReader{r: strings.NewReader(tt.body)}
			got, err := ReadLimited(cr, tt.contentLength, tt.limit)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				if tt.maxRead >= 0 && errors.Is(tt.wantErr, ErrTooLarge) {
					assert.LessOrEqual(t, cr.n, tt.maxRead, "never reads past limit+1")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestReadLimitedEndlessAndErrors(t *testing.T) {
	t.Parallel()
	endless := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), iotest.ErrReader(errors.New("must not be reached")))
	_, err := ReadLimited(endless, -1, 1024)
	require.ErrorIs(t, err, ErrTooLarge)

	boom := errors.New("boom")
	_, err = ReadLimited(iotest.ErrReader(boom), -1, 1024)
	require.ErrorIs(t, err, boom)
	_, err = ReadLimited(iotest.ErrReader(boom), 10, 1024)
	require.ErrorIs(t, err, boom)
}
