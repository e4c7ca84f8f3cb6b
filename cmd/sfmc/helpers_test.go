package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/internal/testutil"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/require"
)

// newSim starts a simulator with the demo's Mapping-ID attributes (plus
// opts) and closes it at the end of the test.
func newSim(t testing.TB, opts ...sfmctest.ServerOption) *sfmctest.Server {
	t.Helper()
	srv := sfmctest.NewServer(append([]sfmctest.ServerOption{mappingIDAttributes(3)}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

// simEnv returns a getenv pointing the CLI at srv, with overrides
// ("" deletes a variable).
func simEnv(srv *sfmctest.Server, overrides ...string) func(string) string {
	id, secret := srv.Credentials()
	m := map[string]string{
		envSubdomain:    sfmctest.Subdomain,
		envClientID:     id,
		envClientSecret: secret,
		envAuthURL:      srv.URL(),
		envRESTURL:      srv.URL(),
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		if overrides[i+1] == "" {
			delete(m, overrides[i])
		} else {
			m[overrides[i]] = overrides[i+1]
		}
	}
	return func(k string) string { return m[k] }
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer = testutil.SyncBuffer

// result is the outcome of one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line with getenv and stdin.
func runCLI(ctx context.Context, getenv func(string) string, stdin string, args ...string) result {
	var out, errOut syncBuffer
	code := run(ctx, args, getenv, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// writeFile writes content to a new file in t's temp dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// writeMapping writes m as a mapping file.
func writeMapping(t testing.TB, m *sfmc.Mapping) string {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return writeFile(t, "mapping.json", string(b))
}

// readFailures reads a failures file into records.
func readFailures(t testing.TB, path string) []failureRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []failureRecord
	if len(b) == 0 {
		return nil
	}
	require.True(t, strings.HasSuffix(string(b), "\n"), "every record ends its line")
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r failureRecord
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		out = append(out, r)
	}
	return out
}

// summaryKeys are the contract's summary keys; pushKeys the ones push
// added (issues 11, 12, 14).
var (
	summaryKeys = []string{"read", "upserted", "failed", "segments", "requests", "retries", "throttled"}
	pushKeys    = []string{"notSent", "interrupted", "stopReason", "resumeLine", "elapsedSeconds", "failuresFile", "failuresWritten", "rate", "warnings", "dryRun", "skipped", "skippedAttributes"}
)

// parseSummary parses a --json summary and checks its keys are the
// contract's and push's.
func parseSummary(t testing.TB, out string) summary {
	t.Helper()
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &raw), out)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, append(append([]string(nil), summaryKeys...), pushKeys...), keys)
	var s summary
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	return s
}
