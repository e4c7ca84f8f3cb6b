package sfmctest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestLogBounded(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithRequestLogSize(3))
	tok := token(t, s)
	before := time.Now()
	for i := range 5 {
		do(t, http.MethodGet, fmt.Sprintf("%s/contacts/v1/x%d", s.URL(), i), tok, nil)
	}
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, fmt.Sprintf("/contacts/v1/x%d", i+2), r.Path)
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, 404, r.Status)
		assert.False(t, r.Time.Before(before))
	}
	st := s.Stats()
	assert.Equal(t, int64(5), st.RESTRequests)
	assert.Equal(t, int64(5), st.ByStatus[404])

	off := newTestServer(t, WithRequestLogSize(0))
	token(t, off)
	assert.Empty(t, off.Requests())
	assert.Equal(t, int64(1), off.Stats().TokenRequests)
}

func TestReset(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithCredentials("me", "pw"))
	s.AddAttribute("Custom", Attribute{Name: "A", DataType: "Text"})
	tok := token(t, s)
	status, _ := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody("K", map[string]map[string]any{"Custom": {"A": "x"}}))
	require.Equal(t, 200, status)
	s.FailNext(5, Fault500)
	s.SetFaultRate(Fault503, 1)

	s.Reset()
	assert.Empty(t, s.Contacts())
	assert.Empty(t, s.Requests())
	assert.Equal(t, Stats{ByStatus: map[int]int64{}}, s.Stats())

	// Faults are gone, the token and definitions are kept, ids start over.
	status, body := do(t, http.MethodPatch, s.URL()+"/contacts/v1/contacts", tok, contactBody("K2", map[string]map[string]any{"Custom": {"A": "y"}}))
	require.Equal(t, 200, status)
	m := decode(t, body)
	assert.Equal(t, "OK", m["operationStatus"])
	assert.Equal(t, float64(1), m["contactID"])
	id, secret := s.Credentials()
	assert.Equal(t, "me", id)
	assert.Equal(t, "pw", secret)
}

func TestConfigAndURL(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithAccountID("123"), WithCredentials("cid", "sec"))
	cfg := s.Config()
	assert.Equal(t, "sfmctest", cfg.Subdomain)
	assert.Equal(t, "cid", cfg.ClientID)
	assert.Equal(t, "sec", cfg.ClientSecret)
	assert.Equal(t, "123", cfg.AccountID)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, s.URL())
	assert.Len(t, s.ClientOptions(), 2)
}

func TestStartServerBadAddr(t *testing.T) {
	t.Parallel()
	s, err := StartServer(WithAddr("256.0.0.1:-1"))
	require.Error(t, err)
	assert.Nil(t, s)
	assert.Panics(t, func() { NewServer(WithAddr("256.0.0.1:-1")) })
}

func TestWithAddr(t *testing.T) {
	t.Parallel()
	// Find a free port, then listen on it explicitly.
	probe := NewServer()
	addr := probe.URL()[len("http://"):]
	probe.Close()
	s, err := StartServer(WithAddr(addr))
	if err != nil {
		t.Skipf("port %s taken again: %v", addr, err)
	}
	defer s.Close()
	assert.Equal(t, "http://"+addr, s.URL())
	token(t, s)
}
