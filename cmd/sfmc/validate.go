package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/sfmc-go/sfmc"
)

const validateUsage = `Usage: sfmc validate --mapping FILE [--all]

Checks a mapping file against the tenant's attributes before anything is
sent: every target exists (exact, case-sensitive name) in Email
Demographics, or is Email Addresses.Email Address or HTML Enabled, and is
one a contact write may set — primary keys (such as Email
Demographics.Contacts ID), hidden and read-only attributes are refused with
the reason; every constant fits its target's type; every segment Mapping ID
is a Text attribute long enough for the segment statuses; and the email
address is mapped. It prints every problem, one per line, and exits 1; or
"mapping is valid" and exits 0. Warnings (Email Address mapped without
HTML Enabled, Email Demographics near SFMC's limit of 200 attributes) go to
stderr and do not change the exit code. A missing, unreadable or malformed
mapping file exits 2. Like the destination it reads the first page of
attribute sets; --all reads every page.

Mapping file:
  {"identity": "identityMap.contactKey",
   "attributes": [{"source": "person.name.firstName", "target": "Email Demographics.First Name"},
                  {"source": "personalEmail.address", "target": "Email Addresses.Email Address"}],
   "constants": {"Email Addresses.HTML Enabled": true},
   "segments": [{"id": "seg-1", "mappingId": "salesforce_mc_segment_1"}]}

Example:
  sfmc validate --mapping mapping.json --all
`

func runValidate(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	path := fs.String("mapping", "", "mapping `file` (JSON; required)")
	all := fs.Bool("all", false, "read every page of attribute sets, not only the first")
	if done, code := parseFlags(fs, e, validateUsage, args); done {
		return code
	}
	if *path == "" {
		errorf(e, "validate", "--mapping FILE is required")
		return exitUsage
	}
	m, err := sfmc.ReadMappingFile(*path)
	if err != nil {
		return fail(e, "validate", err)
	}
	c, err := newClient(e)
	if err != nil {
		return fail(e, "validate", err)
	}
	cat, err := readCatalog(ctx, c, *all)
	if err != nil {
		return fail(e, "validate", err)
	}
	for _, w := range m.Warnings(cat) {
		fmt.Fprintln(e.stderr, "sfmc validate: warning:", w)
	}
	if err := m.Validate(cat); err != nil {
		printProblems(e, err)
		return exitFailed
	}
	fmt.Fprintln(e.stdout, "mapping is valid")
	return exitOK
}

// printProblems prints a validation error one problem per line on stdout.
func printProblems(e *env, err error) {
	var ve *sfmc.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Fprintln(e.stdout, p)
		}
		return
	}
	fmt.Fprintln(e.stdout, err)
}
