package sfmc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allSentinels = []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrBlocked, ErrServer,
	ErrClientRateLimited, ErrInvalidCredentials, ErrIPNotAllowlisted, ErrUnknownAttribute, ErrInvalidConfig,
	ErrInvalidContact, ErrResponseTooLarge, ErrClosed}

func requireOnlySentinels(t *testing.T, err error, want ...error) {
	t.Helper()
	for _, s := range allSentinels {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == s
		}
		assert.Equalf(t, wanted, errors.Is(err, s), "errors.Is(%v, %v)", err, s)
	}
}

func TestAPIErrorFromREST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		header    []string
		want      APIError
		sentinels []error
	}{
		{
			name: "400 aggregate", status: 400,
			body: `{"message":"Check additionalErrors","errorcode":10006,"documentation":"https://doc","additionalErrors":[{"message":"first bad"},{"message":"second bad","errorcode":10002},"plain"]}`,
			want: APIError{StatusCode: 400, Code: 10006, Message: "Check additionalErrors", Documentation: "https://doc",
				AdditionalErrors: []string{"first bad", "second bad", `"plain"`}},
		},
		{
			name: "401", status: 401, body: `{"message":"Not Authorized","errorcode":0,"documentation":"https://doc"}`,
			want:      APIError{StatusCode: 401, Message: "Not Authorized", Documentation: "https://doc"},
			sentinels: []error{ErrUnauthorized},
		},
		{
			name: "403", status: 403, body: `{"message":"Insufficient privileges","errorcode":20002}`,
			want:      APIError{StatusCode: 403, Code: 20002, Message: "Insufficient privileges"},
			sentinels: []error{ErrForbidden},
		},
		{
			name: "404 with request id header", status: 404, body: `{"message":"Object Not Found","errorcode":30003}`,
			header:    []string{"X-Request-Id", "req-1"},
			want:      APIError{StatusCode: 404, Code: 30003, Message: "Object Not Found", RequestID: "req-1"},
			sentinels: []error{ErrNotFound},
		},
		{
			name: "404 with requestServiceMessageID", status: 404, body: `{"message":"nope","requestServiceMessageID":"rsm-9"}`,
			want:      APIError{StatusCode: 404, Message: "nope", RequestID: "rsm-9"},
			sentinels: []error{ErrNotFound},
		},
		{
			name: "500 non-JSON", status: 500, body: `<html>Internal Server Error</html>`,
			want:      APIError{StatusCode: 500, Message: "Internal Server Error"},
			sentinels: []error{ErrServer},
		},
		{
			name: "596 empty body", status: 596, body: ``,
			want:      APIError{StatusCode: 596, Message: "Service Not Found"},
			sentinels: []error{ErrServer},
		},
		{
			name: "errorcode as string", status: 409, body: `{"message":"Object Already Exists","errorcode":"30004"}`,
			want: APIError{StatusCode: 409, Code: 30004, Message: "Object Already Exists"},
		},
		{
			name: "errorcode garbage", status: 400, body: `{"message":"odd","errorcode":"abc"}`,
			want: APIError{StatusCode: 400, Message: "odd"},
		},
		{
			name: "unknown status", status: 499, body: `not json`,
			want: APIError{StatusCode: 499, Message: "HTTP status 499"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt, _ := newMockClient(t, nil, WithRetry(0, 0, 0))
			mt.RegisterResponder(http.MethodGet, testRESTURL, jsonResponder(tt.status, tt.body, tt.header...))
			_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath,
				query: map[string][]string{"secretQuery": {"q-value"}}})
			require.Error(t, err)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			want := tt.want
			want.Method = http.MethodGet
			want.URL = testRESTURL
			assert.Equal(t, want, *ae)
			requireOnlySentinels(t, err, tt.sentinels...)
			for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", ae)} {
				assert.NotContains(t, s, "secretQuery")
				assert.NotContains(t, s, "q-value")
			}
			assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tt.status))
			assert.Contains(t, err.Error(), want.Message)
			for _, m := range want.AdditionalErrors {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	t.Parallel()
	e := &APIError{StatusCode: 400, Code: 10005, Message: "bad\nvalue", AdditionalErrors: []string{"x\ty"}, RequestID: "r1",
		Method: "PATCH", URL: "https://h/p"}
	assert.Equal(t, "sfmc: PATCH https://h/p: HTTP 400 errorcode 10005: bad value; x y (request id r1)", e.Error())
	e = &APIError{StatusCode: 500, Message: strings.Repeat("m", 2000)}
	assert.Less(t, len(e.Error()), 600, "bounded")
	rle := &RateLimitError{APIError: &APIError{StatusCode: 429, Code: 50100, Message: "Rate limit exceeded", RetryAfter: 5 * time.Second}}
	assert.Equal(t, "sfmc: HTTP 429 errorcode 50100: Rate limit exceeded (retry after 5s)", rle.Error())
	assert.False(t, rle.Blocked())
	requireOnlySentinels(t, rle, ErrRateLimited)
	blocked := &RateLimitError{APIError: &APIError{StatusCode: 429, Code: 50200}}
	assert.True(t, blocked.Blocked())
	requireOnlySentinels(t, fmt.Errorf("wrapped: %w", blocked), ErrRateLimited, ErrBlocked)
}

func TestDecodeAPIErrorRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		header time.Duration
		want   time.Duration
	}{
		{"header wins", `{"retryAfter":9}`, 2 * time.Second, 2 * time.Second},
		{"body", `{"retryAfter":5}`, 0, 5 * time.Second},
		{"body fractional", `{"retryAfter":0.5}`, 0, 500 * time.Millisecond},
		{"body negative", `{"retryAfter":-3}`, 0, 0},
		{"body huge", `{"retryAfter":1e300}`, 0, time.Duration(math.MaxInt64)},
		{"none", `{}`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := decodeAPIError(429, "GET", "https://h/p", []byte(tt.body), "", tt.header)
			var rle *RateLimitError
			require.ErrorAs(t, err, &rle)
			assert.Equal(t, tt.want, rle.RetryAfter)
		})
	}
}

func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	const ipText = "The client's IP address is unauthorized for this account. Allowlist the client's IP address in Marketing Cloud Administration."
	tests := []struct {
		name      string
		status    int
		body      string
		sentinels []error
		oauth     *OAuthError
		contains  []string
	}{
		{
			name: "invalid_client", status: 401,
			body:      `{"error":"invalid_client","error_description":"Invalid client ID. Use the client ID in Marketing Cloud Installed Packages.","error_uri":"https://developer.salesforce.com/docs"}`,
			sentinels: []error{ErrInvalidCredentials},
			oauth: &OAuthError{StatusCode: 401, Code: "invalid_client", Description: "Invalid client ID. Use the client ID in Marketing Cloud Installed Packages.",
				URI: "https://developer.salesforce.com/docs"},
			contains: []string{"invalid_client", "Installed Packages"},
		},
		{
			name: "ip not allowlisted", status: 400,
			body:      `{"error":"invalid_grant","error_description":"` + ipText + `"}`,
			sentinels: []error{ErrIPNotAllowlisted},
			oauth:     &OAuthError{StatusCode: 400, Code: "invalid_grant", Description: ipText},
			contains:  []string{"allowlist", "Marketing Cloud Setup", "IP address"},
		},
		{
			name: "ip not allowlisted, truncated text", status: 401,
			body:      `{"error":"invalid_grant","error_description":"The client's IP address is unauthorized for this account. Allowlist the client's IP address..."}`,
			sentinels: []error{ErrIPNotAllowlisted},
			contains:  []string{"Marketing Cloud Setup"},
		},
		{
			name: "other invalid_grant", status: 400,
			body:  `{"error":"invalid_grant","error_description":"grant expired"}`,
			oauth: &OAuthError{StatusCode: 400, Code: "invalid_grant", Description: "grant expired"},
		},
		{
			name: "unsupported_grant_type", status: 400,
			body:     `{"error":"unsupported_grant_type","error_description":"Use \"client_credentials\" as the grant_type."}`,
			oauth:    &OAuthError{StatusCode: 400, Code: "unsupported_grant_type", Description: `Use "client_credentials" as the grant_type.`},
			contains: []string{"unsupported_grant_type"},
		},
		{
			name: "rest-style 429 blocked", status: 429,
			body:      `{"message":"Your requests are temporarily blocked.","errorcode":50200}`,
			sentinels: []error{ErrRateLimited, ErrBlocked},
			contains:  []string{"temporarily blocked"},
		},
		{
			name: "non-JSON 502", status: 502, body: `<html>Bad Gateway</html>`,
			sentinels: []error{ErrServer},
			contains:  []string{"HTTP 502", "Bad Gateway"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tm := newTokenMock()
			tm.fail = jsonResponder(tt.status, tt.body)
			c, _, _ := newMockClient(t, tm)
			err := c.Verify(context.Background())
			require.Error(t, err)
			requireOnlySentinels(t, err, tt.sentinels...)
			var oe *OAuthError
			if tt.oauth != nil {
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, *tt.oauth, *oe)
			} else if strings.Contains(tt.body, `"error"`) {
				require.ErrorAs(t, err, &oe)
			} else {
				assert.False(t, errors.As(err, &oe))
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.status, ae.StatusCode)
				assert.Equal(t, testTokenURL, ae.URL)
			}
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
			requireNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
			// The REST pipeline surfaces the same error, unretried for
			// OAuth errors.
			_, err = c.do(context.Background(), request{method: http.MethodGet, path: testPath})
			requireOnlySentinels(t, err, tt.sentinels...)
		})
	}
}

