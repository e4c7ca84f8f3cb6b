package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
)

const verifyUsage = `Usage: sfmc verify [--json] [--log-level L] [--log-format text|json]

Gets a token with the credentials from the environment, as the destination's
"Connect to destination" step does, and prints the REST URL the other
commands will use. Exit 0 when the tenant accepts the credentials, 2 when it
does not (with what to do: allowlist the IP, check the client id/secret).
--json prints {"restURL","subdomain","accountID"} on stdout instead
(accountID is "" when SFMC_ACCOUNT_ID is not set); errors stay on stderr.

Example:
  SFMC_SUBDOMAIN=mc... SFMC_CLIENT_ID=... SFMC_CLIENT_SECRET=... sfmc verify
`

// verifyJSON is the --json output of verify.
type verifyJSON struct {
	RESTURL   string `json:"restURL"`
	Subdomain string `json:"subdomain"`
	AccountID string `json:"accountID"`
}

func runVerify(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	lf := addLogFlags(fs, e)
	if done, code := parseFlags(fs, e, verifyUsage, args); done {
		return code
	}
	if err := lf.check(); err != nil {
		return usageError(e, "verify", err)
	}
	c, err := newClient(e, lf)
	if err != nil {
		return fail(e, "verify", err)
	}
	if err := c.Verify(ctx); err != nil {
		return fail(e, "verify", err)
	}
	rest, err := c.RESTURL(ctx)
	if err != nil {
		return fail(e, "verify", err)
	}
	if *asJSON {
		doc := verifyJSON{RESTURL: rest, Subdomain: strings.TrimSpace(e.getenv(envSubdomain)), AccountID: strings.TrimSpace(e.getenv(envAccountID))}
		if err := json.NewEncoder(e.stdout).Encode(doc); err != nil {
			return fail(e, "verify", err)
		}
		return exitOK
	}
	fmt.Fprintln(e.stdout, "credentials accepted; REST URL:", rest)
	return exitOK
}
