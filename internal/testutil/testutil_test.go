package testutil_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyncBuffer(t *testing.T) {
	t.Parallel()
	var b testutil.SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = fmt.Fprintf(&b, "%d\n", i)
			}
		})
	}
	wg.Wait()
	assert.Len(t, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"), 800)
}

func TestJSONResponse(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest(http.MethodGet, "https://x.example/a", nil)
	require.NoError(t, err)
	resp := testutil.JSONResponse(req, 429, `{"a":1}`, "Retry-After", "2")
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "429 Too Many Requests", resp.Status)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, int64(7), resp.ContentLength)
	assert.Same(t, req, resp.Request)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(body))
}

// InMemory serves without a socket: a handler's sleep runs on a bubble's
// fake clock, and the handler sees the request as a server would.
func TestInMemory(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var gotURI, gotHost, gotBody string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotURI, gotHost = r.RequestURI, r.Host
			b, _ := io.ReadAll(r.Body)
			gotBody = string(b)
			time.Sleep(time.Hour)
			testutil.JSONHandler(201, `{"ok":true}`, "X-Id", "7")(w, r)
		})
		hc := &http.Client{Transport: testutil.InMemory(h)}
		start := time.Now()
		resp, err := hc.Post("https://x.example/p?q=1", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, time.Hour, time.Since(start), "the handler's sleep, on the fake clock")
		assert.Equal(t, 201, resp.StatusCode)
		assert.Equal(t, "7", resp.Header.Get("X-Id"))
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.JSONEq(t, `{"ok":true}`, string(b))
		assert.Equal(t, "/p?q=1", gotURI)
		assert.Equal(t, "x.example", gotHost)
		assert.Equal(t, `{}`, gotBody)

		// A GET has no body; the handler still gets one to read.
		resp, err = hc.Get("https://x.example/g")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Empty(t, gotBody)
	})
}

// fakeTB records Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestRecv(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int, 1)
		ch <- 7
		assert.Equal(t, 7, testutil.Recv(t, ch, time.Second, "value"))

		start := time.Now()
		f := &fakeTB{}
		assert.Zero(t, testutil.Recv(f, make(chan int), time.Minute, "nothing sent"))
		assert.Equal(t, "nothing sent: nothing within 1m0s", f.fatal)
		assert.Equal(t, time.Minute, time.Since(start), "failed after the wait, on the fake clock")
	})
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		assert.True(t, testutil.WaitFor(time.Second, 10*time.Millisecond, func() bool { return time.Since(start) >= 30*time.Millisecond }))
		assert.Equal(t, 30*time.Millisecond, time.Since(start), "polled every interval")
		start = time.Now()
		assert.False(t, testutil.WaitFor(time.Second, 10*time.Millisecond, func() bool { return false }))
		assert.Equal(t, time.Second, time.Since(start), "gave up at the timeout")
	})
}
