package main

import (
	"errors"
	"fmt"
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
)

// userAgent identifies the command-line tool to SFMC.
const userAgent = "sfmc-cli/" + sfmc.Version

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

// newClient builds a Client from the environment. Missing required
// variables give a *configError naming all of them. extra options come
// after the environment's (e.g. a rate limit).
func newClient(e *env, extra ...sfmc.Option) (*sfmc.Client, error) {
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
	opts := []sfmc.Option{sfmc.WithUserAgent(userAgent)}
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

// Advice printed for the errors a person must fix in Marketing Cloud.
const (
	adviceIP = "what to do: allowlist this machine's public IP address in Marketing Cloud Setup " +
		"(Settings > Security > Security Settings > Login IP Allowlist, API ranges) for the business unit or the enterprise, then try again"
	adviceCredentials = "what to do: check SFMC_CLIENT_ID and SFMC_CLIENT_SECRET against the API integration of the Installed Package " +
		"(Marketing Cloud Setup > Platform Tools > Apps > Installed Packages), that the package is installed and enabled, " +
		"and that SFMC_SUBDOMAIN is the first label of its Authentication Base URI (and SFMC_ACCOUNT_ID, if set, a business unit it may access)"
)

// adviceRejected is printed when REST refuses a freshly fetched token.
const adviceRejected = "what to do: the API integration was rejected although its tokens are issued: check in Marketing Cloud Setup > Installed Packages " +
	"that the package is enabled, that its API integration has the scopes list_and_subscribers_read and list_and_subscribers_write, " +
	"and that SFMC_ACCOUNT_ID (if set) is a business unit it may access"

// advice returns what to do about err, or "".
func advice(err error) string {
	switch {
	case errors.Is(err, sfmc.ErrIPNotAllowlisted):
		return adviceIP
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
