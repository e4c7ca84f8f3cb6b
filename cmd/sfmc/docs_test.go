package main

import (
	"context"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synopsis returns a command's synopsis: its usage text from "Usage: "
// to the first blank line, whitespace collapsed.
func synopsis(c command) string {
	head, _, _ := strings.Cut(c.usage, "\n\n")
	return strings.Join(strings.Fields(strings.TrimPrefix(head, "Usage: ")), " ")
}

// normalize collapses runs of whitespace, and removes the padding a doc
// puts between a command's name and its flags.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// Issue 14: README and go doc match the CLI exactly: every command's
// synopsis, as --help prints it, is in both; every synopsis names all of
// the command's flags; and sfmc --help lists every command.
func TestDocsMatchCLI(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	goDoc := normalize(f.Doc.Text())
	flat := normalize(string(readme))
	help := runCLI(context.Background(), func(string) string { return "" }, "", "--help")
	for _, c := range commands() {
		syn := synopsis(c)
		r := runCLI(context.Background(), func(string) string { return "" }, "", c.name, "--help")
		assert.True(t, strings.HasPrefix(normalize(r.stdout), "Usage: "+syn), "%s --help starts with its synopsis", c.name)
		for _, fl := range commandFlags(c) {
			assert.Regexp(t, `[ \[]--`+regexp.QuoteMeta(fl.Name)+`[ \]]`, syn+" ", "%s: the synopsis names --%s", c.name, fl.Name)
		}
		// In go doc and README the name is padded to align the flags.
		name, rest, _ := strings.Cut(strings.TrimPrefix(syn, "sfmc "), " ")
		pattern := regexp.MustCompile(`sfmc ` + regexp.QuoteMeta(name) + ` +` + regexp.QuoteMeta(rest))
		assert.Regexp(t, pattern, goDoc, "go doc ./cmd/sfmc shows %q", syn)
		assert.Regexp(t, pattern, flat, "README shows %q", syn)
		assert.Contains(t, string(readme), "| `sfmc "+c.name+"` |", "README's table lists %s", c.name)
		assert.Regexp(t, `(?m)^  `+c.name+` +\S`, help.stdout, "sfmc --help lists %s", c.name)
	}
	for _, v := range []string{envSubdomain, envClientID, envClientSecret, envAccountID, envScope, envAuthURL, envRESTURL, envLogLevel, envLogFormat} {
		assert.Contains(t, string(readme), "`"+v+"`", "README names %s", v)
		assert.Contains(t, help.stdout, v, "sfmc --help names %s", v)
	}
}

// jsonKeys returns the JSON keys of a struct type's exported fields.
func jsonKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Issue 14, item 6: README lists every command's JSON document with its
// fields, and push's --help lists the summary's.
func TestREADMEListsJSONDocuments(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### JSON documents")
	require.True(t, ok, "README has a JSON documents section")
	section, _, _ = strings.Cut(section, "\n## ")
	row := func(cmd string) string {
		for _, l := range strings.Split(section, "\n") {
			if strings.HasPrefix(l, "| `"+cmd+" --json` |") {
				return l
			}
		}
		t.Errorf("README's JSON documents have no row for %s --json", cmd)
		return ""
	}
	push := row("push")
	for _, k := range jsonKeys(summary{}) {
		assert.Contains(t, push, `"`+k+`"`, "push --json: %s", k)
		assert.Contains(t, normalize(pushUsage), `"`+k+`"`, "push --help: %s", k)
	}
	for _, k := range jsonKeys(segmentCounts{}) {
		assert.Contains(t, push, `"`+k+`"`)
	}
	for cmd, keys := range map[string][]string{
		"validate":   jsonKeys(validateJSON{}),
		"verify":     jsonKeys(verifyJSON{}),
		"version":    jsonKeys(versionInfo{}),
		"attributes": append(append(jsonKeys(setJSON{}), jsonKeys(attributeJSON{})...), "truncated", "sets"),
		"demo":       {"verified", "mismatches"},
	} {
		line := row(cmd)
		for _, k := range keys {
			assert.Contains(t, line, `"`+k+`"`, "%s --json: %s", cmd, k)
		}
	}
	for _, c := range []string{"validate", "verify", "version", "attributes", "demo", "push"} {
		r := runCLI(context.Background(), func(string) string { return "" }, "", c, "--help")
		assert.Contains(t, r.stdout, "--json", c)
	}
}

// Issue 14, item 9: redisstore requires a released core version (with a
// replace for builds inside this repository), the release order is
// documented, and the workspace's checksums are committed.
func TestRedisstoreRequiresARealCore(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../../redisstore/go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s+github\.com/sfmc-go/sfmc (v\d+\.\d+\.\d+)\s*$`).FindStringSubmatch(string(mod))
	require.NotNil(t, m, "redisstore requires the core at a version:\n%s", mod)
	assert.NotEqual(t, "v0.0.0", m[1], "a version that can be published")
	assert.Contains(t, string(mod), "replace github.com/sfmc-go/sfmc => ../", "GOWORK=off builds in this repository use the core next to it")
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, releasing, ok := strings.Cut(string(readme), "## Releasing")
	require.True(t, ok)
	core := strings.Index(releasing, "git tag v0.X.Y")
	store := strings.Index(releasing, "git tag redisstore/v0.X.Y")
	assert.True(t, core >= 0 && store > core, "tag the core, then redisstore")
	_, err = os.Stat("../../go.work.sum")
	assert.NoError(t, err, "go.work.sum is committed: a test run leaves the tree clean")
}
