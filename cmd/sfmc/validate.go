package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/sfmc-go/sfmc"
)

const validateUsage = `Usage: sfmc validate --mapping FILE [--all] [--json]
                     [--log-level L] [--log-format text|json]

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
attribute sets; --all reads every page. --json prints
{"valid","problems","warnings"} on stdout instead (the same exit codes;
problems and warnings are lists of sentences, empty when none).

Mapping file:
  {
    "identity": "identityMap.contactKey",
    "attributes": [
      {"source": "person.name.firstName",
       "target": "Email Demographics.First Name"},
      {"source": "personalEmail.address",
       "target": "Email Addresses.Email Address"}
    ],
    "constants": {"Email Addresses.HTML Enabled": true},
    "segments": [{"id": "seg-1", "mappingId": "salesforce_mc_segment_1"}]
  }

Example:
  sfmc validate --mapping mapping.json --all
`

func runValidate(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	path := fs.String("mapping", "", "the mapping `file` (JSON; required)")
	all := fs.Bool("all", false, "read every page of attribute sets, not only the first")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	lf := addLogFlags(fs, e)
	if done, code := parseFlags(fs, e, validateUsage, args); done {
		return code
	}
	if *path == "" {
		return usageError(e, "validate", errors.New("--mapping FILE is required"))
	}
	if err := lf.check(); err != nil {
		return usageError(e, "validate", err)
	}
	m, err := sfmc.ReadMappingFile(*path)
	if err != nil {
		return fail(e, "validate", err)
	}
	c, err := newClient(e, lf)
	if err != nil {
		return fail(e, "validate", err)
	}
	cat, err := readCatalog(ctx, c, *all)
	if err != nil {
		return fail(e, "validate", err)
	}
	doc := validateJSON{Problems: problemsOf(m.Validate(cat)), Warnings: m.Warnings(cat)}
	doc.Valid = len(doc.Problems) == 0
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	code := exitOK
	if !doc.Valid {
		code = exitFailed
	}
	if *asJSON {
		if err := json.NewEncoder(e.stdout).Encode(doc); err != nil {
			return fail(e, "validate", err)
		}
		return code
	}
	for _, w := range doc.Warnings {
		fmt.Fprintln(e.stderr, "sfmc validate: warning:", w)
	}
	for _, p := range doc.Problems {
		fmt.Fprintln(e.stdout, p)
	}
	if doc.Valid {
		fmt.Fprintln(e.stdout, "mapping is valid")
	}
	return code
}

// validateJSON is the --json output of validate.
type validateJSON struct {
	Valid    bool     `json:"valid"`
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

// problemsOf returns a validation error's problems, one sentence each
// (empty for nil).
func problemsOf(err error) []string {
	if err == nil {
		return []string{}
	}
	var ve *sfmc.ValidationError
	if errors.As(err, &ve) {
		return append([]string{}, ve.Problems...)
	}
	return []string{err.Error()}
}
