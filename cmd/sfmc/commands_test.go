package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	none := func(string) string { return "" }
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runCLI(ctx, none, "", args...)
		assert.Equal(t, exitOK, r.code, args)
		for _, c := range commands() {
			assert.Contains(t, r.stdout, c.name, args)
		}
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-help"}, {"help", c.name}} {
			r := runCLI(ctx, none, "", args...)
			assert.Equal(t, exitOK, r.code, args)
			assert.Contains(t, r.stdout, "Usage: sfmc "+c.name, args)
			assert.Contains(t, r.stdout, "Example", args)
		}
	}
	r := runCLI(ctx, none, "", "frobnicate")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)
	assert.Contains(t, r.stderr, "Run 'sfmc --help' for usage.", "a hint, not the whole usage (issue 14, item 2)")

	r = runCLI(ctx, none, "")
	assert.Equal(t, exitUsage, r.code)

	r = runCLI(ctx, none, "", "push", "--no-such-flag")
	assert.Equal(t, exitUsage, r.code)
	r = runCLI(ctx, none, "", "verify", "extra")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unexpected argument "extra"`)
}

func TestMissingCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cmd := range [][]string{{"verify"}, {"attributes"}} {
		r := runCLI(ctx, func(string) string { return "" }, "", cmd...)
		assert.Equal(t, exitUsage, r.code)
		for _, v := range []string{envSubdomain, envClientID, envClientSecret} {
			assert.Contains(t, r.stderr, v)
		}
	}
	srv := newSim(t)
	r := runCLI(ctx, simEnv(srv, envClientSecret, ""), "", "verify")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "missing environment variable SFMC_CLIENT_SECRET")
	assert.NotContains(t, r.stderr, envClientID+",")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	r := runCLI(context.Background(), simEnv(srv), "", "verify")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, srv.URL())

	// Only the auth URL: the REST URL comes from the token.
	r = runCLI(context.Background(), simEnv(srv, envRESTURL, ""), "", "verify")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, srv.URL())
}

func TestWrongSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	const secret = "s3cr3t-that-must-not-leak"
	for _, cmd := range [][]string{{"verify"}, {"attributes"}, {"attributes", "--json"}} {
		r := runCLI(context.Background(), simEnv(srv, envClientSecret, secret), "", cmd...)
		assert.Equal(t, exitUsage, r.code, cmd)
		assert.Contains(t, r.stderr, "check SFMC_CLIENT_ID and SFMC_CLIENT_SECRET")
		assert.NotContains(t, r.stdout+r.stderr, secret)
	}
	// The right secret is never printed either, nor a token.
	_, good := srv.Credentials()
	r := runCLI(context.Background(), simEnv(srv), "", "verify")
	require.Equal(t, exitOK, r.code)
	assert.NotContains(t, r.stdout+r.stderr, good)
	assert.NotContains(t, r.stdout+r.stderr, "Bearer")
}

func TestIPNotAllowlisted(t *testing.T) {
	t.Parallel()
	srv := newSim(t, sfmctest.WithIPAllowlistRejection())
	r := runCLI(context.Background(), simEnv(srv), "", "verify")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "allowlist the IP addresses this program calls from")
	assert.Equal(t, 1, strings.Count(r.stderr, "allowlist the IP"), "said once")
}

func TestAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t)
	r := runCLI(ctx, simEnv(srv), "", "attributes")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	assert.Regexp(t, `^SET\s+ATTRIBUTE\s+TYPE\s+LENGTH$`, lines[0])
	assert.Regexp(t, `(?m)^Email Demographics\s+salesforce_mc_segment_2\s+Text\s+20$`, r.stdout)
	assert.Regexp(t, `(?m)^Email Addresses\s+Email Address\s+EmailAddress\s+-$`, r.stdout)
	assert.Regexp(t, `(?m)^Email Demographics\s+Contacts ID\s+LongNumber\s+-$`, r.stdout)
	// Aligned: the ATTRIBUTE column starts at the same offset on every line.
	col := strings.Index(lines[0], "ATTRIBUTE")
	for _, l := range lines[1:] {
		assert.NotEqual(t, ' ', l[col], l)
		assert.Equal(t, byte(' '), l[col-1], l)
	}

	r = runCLI(ctx, simEnv(srv), "", "attributes", "--set", "Email Addresses")
	require.Equal(t, exitOK, r.code)
	assert.NotContains(t, r.stdout, "Email Demographics")
	assert.Contains(t, r.stdout, "HTML Enabled")

	r = runCLI(ctx, simEnv(srv), "", "attributes", "--set", "email addresses")
	assert.Equal(t, exitFailed, r.code)

	r = runCLI(ctx, simEnv(srv), "", "attributes", "--json", "--set", "Email Demographics")
	require.Equal(t, exitOK, r.code)
	var doc struct {
		Truncated bool      `json:"truncated"`
		Sets      []setJSON `json:"sets"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	require.Len(t, doc.Sets, 1)
	assert.Equal(t, "Email Demographics", doc.Sets[0].Name)
	assert.Contains(t, doc.Sets[0].Attributes, attributeJSON{Name: "salesforce_mc_segment_3", Type: "Text", Length: 20})
}

func TestAttributesPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t, sfmctest.WithLeadingSets(5), sfmctest.WithPageSizeCap(3))
	r := runCLI(ctx, simEnv(srv), "", "attributes")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "use --all")
	assert.NotContains(t, r.stdout, "Email Demographics")

	r = runCLI(ctx, simEnv(srv), "", "attributes", "--all")
	require.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, "Email Demographics")
	assert.Contains(t, r.stdout, "Filler Set 0005")

	r = runCLI(ctx, simEnv(srv), "", "attributes", "--json")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, `"truncated": true`)
}

func validMapping() *sfmc.Mapping { return demoMapping() }

func TestValidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t, sfmctest.WithAttributes(sfmc.SetEmailDemographics,
		sfmctest.Attribute{Name: "short_segment", DataType: "Text", Length: 5}))

	r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", writeMapping(t, validMapping()))
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Equal(t, "mapping is valid\n", r.stdout)

	bad := validMapping()
	bad.Segments = []sfmc.SegmentMapping{
		{SegmentID: "seg-1", MappingID: "no_such_attribute"},
		{SegmentID: "seg-2", MappingID: "Salesforce_MC_Segment_2"},
		{SegmentID: "seg-3", MappingID: "short_segment"},
	}
	r = runCLI(ctx, simEnv(srv), "", "validate", "--mapping", writeMapping(t, bad))
	assert.Equal(t, exitFailed, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.Contains(t, lines[0], `"no_such_attribute"`)
	assert.Contains(t, lines[0], "does not exist")
	assert.Contains(t, lines[1], `did you mean "Email Demographics.salesforce_mc_segment_2"`)
	assert.Contains(t, lines[2], `"short_segment"`)
	assert.Contains(t, lines[2], "length 5")
}

func TestValidateBeyondFirstPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t, sfmctest.WithLeadingSets(4), sfmctest.WithPageSizeCap(2))
	path := writeMapping(t, validMapping())
	r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", path)
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, "--all")

	r = runCLI(ctx, simEnv(srv), "", "validate", "--all", "--mapping", path)
	assert.Equal(t, exitOK, r.code, r.stdout)
	assert.Contains(t, r.stdout, "mapping is valid")
}

func TestValidateBadMappingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t)
	for name, path := range map[string]string{
		"missing":   t.TempDir() + "/nope.json",
		"malformed": writeFile(t, "bad.json", `{"identity": "x", `),
		"unknown":   writeFile(t, "unknown.json", `{"identity": "x", "colour": "blue"}`),
		"empty":     writeFile(t, "empty.json", `{"identity": ""}`),
	} {
		r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", path)
		assert.Equal(t, exitUsage, r.code, name)
		assert.NotEmpty(t, r.stderr, name)
	}
	r := runCLI(ctx, simEnv(srv), "", "validate")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--mapping")
	assert.Zero(t, srv.Stats().TokenRequests, "nothing asked of the tenant for a bad mapping file")
}

func TestSimulatorCommand(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"simulator", "--addr", "127.0.0.1:0", "--segments", "2", "--latency", "1ms", "--token-ttl", "60", "--fault-429", "0.1", "--retry-after", "10ms"},
			func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "serving until Ctrl-C") }, 5e9, 1e7)
	text := out.String()
	var exports string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "export ") {
			exports = l
		}
	}
	require.NotEmpty(t, exports, text)
	vars := map[string]string{}
	for _, kv := range strings.Fields(strings.TrimPrefix(exports, "export ")) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for _, k := range []string{envSubdomain, envClientID, envClientSecret, envAuthURL} {
		require.NotEmpty(t, vars[k], k)
	}
	getenv := func(k string) string { return vars[k] }
	r := runCLI(context.Background(), getenv, "", "attributes", "--set", "Email Demographics")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "salesforce_mc_segment_2")
	assert.NotContains(t, r.stdout, "salesforce_mc_segment_3")

	cancel()
	assert.Equal(t, exitOK, <-done)
	assert.Contains(t, out.String(), "stopped:")

	r = runCLI(context.Background(), getenv, "", "simulator", "--fault-500", "2")
	assert.Equal(t, exitUsage, r.code)
}

