package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 14, item 1: the module is licensed, and README says so.
func TestLicense(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../LICENSE")
	require.NoError(t, err, "a LICENSE file at the module root")
	text := string(b)
	assert.True(t, strings.HasPrefix(strings.TrimSpace(text), "Apache License\n                           Version 2.0, January 2004"), "the Apache License 2.0")
	for _, p := range []string{"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS", "APPENDIX: How to apply the Apache License to your work."} {
		assert.Contains(t, text, p, "the full text")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "[Apache License 2.0](LICENSE)")
}

// Issue 14, item 2: --help prints the usage and the flags once, on
// stdout, in 80 columns, with flags as they are typed (--name) and each
// default once.
func TestHelpOnceReadable(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := runCLI(context.Background(), none, "", args...)
			assert.Equal(t, exitOK, r.code, args)
			assert.Empty(t, r.stderr, args)
			assert.Equal(t, 1, strings.Count(r.stdout, "Usage: sfmc "+c.name), args)
			assert.NotRegexp(t, `(?m)^\s+-[a-z]`, r.stdout, "%v: flags are shown as --name", args)
			assert.NotRegexp(t, `\(default [^)]*\) \(default`, r.stdout, "%v: one default per flag", args)
			assert.NotContains(t, r.stdout, "(default 0s)", args)
			for _, l := range strings.Split(r.stdout, "\n") {
				assert.LessOrEqual(t, utf8.RuneCountInString(l), 80, "%v: %q is wider than 80 columns", args, l)
			}
			for _, f := range commandFlags(c) {
				assert.Contains(t, r.stdout, "  --"+f.Name, "%v lists --%s", args, f.Name)
			}
		}
	}
	r := runCLI(context.Background(), none, "", "simulator", "--help")
	assert.Contains(t, r.stdout, "--rate R ", "the placeholder names the value")
	assert.NotContains(t, r.stdout, "--rate SECOND")
	assert.Regexp(t, `(?s)--token-ttl S\s+the access token lifetime.*\(default 1080\)\n$`, r.stdout)
	assert.Equal(t, runCLI(context.Background(), none, "", "--help"), runCLI(context.Background(), none, "", "help", "--help"))
	r = runCLI(context.Background(), none, "", "--help")
	for _, l := range strings.Split(r.stdout, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 80, l)
	}
}