func TestContactError(t *testing.T) {
	t.Parallel()
	e := &ContactError{Key: "k1", OperationStatus: "FAIL",
		Messages: []ResultMessage{{Message: "Attribute Foo not found"}, {Raw: json.RawMessage(`{"x":1}`)}, {Code: "123"}},
		Unknown:  []AttributeRef{{Set: "Email Demographics", Name: "Foo"}, {Set: "Nope"}}}
	assert.Equal(t, `sfmc: contact "k1" refused (operationStatus FAIL): unknown attribute "Foo" in set "Email Demographics", attribute set "Nope": Attribute Foo not found; {"x":1}; 123`, e.Error())
	assert.ErrorIs(t, e, ErrUnknownAttribute)
	plain := &ContactError{Key: "k2"}
	assert.NotErrorIs(t, plain, ErrUnknownAttribute)
	assert.Equal(t, `sfmc: contact "k2" refused without result messages`, plain.Error())
	assert.Equal(t, "S.N", AttributeRef{Set: "S", Name: "N"}.String())
	assert.Equal(t, "S", AttributeRef{Set: "S"}.String())
}

// TestPipelineAndConfigHideCredentials: the secret and the token are
// absent from every error and log line of the request pipeline (token and
// REST failures, bad option URLs and config fields), and from a Config or
// Client printed, logged with slog or encoded as JSON. (The public API end
// to end, Upserter callbacks and PII included, is
// TestPublicAPIHidesCredentialsAndPII's.)
func TestPipelineAndConfigHideCredentials(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testPipelineAndConfigHideCredentials)
}

