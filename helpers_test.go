package sfmc

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// Recognisable credentials: the leak tests search for them in every error
// and log line.
const (
	testSubdomain = "mcq4jrssqdlyc4lph19nnqgzzs84"
	testClientID  = "client-id-123"
	testSecret    = "SECRET-s3cr3t-XYZ"
	testTokenBase = "TOKEN-t0k3n-XYZ" // every issued token starts with it
	testAuthBase  = "https://" + testSubdomain + ".auth.marketingcloudapis.com"
	testTokenURL  = testAuthBase + "/v2/token"
	testRESTBase  = "https://" + testSubdomain + ".rest.marketingcloudapis.com"
	testPath      = "/contacts/v1/test"
	testRESTURL   = testRESTBase + testPath
)

func testConfig() Config {
	return Config{Subdomain: testSubdomain, ClientID: testClientID, ClientSecret: testSecret}
}

// tokenMock answers token requests, issuing testTokenBase-1, -2, ... and
// counting them. Fields may be set while no request is in flight.
type tokenMock struct {
	expiresIn int
	rest      string // rest_instance_url
	// fail, when set, answers instead of issuing a token.
	fail httpmock.Responder
	// gate, when set, is received from before answering.
	gate chan struct{}

	n      atomic.Int64
	mu     sync.Mutex
	bodies []map[string]any
	reqs   []*http.Request
	times  []time.Time // arrival of each request
}

func newTokenMock() *tokenMock {
	return &tokenMock{expiresIn: 1080, rest: testRESTBase + "/"}
}

func (tm *tokenMock) count() int { return int(tm.n.Load()) }

func (tm *tokenMock) lastBody() map[string]any {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if len(tm.bodies) == 0 {
		return nil
	}
	return tm.bodies[len(tm.bodies)-1]
}

func (tm *tokenMock) respond(req *http.Request) (*http.Response, error) {
	n := tm.n.Add(1)
	raw, _ := io.ReadAll(req.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	tm.mu.Lock()
	tm.bodies = append(tm.bodies, m)
	tm.reqs = append(tm.reqs, req)
	tm.times = append(tm.times, time.Now())
	tm.mu.Unlock()
	if tm.gate != nil {
		<-tm.gate
	}
	if tm.fail != nil {
		return tm.fail(req)
	}
	body := fmt.Sprintf(`{"access_token":%q,"expires_in":%d,"token_type":"Bearer","rest_instance_url":%q,"soap_instance_url":"x.soap.marketingcloudapis.com","scope":"list_and_subscribers_read"}`,
		fmt.Sprintf("%s-%d", testTokenBase, n), tm.expiresIn, tm.rest)
	return testutil.JSONResponse(req, 200, body), nil
}

// arrivals returns when each token request arrived.
func (tm *tokenMock) arrivals() []time.Time {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return append([]time.Time(nil), tm.times...)
}

func tokenN(n int) string { return fmt.Sprintf("%s-%d", testTokenBase, n) }

// jsonResponder answers with testutil.JSONResponse.
func jsonResponder(status int, body string, header ...string) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		return testutil.JSONResponse(req, status, body, header...), nil
	}
}

// restMock counts REST requests and answers the i-th with steps[i] (the
// last step repeats), recording each request's Authorization header, body
// and arrival time.
type restMock struct {
	steps []httpmock.Responder

	mu     sync.Mutex
	calls  int
	auths  []string
	bodies []string
	times  []time.Time
}

func newRESTMock(steps ...httpmock.Responder) *restMock { return &restMock{steps: steps} }

func (m *restMock) respond(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	m.mu.Lock()
	i := m.calls
	m.calls++
	m.auths = append(m.auths, req.Header.Get("Authorization"))
	m.bodies = append(m.bodies, string(body))
	m.times = append(m.times, time.Now())
	step := m.steps[min(i, len(m.steps)-1)]
	m.mu.Unlock()
	return step(req)
}

func (m *restMock) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// arrivals returns when each REST request arrived.
func (m *restMock) arrivals() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Time(nil), m.times...)
}

func (m *restMock) authHeaders() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.auths...)
}

// fastRetry keeps retrying tests quick.
func fastRetry(max int) Option { return WithRetry(max, time.Millisecond, 5*time.Millisecond) }

// newMockClient returns a client on a fresh httpmock transport (never the
// global one) whose token endpoint is tm (a default one when nil). REST
// responders are registered on the returned transport.
func newMockClient(t *testing.T, tm *tokenMock, opts ...Option) (*Client, *httpmock.MockTransport, *tokenMock) {
	t.Helper()
	if tm == nil {
		tm = newTokenMock()
	}
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
	// A ceiling far above what tests send: the pace starts there instead
	// of in slow start (the pace itself is tested with its own clients).
	all := append([]Option{WithHTTPClient(&http.Client{Transport: mt}), fastRetry(2), WithRateLimit(1e5, 100)}, opts...)
	c, err := NewClient(testConfig(), all...)
	require.NoError(t, err)
	return c, mt, tm
}

// requireNoSecret fails when the secret or a token appears in s.
func requireNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testSecret, testTokenBase} {
		require.NotContainsf(t, s, secret, "%s leaks %q", what, secret)
	}
}
