package sfmctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"
)

// defaultScope is the scope of a token when the request names none.
const defaultScope = "list_and_subscribers_read list_and_subscribers_write"

const (
	invalidClientText = "Client authentication failed. Make sure that the client ID and client secret are valid and that the package is installed and enabled."
	ipRejectedText    = "The client's IP address is unauthorized for this account. Allowlist the client's IP address in Marketing Cloud Administration."
	grantTypesText    = `Use "authorization_code" or "refresh_token" or "client_credentials" or "urn:ietf:params:oauth:grant-type:jwt-bearer" as the grant_type.`
	oauthErrorURI     = "https://developer.salesforce.com/docs"
)

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	URI         string `json:"error_uri"`
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
	SoapInstanceURL string `json:"soap_instance_url"`
	RestInstanceURL string `json:"rest_instance_url"`
}

type tokenFields struct {
	grantType, clientID, clientSecret, accountID, scope string
	hasScope                                            bool
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, oauthError{Error: code, Description: desc, URI: oauthErrorURI})
}

// handleToken serves POST /v2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The token endpoint accepts only POST requests.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	f, status, msg := parseTokenRequest(r)
	if status != 0 {
		writeOAuthError(w, status, "invalid_request", msg)
		return
	}
	switch {
	case f.grantType == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The grant_type parameter is required.")
		return
	case f.grantType != "client_credentials":
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", grantTypesText)
		return
	case f.clientID != s.cfg.clientID || f.clientSecret != s.cfg.clientSecret:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", invalidClientText)
		return
	case s.cfg.accountID != "" && f.accountID != "" && f.accountID != s.cfg.accountID:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", invalidClientText)
		return
	case s.rejectIP.Load():
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", ipRejectedText)
		return
	}
	ttl := time.Duration(s.tokenTTL.Load())
	tok := randomToken()
	now := time.Now()
	s.tokMu.Lock()
	if len(s.tokens) >= s.pruneAt {
		for k, exp := range s.tokens {
			if !now.Before(exp) {
				delete(s.tokens, k)
			}
		}
		s.pruneAt = max(64, 2*len(s.tokens))
	}
	s.tokens[tok] = now.Add(ttl)
	s.tokMu.Unlock()
	s.stats.tokensIssued.Add(1)

	scope := defaultScope
	if f.hasScope {
		scope = f.scope
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:     tok,
		TokenType:       "Bearer",
		ExpiresIn:       max(ceilSeconds(ttl), 1),
		Scope:           scope,
		SoapInstanceURL: s.url + "/",
		RestInstanceURL: s.url + "/",
	})
}

// parseTokenRequest reads a JSON or form-encoded token request. A non-zero
// status reports a malformed body.
func parseTokenRequest(r *http.Request) (f tokenFields, status int, msg string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return f, bodyErrorStatus(err), "The request body is not a valid form: " + err.Error()
		}
		f.grantType = r.PostForm.Get("grant_type")
		f.clientID = r.PostForm.Get("client_id")
		f.clientSecret = r.PostForm.Get("client_secret")
		f.accountID = r.PostForm.Get("account_id")
		_, f.hasScope = r.PostForm["scope"]
		f.scope = r.PostForm.Get("scope")
		return f, 0, ""
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return f, bodyErrorStatus(err), "The request body could not be read."
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return f, http.StatusBadRequest, "The request body is not a valid JSON object."
	}
	fields := []struct {
		name   string
		dst    *string
		number bool
	}{
		{"grant_type", &f.grantType, false},
		{"client_id", &f.clientID, false},
		{"client_secret", &f.clientSecret, false},
		{"account_id", &f.accountID, true},
		{"scope", &f.scope, false},
	}
	for _, fd := range fields {
		v, ok := m[fd.name]
		if !ok || v == nil {
			continue
		}
		switch v := v.(type) {
		case string:
			*fd.dst = v
		case json.Number:
			if !fd.number {
				return f, http.StatusBadRequest, "The " + fd.name + " parameter must be a string."
			}
			*fd.dst = v.String()
		default:
			return f, http.StatusBadRequest, "The " + fd.name + " parameter must be a string."
		}
		if fd.name == "scope" {
			f.hasScope = true
		}
	}
	return f, 0, ""
}

// bodyErrorStatus is 413 for a body over MaxBodyBytes, else 400.
func bodyErrorStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