// Issue 14, item 2: a usage error prints the error and one line of hint,
// not the whole usage that would push the error off an 80×24 screen; an
// unknown command suggests the nearest ones.
func TestUsageErrorsStayOnScreen(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want []string // the lines of stderr
	}{
		{[]string{"push", "--worker", "4"}, []string{"sfmc push: unknown flag --worker (did you mean --workers?)", "Run 'sfmc push --help' for usage."}},
		{[]string{"push", "--workers", "x"}, []string{`sfmc push: invalid value "x" for --workers: parse error`, "Run 'sfmc push --help' for usage."}},
		{[]string{"push", "--mapping"}, []string{"sfmc push: flag --mapping needs a value", "Run 'sfmc push --help' for usage."}},
		{[]string{"push", "--mapping", "m.json", "--progress", "fancy"}, []string{`sfmc push: --progress must be auto, bar, plain or off, got "fancy"`, "Run 'sfmc push --help' for usage."}},
		{[]string{"push"}, []string{"sfmc push: --mapping FILE is required", "Run 'sfmc push --help' for usage."}},
		{[]string{"validate", "--mapping", "m.json", "--log-level", "loud"}, []string{`sfmc validate: --log-level must be debug, info, warn, error or off, got "loud"`, "Run 'sfmc validate --help' for usage."}},
		{[]string{"verify", "extra"}, []string{`sfmc verify: unexpected argument "extra" (every input is a flag)`, "Run 'sfmc verify --help' for usage."}},
		{[]string{"attributes", "--sett", "x"}, []string{"sfmc attributes: unknown flag --sett (did you mean --set?)", "Run 'sfmc attributes --help' for usage."}},
		{[]string{"pussh"}, []string{`sfmc: unknown command "pussh"`, "", "Did you mean this?", "\tpush", "", "Run 'sfmc --help' for usage."}},
		{[]string{"help", "valdate"}, []string{`sfmc: unknown command "valdate"`, "", "Did you mean this?", "\tvalidate", "", "Run 'sfmc --help' for usage."}},
		{[]string{"frobnicate"}, []string{`sfmc: unknown command "frobnicate"`, "Run 'sfmc --help' for usage."}},
		{[]string{"--json", "push"}, []string{"sfmc: unknown flag --json: flags go after the command (sfmc COMMAND [flags])", "Run 'sfmc --help' for usage."}},
		{[]string{"completion", "tcsh"}, []string{`sfmc completion: unknown shell "tcsh": bash, zsh or fish`, "Run 'sfmc completion --help' for usage."}},
	} {
		r := runCLI(context.Background(), none, "", tc.args...)
		assert.Equal(t, exitUsage, r.code, tc.args)
		assert.Empty(t, r.stdout, tc.args)
		assert.Equal(t, tc.want, strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"), tc.args)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	names := []string{"demo", "simulator", "verify", "attributes", "validate", "push", "version", "completion", "help"}
	for in, want := range map[string][]string{
		"pussh": {"push"}, "psuh": {"push"}, "Push": {"push"}, "vrify": {"verify"}, "attr": {"attributes"},
		"valid": {"validate"}, "versoin": {"version"}, "simulate": {"simulator"}, "xyz": {}, "": {},
	} {
		got := suggest(in, names)
		if len(want) == 0 {
			assert.Empty(t, got, in)
			continue
		}
		require.NotEmpty(t, got, in)
		assert.Equal(t, want[0], got[0], in)
	}
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
	assert.Equal(t, 0, editDistance("", ""))
}

// Issue 14, item 8: sfmc version and sfmc --version print the module
// version, the VCS revision and the Go version from the build
// information; the User-Agent carries the same version.
func TestVersion(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	r := runCLI(context.Background(), none, "", "version")
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr)
	info, ok := debug.ReadBuildInfo()
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(r.stdout, "sfmc version "+info.Main.Version+"\n"), r.stdout)
	assert.Contains(t, r.stdout, "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	assert.Equal(t, r, runCLI(context.Background(), none, "", "--version"))

	r = runCLI(context.Background(), none, "", "version", "--json")
	require.Equal(t, exitOK, r.code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	assert.Equal(t, sfmc.Version(), doc["version"])
	assert.Equal(t, runtime.Version(), doc["go"])
	for _, k := range []string{"version", "revision", "time", "modified", "go", "platform"} {
		assert.Contains(t, doc, k)
	}

	v := versionFrom(&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/sfmc-go/sfmc", Version: "v0.1.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"}}})
	assert.Equal(t, "sfmc version v0.1.0\nrevision: 0123456789abcdef (2026-01-02T03:04:05Z, modified)\ngo: go1.26.1 linux/arm64\n", v.String())
	v = versionFrom(&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/sfmc-go/sfmc"}})
	assert.Equal(t, "(devel)", v.Version)
	assert.Contains(t, v.String(), "revision: not recorded")

	// The User-Agent the token endpoint sees.
	var mu sync.Mutex
	var agents []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed."}`))
	}))
	defer ts.Close()
	env := map[string]string{envSubdomain: "mc563885gzs27c5t9-63k636ttgm", envClientID: "id", envClientSecret: "secret-value", envAuthURL: ts.URL}
	r = runCLI(context.Background(), func(k string) string { return env[k] }, "", "verify")
	assert.Equal(t, exitUsage, r.code)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, agents)
	assert.Equal(t, userAgent(), agents[0])
	assert.Equal(t, "sfmc-cli/devel", agents[0], "a test binary records no module version")
}

