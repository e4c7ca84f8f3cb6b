package sfmc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sfmc-go/sfmc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 12, item 8: a server that echoes what it was sent — the token
// request's body (which holds the client secret) or a REST request's
// Authorization header (the access token) — into its error text cannot
// make the client leak them: not in Verify's error, an Outcome's error, or
// a log line.
func TestEchoingServerCannotLeak(t *testing.T) {
	t.Parallel()
	const secret = "SeCrEt-echo-\"quoted\"-42"
	var srv *httptest.Server
	var tokenFails sync.Map
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v2/token" {
			if _, fail := tokenFails.Load("on"); fail {
				w.WriteHeader(http.StatusBadRequest)
				// Echo the request body, JSON-escaped, as a careless
				// gateway would.
				fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, "bad request: "+string(body))
				return
			}
			fmt.Fprintf(w, `{"access_token":"tok-echo-123456","expires_in":1080,"rest_instance_url":%q}`, srv.URL)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"message":%q,"errorcode":10000}`, "you sent "+r.Header.Get("Authorization")+" with "+string(body))
	}))
	t.Cleanup(srv.Close)
	var logs strings.Builder
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := sfmc.NewClient(sfmc.Config{Subdomain: "x", ClientID: "id", ClientSecret: secret},
		sfmc.WithAuthURL(srv.URL), sfmc.WithHTTPClient(srv.Client()), sfmc.WithLogger(logger))
	require.NoError(t, err)

	var texts []string
	_, err = c.Contacts.Upsert(context.Background(), sfmc.Contact{Key: "K"})
	require.Error(t, err)
	texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
	var mu sync.Mutex
	u, err := sfmc.NewUpserter(c, sfmc.UpserterConfig{OnResult: func(o sfmc.Outcome) {
		mu.Lock()
		texts = append(texts, o.Err.Error())
		mu.Unlock()
	}})
	require.NoError(t, err)
	require.NoError(t, u.Add(context.Background(), sfmc.Contact{Key: "K2"}))
	require.NoError(t, u.Close(context.Background()))

	tokenFails.Store("on", true)
	c.Invalidate()
	err = c.Verify(context.Background())
	require.Error(t, err)
	texts = append(texts, err.Error())
	var oe *sfmc.OAuthError
	require.ErrorAs(t, err, &oe)
	assert.Contains(t, oe.Description, "[REDACTED]", "the echo is there, redacted")

	logMu.Lock()
	texts = append(texts, logs.String())
	logMu.Unlock()
	for _, s := range texts {
		assert.NotContains(t, s, "SeCrEt-echo")
		assert.NotContains(t, s, "tok-echo-123456")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
