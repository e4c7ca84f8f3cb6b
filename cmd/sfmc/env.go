package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sfmc-go/sfmc"
)

// Environment variables read by the commands that talk to a tenant.
const (
	envSubdomain    = "SFMC_SUBDOMAIN"
	envClientID     = "SFMC_CLIENT_ID"
	envClientSecret = "SFMC_CLIENT_SECRET"
	envAccountID    = "SFMC_ACCOUNT_ID"
	envScope        = "SFMC_SCOPE"
	envAuthURL      = "SFMC_AUTH_URL"
	envRESTURL      = "SFMC_REST_URL"
	envLogLevel     = "SFMC_LOG_LEVEL"  // default of --log-level
	envLogFormat    = "SFMC_LOG_FORMAT" // default of --log-format
)

// httpClient returns an HTTP client whose transport keeps up to conns idle
// connections per host. http.DefaultTransport keeps 2, so with more
// concurrent workers most requests would open (and close) a connection:
// measurable CPU per contact.
func httpClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(100, conns)
	t.MaxIdleConnsPerHost = max(2, conns)
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

// configError is a configuration problem found before any network call
// (exit 2).
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// newClient builds a Client from the environment, logging as lf says.
// Missing required variables give a *configError naming all of them.
// extra options come after the environment's (e.g. a rate limit).
func newClient(e *env, lf *logFlags, extra ...sfmc.Option) (*sfmc.Client, error) {
	get := func(k string) string { return strings.TrimSpace(e.getenv(k)) }
	var missing []string
	for _, k := range []string{envSubdomain, envClientID, envClientSecret} {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, &configError{fmt.Sprintf("missing environment variable%s %s: set %s to the tenant subdomain (the first label of the Installed Package's Authentication Base URI) and %s/%s to its API integration's client id and secret (or run \"sfmc simulator\" and paste its export lines; \"sfmc demo\" needs none)",
			plural(len(missing)), strings.Join(missing, ", "), envSubdomain, envClientID, envClientSecret)}
	}
	cfg := sfmc.Config{
		Subdomain:    get(envSubdomain),
		ClientID:     get(envClientID),
		ClientSecret: e.getenv(envClientSecret),
		AccountID:    get(envAccountID),
		Scopes:       strings.Fields(e.getenv(envScope)),
	}
	opts := []sfmc.Option{sfmc.WithUserAgent(userAgent())}
	if l := lf.logger(); l != nil {
		opts = append(opts, sfmc.WithLogger(l))
	}
	if u := get(envAuthURL); u != "" {
		opts = append(opts, sfmc.WithAuthURL(u))
	}
	if u := get(envRESTURL); u != "" {
		opts = append(opts, sfmc.WithRESTURL(u))
	}
	opts = append(opts, extra...)
	c, err := sfmc.NewClient(cfg, opts...)
	if err != nil {
		return nil, &configError{redact(err.Error(), cfg.ClientSecret)}
	}
	return c, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Advice printed for the errors a person must fix in Marketing Cloud, when
// the library's message does not say it already (an IP allowlist rejection
// does; SFMC's own text for bad credentials names the client id, not the
// variables to check).
const (
	adviceCredentials = "what to do: check SFMC_CLIENT_ID and SFMC_CLIENT_SECRET against the API integration of the Installed Package " +
		"(Marketing Cloud Setup > Platform Tools > Apps > Installed Packages), that the package is installed and enabled, " +
		"and that SFMC_SUBDOMAIN is the first label of its Authentication Base URI (and SFMC_ACCOUNT_ID, if set, a business unit it may access)"
)

// adviceRejected is printed when REST refuses a freshly fetched token.
const adviceRejected = "what to do: check the package in Marketing Cloud Setup > Platform Tools > Apps > Installed Packages, " +
	"and that SFMC_ACCOUNT_ID (if set) is a business unit it may access"

// advice returns what to do about err, or "" when err's message says it
// (the IP allowlist) or there is nothing to add: each piece of advice is
// printed once.
func advice(err error) string {
	switch {
	case errors.Is(err, sfmc.ErrIPNotAllowlisted):
		return ""
	case errors.Is(err, sfmc.ErrInvalidCredentials):
		return adviceCredentials
	case errors.Is(err, sfmc.ErrUnauthorized):
		return adviceRejected
	}
	return ""
}

// fail prints err (and advice for it) for command cmd and returns the exit
// code for a setup error: 2 (configuration, authentication, or the tenant
// could not be reached).
func fail(e *env, cmd string, err error) int {
	msg := redact(err.Error(), e.getenv(envClientSecret))
	errorf(e, cmd, "%s", msg)
	if a := advice(err); a != "" {
		fmt.Fprintln(e.stderr, a)
	}
	return exitUsage
}

// redact removes secret from s, in case an error ever echoes it. The
// library promises not to; this is the command's own guard.
func redact(s, secret string) string {
	if len(secret) < 4 {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

// redactWriter is the same guard on a stream: log records and warnings.
// Each slog record is one Write, so a secret cannot straddle two.
type redactWriter struct {
	w      io.Writer
	secret string
}

func (r redactWriter) Write(p []byte) (int, error) {
	if len(r.secret) < 4 || !bytes.Contains(p, []byte(r.secret)) {
		return r.w.Write(p)
	}
	if _, err := r.w.Write(bytes.ReplaceAll(p, []byte(r.secret), []byte("[REDACTED]"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// logFlags are a command's --log-level and --log-format, and where the
// log goes.
type logFlags struct {
	level, format string
	out           io.Writer // stderr, behind the secret guard
}

// logLevel returns the slog level a --log-level value names (false for
// off and unknown values).
func logLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// addLogFlags defines --log-level and --log-format on fs, with defaults
// from SFMC_LOG_LEVEL and SFMC_LOG_FORMAT.
func addLogFlags(fs *flag.FlagSet, e *env) *logFlags {
	lf := &logFlags{out: redactWriter{e.stderr, e.getenv(envClientSecret)}}
	fs.StringVar(&lf.level, "log-level", cmp.Or(strings.TrimSpace(e.getenv(envLogLevel)), "off"),
		"`debug|info|warn|error|off`: the least level of the library's log records sent to stderr: token events (warn, debug), requests that failed or were retried (info; debug: every request), alerts (warn); never secrets")
	fs.StringVar(&lf.format, "log-format", cmp.Or(strings.TrimSpace(e.getenv(envLogFormat)), "text"),
		"`text|json`: the log's format (slog's key=value text, or one JSON object per line)")
	return lf
}

// check validates the flags' values.
func (lf *logFlags) check() error {
	if _, ok := logLevel(lf.level); !ok && lf.level != "off" {
		return fmt.Errorf("--log-level must be debug, info, warn, error or off, got %q", lf.level)
	}
	if lf.format != "text" && lf.format != "json" {
		return fmt.Errorf("--log-format must be text or json, got %q", lf.format)
	}
	return nil
}

// logger returns the logger the flags ask for, nil for off (or no flags).
func (lf *logFlags) logger() *slog.Logger {
	if lf == nil {
		return nil
	}
	level, ok := logLevel(lf.level)
	if !ok {
		return nil
	}
	opts := &slog.HandlerOptions{Level: level}
	if lf.format == "json" {
		return slog.New(slog.NewJSONHandler(lf.out, opts))
	}
	return slog.New(slog.NewTextHandler(lf.out, opts))
}
