package sfmctest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        []ServerOption
		contentType string
		body        string
		wantStatus  int
		wantError   string
		wantDesc    string
		wantScope   string
	}{
		{
			name: "json ok", contentType: "application/json",
			body:       `{"grant_type":"client_credentials","client_id":"sfmctest-client","client_secret":"sfmctest-secret"}`,
			wantStatus: 200, wantScope: defaultScope,
		},
		{
			name: "json ok with scope and numeric account", contentType: "application/json",
			opts:       []ServerOption{WithAccountID("12345")},
			body:       `{"grant_type":"client_credentials","client_id":"sfmctest-client","client_secret":"sfmctest-secret","account_id":12345,"scope":"email_read"}`,
			wantStatus: 200, wantScope: "email_read",
		},
		{
			name: "form ok", contentType: "application/x-www-form-urlencoded",
			body:       url.Values{"grant_type": {"client_credentials"}, "client_id": {"sfmctest-client"}, "client_secret": {"sfmctest-secret"}, "account_id": {"12345"}}.Encode(),
			wantStatus: 200, wantScope: defaultScope,
		},
		{
			name: "custom credentials", contentType: "application/json",
			opts:       []ServerOption{WithCredentials("id1", "s1")},
			body:       `{"grant_type":"client_credentials","client_id":"id1","client_secret":"s1"}`,
			wantStatus: 200, wantScope: defaultScope,
		},
		{
			name: "wrong secret", contentType: "application/json",
			body:       `{"grant_type":"client_credentials","client_id":"sfmctest-client","client_secret":"nope"}`,
			wantStatus: 401, wantError: "invalid_client", wantDesc: invalidClientText,
		},
		{
			name: "missing client id", contentType: "application/x-www-form-urlencoded",
			body:       "grant_type=client_credentials&client_secret=sfmctest-secret",
			wantStatus: 401, wantError: "invalid_client", wantDesc: invalidClientText,
		},
		{
			name: "wrong account", contentType: "application/json",
			opts:       []ServerOption{WithAccountID("12345")},
			body:       `{"grant_type":"client_credentials","client_id":"sfmctest-client","client_secret":"sfmctest-secret","account_id":"999"}`,
			wantStatus: 401, wantError: "invalid_client", wantDesc: invalidClientText,
		},
		{
			name: "unsupported grant", contentType: "application/json",
			body:       `{"grant_type":"password","client_id":"sfmctest-client","client_secret":"sfmctest-secret"}`,
			wantStatus: 400, wantError: "unsupported_grant_type", wantDesc: grantTypesText,
		},
		{
			name: "ip rejected", contentType: "application/json",
			opts:       []ServerOption{WithIPAllowlistRejection()},
			body:       `{"grant_type":"client_credentials","client_id":"sfmctest-client","client_secret":"sfmctest-secret"}`,
			wantStatus: 400, wantError: "invalid_grant", wantDesc: ipRejectedText,
		},
		{
			name: "malformed json", contentType: "application/json",
			body: `{"grant_type":`, wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "json not an object", contentType: "application/json",
			body: `null`, wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "client id of wrong type", contentType: "application/json",
			body: `{"grant_type":"client_credentials","client_id":7,"client_secret":"x"}`, wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "malformed form", contentType: "application/x-www-form-urlencoded",
			body: "grant_type=%zz", wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "missing grant type", contentType: "application/json",
			body: `{"client_id":"sfmctest-client","client_secret":"sfmctest-secret"}`, wantStatus: 400, wantError: "invalid_request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tt.opts...)
			resp, err := http.Post(s.URL()+"/v2/token", tt.contentType, strings.NewReader(tt.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			var m map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
			if tt.wantStatus != 200 {
				assert.Equal(t, tt.wantError, m["error"])
				assert.Equal(t, "https://developer.salesforce.com/docs", m["error_uri"])
				if tt.wantDesc != "" {
					assert.Equal(t, tt.wantDesc, m["error_description"])
				}
				assert.Zero(t, s.Stats().TokensIssued)
				return
			}
			assert.NotEmpty(t, m["access_token"])
			assert.Equal(t, "Bearer", m["token_type"])
			assert.Equal(t, float64(1080), m["expires_in"])
			assert.Equal(t, tt.wantScope, m["scope"])
			assert.Equal(t, s.URL()+"/", m["rest_instance_url"])
			assert.Equal(t, s.URL()+"/", m["soap_instance_url"])
			assert.Equal(t, int64(1), s.Stats().TokensIssued)
		})
	}
}

func TestTokenWrongMethodAndTooLarge(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	status, body := do(t, http.MethodGet, s.URL()+"/v2/token", "", nil)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_request", decode(t, body)["error"])

	big := `{"grant_type":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	status, body = do(t, http.MethodPost, s.URL()+"/v2/token", "", big)
	assert.Equal(t, 413, status)
	assert.Equal(t, "invalid_request", decode(t, body)["error"])
	assert.Equal(t, int64(2), s.Stats().TokenRequests)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, WithTokenTTL(150*time.Millisecond))
	id, secret := s.Credentials()
	status, body := do(t, http.MethodPost, s.URL()+"/v2/token", "", map[string]any{
		"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
	})
	require.Equal(t, 200, status)
	m := decode(t, body)
	assert.Equal(t, float64(1), m["expires_in"], "sub-second TTL rounds up to 1")
	tok := m["access_token"].(string)

	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool {
		st, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
		return st == 401
	}, 5*time.Second, 20*time.Millisecond)

	s.SetTokenTTL(2500 * time.Millisecond)
	status, body = do(t, http.MethodPost, s.URL()+"/v2/token", "", map[string]any{
		"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
	})
	require.Equal(t, 200, status)
	assert.Equal(t, float64(3), decode(t, body)["expires_in"])
}

func TestRESTAuth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	good := token(t, s)
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"valid", "Bearer " + good, 200},
		{"lowercase scheme", "bearer " + good, 200},
		{"missing", "", 401},
		{"unknown", "Bearer nope", 401},
		{"no scheme", good, 401},
		{"empty bearer", "Bearer ", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", nil)
			require.NoError(t, err)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tt.want, resp.StatusCode)
			if tt.want == 401 {
				var m map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
				assert.Equal(t, map[string]any{"message": "Not Authorized", "errorcode": float64(0), "documentation": documentationURL}, m)
			}
		})
	}
}

func TestRevokeTokens(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	status, _ := do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	require.Equal(t, 200, status)
	s.RevokeTokens()
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 401, status)
	tok2 := token(t, s)
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok2, nil)
	assert.Equal(t, 200, status)
}

func TestRejectIP(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tok := token(t, s)
	s.RejectIP(true)
	id, secret := s.Credentials()
	status, body := do(t, http.MethodPost, s.URL()+"/v2/token", "", map[string]any{
		"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
	})
	require.Equal(t, 400, status)
	m := decode(t, body)
	assert.Equal(t, "invalid_grant", m["error"])
	assert.Equal(t, ipRejectedText, m["error_description"])
	// Tokens issued before stay valid.
	status, _ = do(t, http.MethodGet, s.URL()+"/contacts/v1/attributeSetDefinitions", tok, nil)
	assert.Equal(t, 200, status)
	s.RejectIP(false)
	token(t, s)
}
