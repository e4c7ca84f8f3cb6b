package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/sfmc-go/sfmc"
)

const attributesUsage = `Usage: sfmc attributes [--all] [--set NAME] [--json]
                       [--log-level L] [--log-format text|json]

Lists the tenant's attribute-set definitions as a table: set, attribute,
type, length. Like the destination it reads the first page (2000 sets) and
warns on stderr when more pages exist; --all reads every page. --set keeps
the set with exactly that name; --json prints one JSON document on stdout:
{"truncated":bool,"sets":[{"name","attributes":[{"name","type","length"}]}]}.

Example:
  sfmc attributes --all --set "Email Demographics"
`

// attributeJSON is one attribute in the --json output of attributes.
type attributeJSON struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Length int    `json:"length"`
}

// setJSON is one attribute set in the --json output of attributes.
type setJSON struct {
	Name       string          `json:"name"`
	Attributes []attributeJSON `json:"attributes"`
}

func runAttributes(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("attributes", flag.ContinueOnError)
	all := fs.Bool("all", false, "read every page of attribute sets, not only the first")
	set := fs.String("set", "", "show only the attribute set with exactly this `NAME`")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	lf := addLogFlags(fs, e)
	if done, code := parseFlags(fs, e, attributesUsage, args); done {
		return code
	}
	if err := lf.check(); err != nil {
		return usageError(e, "attributes", err)
	}
	c, err := newClient(e, lf)
	if err != nil {
		return fail(e, "attributes", err)
	}
	cat, err := readCatalog(ctx, c, *all)
	if err != nil {
		return fail(e, "attributes", err)
	}
	if cat.Truncated {
		fmt.Fprintln(e.stderr, "sfmc attributes: warning: the tenant has more attribute sets than the first page holds; use --all to read every page")
	}
	sets := make([]setJSON, 0, len(cat.Sets()))
	for _, s := range cat.Sets() {
		if *set != "" && s.Name != *set {
			continue
		}
		js := setJSON{Name: s.Name, Attributes: make([]attributeJSON, 0, len(s.Attributes))}
		for _, a := range s.Attributes {
			if a != nil {
				js.Attributes = append(js.Attributes, attributeJSON{Name: a.Name, Type: a.DataType, Length: a.Length})
			}
		}
		sets = append(sets, js)
	}
	if *set != "" && len(sets) == 0 {
		hint := ""
		if cat.Truncated {
			hint = " on the first page (try --all)"
		}
		errorf(e, "attributes", "no attribute set named %q%s", *set, hint)
		return exitFailed
	}
	if *asJSON {
		doc := struct {
			Truncated bool      `json:"truncated"`
			Sets      []setJSON `json:"sets"`
		}{cat.Truncated, sets}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fail(e, "attributes", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tATTRIBUTE\tTYPE\tLENGTH")
	for _, s := range sets {
		for _, a := range s.Attributes {
			length := "-"
			if a.Length > 0 {
				length = fmt.Sprint(a.Length)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, a.Name, a.Type, length)
		}
	}
	tw.Flush()
	return exitOK
}

// readCatalog reads the first page of attribute sets, or every page.
func readCatalog(ctx context.Context, c *sfmc.Client, all bool) (*sfmc.Catalog, error) {
	if all {
		return c.AttributeSets.Catalog(ctx)
	}
	return c.AttributeSets.FirstPage(ctx)
}