func testPipelineAndConfigHideCredentials(t *testing.T) {
	var logBuf testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testConfig()
	cfg.AccountID = "12345"
	cfg.Scopes = []string{"list_and_subscribers_read"}

	var errs []error
	drive := func(tokenStep httpmock.Responder, restStep httpmock.Responder, opts ...Option) {
		tm := newTokenMock()
		tm.fail = tokenStep
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodPost, testTokenURL, tm.respond)
		if restStep != nil {
			mt.RegisterResponder(http.MethodGet, testRESTURL, restStep)
			mt.RegisterResponder(http.MethodPost, testRESTURL, restStep)
		}
		all := append([]Option{WithHTTPClient(&http.Client{Transport: mt}), WithLogger(logger), fastRetry(1)}, opts...)
		// A client per call: a 50200 pauses the client that got it.
		fresh := func() *Client {
			c, err := NewClient(cfg, all...)
			require.NoError(t, err)
			return c
		}
		c := fresh()
		for _, s := range []string{fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c)} {
			requireNoSecret(t, "client", s)
		}
		errs = append(errs, c.Verify(context.Background()))
		_, err := c.do(context.Background(), request{method: http.MethodGet, path: testPath,
			query: map[string][]string{"token": {testTokenBase}}})
		errs = append(errs, err)
		_, err = fresh().do(context.Background(), request{method: http.MethodPost, path: testPath, body: []byte(`{}`)})
		errs = append(errs, err)
	}
	echo := func(req *http.Request) (*http.Response, error) {
		// A hostile server echoing the token must not matter for our own
		// messages; here it answers with a plain 401.
		return testutil.JSONResponse(req, 401, `{"message":"Not Authorized","errorcode":0}`), nil
	}
	drive(jsonResponder(401, `{"error":"invalid_client","error_description":"bad"}`), nil)
	drive(jsonResponder(400, `{"error":"invalid_grant","error_description":"The client's IP address is unauthorized for this account."}`), nil)
	drive(jsonResponder(500, `{"message":"token boom"}`), nil)
	drive(httpmock.NewErrorResponder(errors.New("connection refused")), nil)
	drive(nil, echo)
	drive(nil, jsonResponder(500, `{"message":"rest boom","errorcode":0}`))
	drive(nil, jsonResponder(503, `{"message":"down","errorcode":50300}`, "Retry-After", "0"))
	drive(nil, jsonResponder(429, `{"message":"Rate limit exceeded","errorcode":50100,"retryAfter":0}`))
	drive(nil, jsonResponder(429, `{"message":"blocked","errorcode":50200}`))
	drive(nil, bigResponder(200, 10<<10, false), WithMaxResponseBytes(1024))
	drive(bigResponder(200, 10<<10, false), nil, WithMaxResponseBytes(1024))
	drive(jsonResponder(200, `{"access_token":"`+testTokenBase+`-x","rest_instance_url":"https://evil.example.com/?k=`+testTokenBase+`"}`), nil)
	drive(jsonResponder(200, `{"access_token":"`+testTokenBase+`-x","rest_instance_url":"http://evil.example.com/"}`), nil)
	drive(nil, httpmock.NewErrorResponder(errors.New("connection reset")))

	// Bad URLs in options, some carrying the secret.
	for _, o := range []Option{
		WithAuthURL("https://id:" + testSecret + "@auth.example.com"),
		WithAuthURL("https://auth.example.com/?client_secret=" + testSecret),
		WithAuthURL("https://auth.example.com/#" + testSecret),
		WithRESTURL("http://id:" + testSecret + "@rest.example.com/%zz"),
		WithRESTURL("https://rest.example.com/%zz?access_token=" + testTokenBase),
		WithAuthURL("ftp://u:" + testSecret + "@auth.example.com"),
	} {
		_, err := NewClient(cfg, o)
		require.ErrorIs(t, err, ErrInvalidConfig)
		errs = append(errs, err)
	}
	// Bad config fields.
	bad := cfg
	bad.Subdomain = "bad.subdomain"
	_, err := NewClient(bad)
	errs = append(errs, err)

	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		requireNoSecret(t, "error", fmt.Sprintf("%v %+v %#v %s", err, err, err, err))
	}
	require.Greater(t, failed, 30)
	logs := logBuf.String()
	require.NotEmpty(t, logs)
	require.Contains(t, logs, "sfmc: request")
	require.Contains(t, logs, "sfmc: token request failed")
	requireNoSecret(t, "log", logs)
	assert.NotContains(t, logs, "token="+testTokenBase)

	s := fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg, cfg)
	requireNoSecret(t, "Config", s)
	assert.Contains(t, s, redacted)
	assert.Equal(t, cfg.String(), cfg.GoString())
	assert.Contains(t, fmt.Sprintf("%+v", &cfg), redacted)
	requireNoSecret(t, "*Config", fmt.Sprintf("%v %+v %#v", &cfg, &cfg, &cfg))
	requireNoSecret(t, "Config in struct", fmt.Sprintf("%v %+v %#v", struct{ C Config }{cfg}, struct{ C Config }{cfg}, struct{ C Config }{cfg}))

	var cfgLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&cfgLog, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&cfgLog, nil)).Info("config", "cfg", cfg)
	// A Config inside another value is encoded by encoding/json.
	slog.New(slog.NewJSONHandler(&cfgLog, nil)).Info("settings", "app", struct {
		Name string
		SFMC Config
		Ptr  *Config
	}{"app", cfg, &cfg})
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgLog.Write(raw)
	requireNoSecret(t, "slog Config", cfgLog.String())
	assert.Contains(t, cfgLog.String(), `"client_secret":"[REDACTED]"`)
	assert.Contains(t, cfgLog.String(), `cfg.client_secret=[REDACTED]`)
	assert.Contains(t, cfgLog.String(), testClientID)
	var back map[string]any
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, map[string]any{"Subdomain": testSubdomain, "ClientID": testClientID,
		"AccountID": "12345", "Scopes": []any{"list_and_subscribers_read"}}, back, "JSON leaves the secret out")
	// A round trip cannot silently build a client SFMC refuses: NewClient
	// says the secret is missing.
	var again Config
	require.NoError(t, json.Unmarshal(raw, &again))
	_, err = NewClient(again)
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "ClientSecret is required")

	assert.Contains(t, Config{Subdomain: "x"}.String(), `ClientSecret:""`, "an empty secret is shown empty")
}