func TestDemo(t *testing.T) {
	t.Parallel()
	r := runCLI(context.Background(), func(string) string { return "" }, "", "demo", "--profiles", "300", "--workers", "4",
		"--failures", t.TempDir()+"/f.ndjson")
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "verified: 300 contacts match")
	assert.Contains(t, r.stdout, "read 300 records: 300 upserted, 0 failed")
	assert.Regexp(t, `(?m)^SEGMENT\s+MAPPING ID\s+REALIZED\s+EXISTING\s+EXITED`, r.stdout)
	assert.Regexp(t, `(?m)^seg-4\s+salesforce_mc_segment_3\s+\d+\s+\d+\s+\d+`, r.stdout)
	assert.Empty(t, r.stderr)

	r = runCLI(context.Background(), func(string) string { return "" }, "", "demo", "--profiles", "50", "--json",
		"--failures", t.TempDir()+"/f.ndjson")
	require.Equal(t, exitOK, r.code, r.stderr)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	assert.EqualValues(t, 50, doc["verified"])
	assert.EqualValues(t, 50, doc["upserted"])
	for _, k := range summaryKeys {
		assert.Contains(t, doc, k)
	}
}

func TestDemoProfilesCoverCases(t *testing.T) {
	t.Parallel()
	var none, shared, statusSeen = 0, 0, map[sfmc.SegmentStatus]bool{}
	for i := 1; i <= 500; i++ {
		p := genProfile(1, i)
		n := 0
		for _, st := range p.status {
			if st != "" {
				n++
				statusSeen[st] = true
			}
		}
		if n == 0 {
			none++
		}
		if p.status[2] != "" && p.status[3] != "" {
			shared++
		}
		assert.Equal(t, p, genProfile(1, i), "deterministic")
	}
	assert.Positive(t, none)
	assert.Positive(t, shared)
	assert.Len(t, statusSeen, 3)
}

func TestValidateRefusesSystemTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t)
	m := validMapping()
	m.Attributes = append(m.Attributes,
		sfmc.AttributeMapping{Source: "crm.id", Target: "Email Demographics.Contacts ID"},
		sfmc.AttributeMapping{Source: "crm.list", Target: "Email Addresses.List ID"})
	r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", writeMapping(t, m))
	assert.Equal(t, exitFailed, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Contains(t, lines[0], "Email Demographics.Contacts ID is the set's system primary key")
	assert.Contains(t, lines[1], "Email Addresses.List ID is the set's system primary key")
	assert.Empty(t, r.stderr, "the demo mapping sets HTML Enabled: no warning")
}

func TestValidateWarnings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var many []sfmctest.Attribute
	for i := range 187 { // with Contacts ID, First Name, Last Name: 190
		many = append(many, sfmctest.Attribute{Name: fmt.Sprintf("attr_%03d", i), DataType: "Text", Length: 50})
	}
	srv := sfmctest.NewServer(sfmctest.WithAttributes(sfmc.SetEmailDemographics, many...))
	t.Cleanup(srv.Close)
	m := validMapping()
	m.Segments = nil
	m.Constants = nil
	r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", writeMapping(t, m))
	require.Equal(t, exitOK, r.code, "warnings do not fail: %s", r.stdout+r.stderr)
	assert.Equal(t, "mapping is valid\n", r.stdout)
	assert.Contains(t, r.stderr, `warning: "Email Addresses.Email Address" is mapped without "Email Addresses.HTML Enabled"`)
	assert.Contains(t, r.stderr, `"constants": {"Email Addresses.HTML Enabled": true}`)
	assert.Contains(t, r.stderr, `warning: attribute set "Email Demographics" holds 190 attributes; SFMC allows at most 200`)
}

func TestValidateConstants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newSim(t)
	path := writeFile(t, "m.json", `{"identity":"k",
	  "attributes":[{"source":"email","target":"Email Addresses.Email Address"}],
	  "constants":{"Email Addresses.HTML Enabled":"maybe","Email Demographics.Contacts ID":1,"Email Demographics.First Name":"x"}}`)
	r := runCLI(ctx, simEnv(srv), "", "validate", "--mapping", path)
	assert.Equal(t, exitFailed, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	assert.Contains(t, r.stdout, `"Email Demographics.Contacts ID" cannot be mapped: Email Demographics.Contacts ID is the set's system primary key`)
	assert.Contains(t, r.stdout, `constants: "Email Addresses.HTML Enabled": value does not fit the target attribute's data type: string "maybe" is not a boolean`)
}

// Issue 15, item 5: sfmc verify says what to do about bad credentials
// once (the CLI's line naming the variables), not three times.
func TestVerifyAdviceOnce(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	r := runCLI(context.Background(), simEnv(srv, envClientSecret, "wrong-secret"), "", "verify")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "what to do"), r.stderr)
	assert.NotContains(t, r.stderr, "check the client id and secret of the API integration", "the library adds no advice of its own when SFMC's text has it")
}