// Issue 14, item 4: --log-level and --log-format send the library's log
// to stderr, never with a secret; by default there is none.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	_, secret := srv.Credentials()
	r := runCLI(context.Background(), simEnv(srv), "", "verify")
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr, "no log unless asked")

	r = runCLI(context.Background(), simEnv(srv), "", "verify", "--log-level", "debug")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^time=\S+ level=DEBUG msg="sfmc: token obtained"`, r.stderr)
	assert.NotContains(t, r.stderr, secret)

	r = runCLI(context.Background(), simEnv(srv, envLogLevel, "debug", envLogFormat, "json"), "", "attributes")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		assert.Contains(t, rec, "level")
		assert.Contains(t, rec, "msg")
	}
	assert.Contains(t, r.stderr, `"msg":"sfmc: request"`, "the environment gives the defaults")
	assert.NotContains(t, r.stderr, secret)

	// A flag wins over the environment.
	r = runCLI(context.Background(), simEnv(srv, envLogLevel, "debug"), "", "verify", "--log-level", "off")
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr)

	// Retries are logged at info during a push.
	srv.FailNext(2, sfmctest.Fault503)
	path := filepath.Join(t.TempDir(), "f")
	r = runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 3), "push", "--mapping", writeMapping(t, demoMapping()),
		"--failures", path, "--log-level", "info", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "level=INFO")
	assert.NotContains(t, r.stderr, secret)
}

// The CLI's own guard: a secret in anything written through redactWriter
// is replaced, even if the library ever let one through.
func TestRedactWriter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := redactWriter{&b, "s3cr3t-value"}
	in := []byte("level=WARN msg=x error=\"echo s3cr3t-value\"\n")
	n, err := w.Write(in)
	require.NoError(t, err)
	assert.Equal(t, len(in), n, "the length written as asked")
	assert.Equal(t, "level=WARN msg=x error=\"echo [REDACTED]\"\n", b.String())
	b.Reset()
	_, _ = redactWriter{&b, "abc"}.Write([]byte("abc")) // too short to be a secret
	assert.Equal(t, "abc", b.String())
}

// Issue 14, item 6: validate and verify have --json.
func TestValidateAndVerifyJSON(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	r := runCLI(context.Background(), simEnv(srv), "", "verify", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var v verifyJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v))
	assert.Equal(t, verifyJSON{RESTURL: srv.URL() + "/", Subdomain: "sfmctest"}, verifyJSONTrim(v))

	r = runCLI(context.Background(), simEnv(srv), "", "validate", "--mapping", writeMapping(t, validMapping()), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.JSONEq(t, `{"valid":true,"problems":[],"warnings":[]}`, r.stdout)
	assert.Empty(t, r.stderr)

	bad := validMapping()
	bad.Constants = nil
	bad.Segments = []sfmc.SegmentMapping{{SegmentID: "seg-1", MappingID: "no_such_attribute"}}
	r = runCLI(context.Background(), simEnv(srv), "", "validate", "--mapping", writeMapping(t, bad), "--json")
	assert.Equal(t, exitFailed, r.code)
	var doc validateJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	assert.False(t, doc.Valid)
	require.Len(t, doc.Problems, 1)
	assert.Contains(t, doc.Problems[0], "no_such_attribute")
	require.Len(t, doc.Warnings, 1)
	assert.Contains(t, doc.Warnings[0], "HTML Enabled")
	assert.Empty(t, r.stderr, "with --json the warnings are in the document")
}

// verifyJSONTrim normalises the REST URL's trailing slash.
func verifyJSONTrim(v verifyJSON) verifyJSON {
	v.RESTURL = strings.TrimSuffix(v.RESTURL, "/") + "/"
	return v
}

// Issue 14, item 6: push's human summary has the per-segment table and
// the elapsed time, as the demo's.
func TestPushHumanSummaryHasSegments(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	input := writeFile(t, "in.ndjson", profilesNDJSON(t, 30))
	r := runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", writeMapping(t, demoMapping()), "--input", input,
		"--failures", filepath.Join(t.TempDir(), "f"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Regexp(t, `read 30 records: 30 upserted, 0 failed, 0 not sent \(.*\) in \d`, r.stderr)
	assert.Regexp(t, `(?m)^SEGMENT\s+MAPPING ID\s+REALIZED\s+EXISTING\s+EXITED`, r.stderr)
	var want [4]segmentCounts
	for i := 1; i <= 30; i++ {
		for k, st := range genProfile(1, i).status {
			switch st {
			case sfmc.StatusRealized:
				want[k].Realized++
			case sfmc.StatusExisting:
				want[k].Existing++
			case sfmc.StatusExited:
				want[k].Exited++
			}
		}
	}
	for k, sg := range demoSegments {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+sg.SegmentID+`\s+`+sg.MappingID+`\s+`+strconv.FormatInt(want[k].Realized, 10)+`\s+`+strconv.FormatInt(want[k].Existing, 10)+`\s+`+strconv.FormatInt(want[k].Exited, 10)+`\s*$`), r.stderr)
	}
}

// A terminal on stdin without --input: push says it reads from there.
func TestPushStdinTerminalHint(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	var out, errOut syncBuffer
	stdin := strings.NewReader(profilesNDJSON(t, 2))
	e := &env{getenv: simEnv(srv), stdin: stdin, stdout: &out, stderr: &errOut,
		terminal: func(v any) bool { return v == any(stdin) }}
	code := runEnv(context.Background(), e, []string{"push", "--mapping", writeMapping(t, demoMapping()), "--failures", filepath.Join(t.TempDir(), "f")})
	require.Equal(t, exitOK, code, errOut.String())
	assert.Contains(t, errOut.String(), "sfmc push: reading NDJSON profiles from standard input (a terminal): end with Ctrl-D, or give --input FILE\n")

	r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 2), "push", "--mapping", writeMapping(t, demoMapping()), "--failures", filepath.Join(t.TempDir(), "f"))
	assert.NotContains(t, r.stderr, "standard input", "no hint for a pipe")
}
