package sfmctest

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault      Fault
		status     int
		code       float64
		retryAfter string
	}{
		{Fault429, 429, 50100, "2"},
		{FaultBlocked, 429, 50200, ""},
		{Fault500, 500, -1, ""},
		{Fault503, 503, 50300, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, WithRetryAfter(1500*time.Millisecond))
			tok := token(t, s)
			s.FailNext(2, tt.fault)
			for range 2 {
				resp := doResp(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody("K", nil))
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				_ = resp.Body.Close()
				require.Equal(t, tt.status, resp.StatusCode)
				assert.Equal(t, tt.retryAfter, resp.Header.Get("Retry-After"))
				m := decode(t, b)
				if tt.code >= 0 {
					assert.Equal(t, tt.code, m["errorcode"])
				} else {
					assert.NotContains(t, m, "errorcode")
				}
				if tt.retryAfter != "" {
					assert.Equal(t, float64(2), m["retryAfter"])
				} else {
					assert.NotContains(t, m, "retryAfter")
				}
				assert.NotEmpty(t, m["message"])
			}
			assert.Empty(t, s.Contacts(), "faulted requests are not applied")
			status, _ := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody("K", nil))
			assert.Equal(t, 200, status, "only n requests fail")
			st := s.Stats()
			assert.Equal(t, int64(2), st.ByStatus[tt.status])
			assert.Equal(t, int64(1), st.TokenRequests, "token endpoint not faulted")
		})
	}
}

func TestFaultsDoNotApplyToToken(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.FailNext(1, Fault500)
	s.SetLatency(time.Hour)
	s.SetRateLimit(0.001, 1)
	tok := token(t, s) // neither delayed, limited nor faulted
	s.SetLatency(0)
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 500, status, "the queued fault hits the first REST request")
}

func TestFaultOrderBeforeAuth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.FailNext(1, Fault503)
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", "", nil)
	assert.Equal(t, 503, status)
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", "", nil)
	assert.Equal(t, 401, status)
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  Fault
		stored bool
	}{
		{FaultDrop, false},
		{FaultDropAfterWrite, true},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t)
			tok := token(t, s)
			s.FailNext(1, tt.fault)
			resp, err := tryDo(http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok,
				contactBody("D", map[string]map[string]any{"Email Demographics": {"First Name": "Dee"}}))
			if err == nil {
				_ = resp.Body.Close()
			}
			require.Error(t, err, "connection closed without an answer")
			c, ok := s.Contact("D")
			assert.Equal(t, tt.stored, ok)
			if tt.stored {
				assert.Equal(t, "Dee", c.Sets["Email Demographics"]["First Name"])
			}
			st := s.Stats()
			assert.Equal(t, int64(1), st.Dropped)
			assert.Equal(t, int64(1), st.ByStatus[200], "only the token answered 200")
			reqs := s.Requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, 0, reqs[1].Status)
			assert.Equal(t, http.MethodPatch, reqs[1].Method)
			assert.Equal(t, "/contacts/v1/contacts", reqs[1].Path)
			if tt.stored {
				assert.Equal(t, int64(1), st.Writes)
			} else {
				assert.Zero(t, st.Writes)
			}
			// The server keeps working.
			status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
			assert.Equal(t, 200, status)
		})
	}
}

// faultPattern returns which of n requests failed.
func faultPattern(t *testing.T, seed int64, n int) []bool {
	t.Helper()
	s := newTestServer(t, WithSeed(seed), WithFaultRate(Fault500, 0.3))
	tok := token(t, s)
	out := make([]bool, n)
	for i := range n {
		status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
		require.Contains(t, []int{200, 500}, status)
		out[i] = status == 500
	}
	return out
}

func TestFaultRateDeterministic(t *testing.T) {
	t.Parallel()
	a := faultPattern(t, 42, 200)
	b := faultPattern(t, 42, 200)
	assert.Equal(t, a, b, "same seed, same faults")
	failed := 0
	for _, f := range a {
		if f {
			failed++
		}
	}
	assert.InDelta(t, 60, failed, 30, "about 30%% fail")
	c := faultPattern(t, 7, 200)
	assert.NotEqual(t, a, c, "another seed, other faults")
}

func TestSetFaultRateRemove(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	s.SetFaultRate(Fault503, 1)
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 503, status)
	s.SetFaultRate(Fault503, 0)
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 200, status)
	// Unknown faults and bad values are ignored, not panics.
	s.SetFaultRate(Fault(99), 1)
	s.FailNext(3, Fault(0))
	s.FailNext(-1, Fault500)
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 200, status)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithRateLimit(1, 3))
	tok := token(t, s)
	var statuses []int
	var retry string
	var body map[string]any
	for range 5 {
		resp := doResp(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		_ = resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 429 {
			retry = resp.Header.Get("Retry-After")
			body = decode(t, b)
		}
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429}, statuses)
	// The wait until the bucket has a token again: just under a second at
	// 1/s, sent as a fraction because it is shorter than a second.
	secs, err := strconv.ParseFloat(retry, 64)
	require.NoError(t, err)
	assert.Greater(t, secs, 0.0)
	assert.LessOrEqual(t, secs, 1.0)
	assert.Equal(t, float64(50100), body["errorcode"])
	assert.Equal(t, secs, body["retryAfter"])

	s.SetRateLimit(0, 0)
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 200, status, "limit removed")
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithLatency(100*time.Millisecond))
	tok := token(t, s)
	start := time.Now()
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestCloseDuringLatency(t *testing.T) {
	t.Parallel()
	s := NewServer(WithLatency(time.Hour))
	tok := token(t, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := tryDo(http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return len(s.Requests()) == 1 && s.stats.inflight.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	s.Close()
	s.Close() // idempotent
	testutil.Recv(t, done, 10*time.Second, "Close ends the delayed request")
}
