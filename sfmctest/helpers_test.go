package sfmctest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newTestServer starts a server closed at the end of the test.
func newTestServer(t *testing.T, opts ...ServerOption) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// token gets an access token with a JSON token request.
func token(t *testing.T, s *Server) string {
	t.Helper()
	id, secret := s.Credentials()
	status, body := do(t, http.MethodPost, s.URL()+"/v2/token", "", map[string]any{
		"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
	})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(body, &tr))
	require.NotEmpty(t, tr.AccessToken)
	return tr.AccessToken
}

// do sends a request; body may be nil, a string (sent as is) or a value
// encoded as JSON.
func do(t *testing.T, method, url, tok string, body any) (int, []byte) {
	t.Helper()
	resp := doResp(t, method, url, tok, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func doResp(t *testing.T, method, url, tok string, body any) *http.Response {
	t.Helper()
	resp, err := tryDo(method, url, tok, body)
	require.NoError(t, err)
	return resp
}

func tryDo(method, url, tok string, body any) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return http.DefaultClient.Do(req)
}

// decode unmarshals b into a generic map.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return m
}

// contactBody builds a contact request body.
func contactBody(key string, sets map[string]map[string]any) map[string]any {
	var as []any
	for name, vals := range sets {
		var vs []any
		for k, v := range vals {
			vs = append(vs, map[string]any{"name": k, "value": v})
		}
		as = append(as, map[string]any{"name": name, "items": []any{map[string]any{"values": vs}}})
	}
	if as == nil {
		as = []any{}
	}
	return map[string]any{"contactKey": key, "attributeSets": as}
}
