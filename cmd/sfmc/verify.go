package main

import (
	"context"
	"flag"
	"fmt"
)

const verifyUsage = `Usage: sfmc verify

Gets a token with the credentials from the environment, as the destination's
"Connect to destination" step does, and prints the REST URL the other
commands will use. Exit 0 when the tenant accepts the credentials, 2 when it
does not (with what to do: allowlist the IP, check the client id/secret).

Example:
  SFMC_SUBDOMAIN=mc... SFMC_CLIENT_ID=... SFMC_CLIENT_SECRET=... sfmc verify
`

func runVerify(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	if done, code := parseFlags(fs, e, verifyUsage, args); done {
		return code
	}
	c, err := newClient(e)
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
	fmt.Fprintln(e.stdout, "credentials accepted; REST URL:", rest)
	return exitOK
}
