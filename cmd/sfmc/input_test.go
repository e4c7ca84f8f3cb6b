package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// csvColumns are the columns of the demo profiles as CSV.
var csvColumns = []string{"identityMap.contactKey", "person.name.firstName", "person.name.lastName", "personalEmail.address",
	"segmentMembership.ups.seg-1.status", "segmentMembership.ups.seg-2.status", "segmentMembership.ups.seg-3.status", "segmentMembership.ups.seg-4.status"}

// sameData returns n demo profiles and a few with text CSV must quote,
// as CSV and as NDJSON holding the same data (each value a string, the
// key an {"id","primary"} array in NDJSON and the key itself in CSV).
func sameData(t testing.TB, n int) (csvText, ndjson string) {
	t.Helper()
	rows := [][]string{}
	for i := 1; i <= n; i++ {
		p := genProfile(1, i)
		row := []string{p.key, p.first, p.last, p.email}
		for _, st := range p.status {
			row = append(row, string(st))
		}
		rows = append(rows, row)
	}
	rows = append(rows,
		[]string{"Q-1", "Smith, Jr.", `O"Brien`, "q1@example.com", "realized", "", "", ""},
		[]string{"Q-2", "Multi\nLine", "Zoë 李", "q2@example.com", "", "exited", "", ""},
		[]string{"Q-3", " padded ", "", "q3@example.com", "", "", "existing", "existing"},
	)
	var c strings.Builder
	w := csv.NewWriter(&c)
	require.NoError(t, w.Write(csvColumns))
	require.NoError(t, w.WriteAll(rows))
	var nd strings.Builder
	for _, row := range rows {
		prof := map[string]any{"identityMap": map[string]any{"contactKey": []any{map[string]any{"id": row[0], "primary": true}}}}
		name := map[string]any{}
		if row[1] != "" {
			name["firstName"] = row[1]
		}
		if row[2] != "" {
			name["lastName"] = row[2]
		}
		prof["person"] = map[string]any{"name": name}
		prof["personalEmail"] = map[string]any{"address": row[3]}
		ups := map[string]any{}
		for s, st := range row[4:] {
			if st != "" {
				ups[demoSegments[s].SegmentID] = map[string]any{"status": st}
			}
		}
		if len(ups) > 0 {
			prof["segmentMembership"] = map[string]any{"ups": ups}
		}
		b, err := json.Marshal(prof)
		require.NoError(t, err)
		nd.Write(b)
		nd.WriteByte('\n')
	}
	return c.String(), nd.String()
}

// stored returns the simulator's contacts by key, without their ids.
func stored(srv *sfmctest.Server) map[string]map[string]map[string]any {
	out := map[string]map[string]map[string]any{}
	for _, c := range srv.Contacts() {
		out[c.Key] = c.Sets
	}
	return out
}

// Issue 14, item 7: a CSV file and an NDJSON file holding the same data
// push exactly the same contacts, with the same summary.
func TestPushCSVSameAsNDJSON(t *testing.T) {
	t.Parallel()
	csvText, ndjson := sameData(t, 300)
	mapping := writeMapping(t, demoMapping())
	push := func(name, content string, extra ...string) (summary, *sfmctest.Server) {
		srv := newSim(t)
		args := append([]string{"push", "--mapping", mapping, "--input", writeFile(t, name, content),
			"--failures", filepath.Join(t.TempDir(), "f.ndjson"), "--json"}, extra...)
		r := runCLI(context.Background(), simEnv(srv), "", args...)
		require.Equal(t, exitOK, r.code, name+": "+r.stderr)
		return parseSummary(t, r.stdout), srv
	}
	sc, srvCSV := push("profiles.csv", csvText) // the format from the extension
	sn, srvND := push("profiles.ndjson", ndjson)
	assert.EqualValues(t, 303, sc.Read)
	assert.Equal(t, sn.Read, sc.Read)
	assert.Equal(t, sn.Upserted, sc.Upserted)
	assert.Equal(t, sn.Segments, sc.Segments)
	assert.Equal(t, stored(srvND), stored(srvCSV))
	q2, ok := srvCSV.Contact("Q-2")
	require.True(t, ok)
	assert.Equal(t, "Multi\nLine", q2.Sets[sfmc.SetEmailDemographics]["First Name"], "a quoted cell exactly as it is")
	q3, _ := srvCSV.Contact("Q-3")
	assert.Equal(t, " padded ", q3.Sets[sfmc.SetEmailDemographics]["First Name"], "never trimmed")
	assert.NotContains(t, q3.Sets[sfmc.SetEmailDemographics], "Last Name", "an empty cell is absent")

	// --format csv on standard input, with a byte-order mark, and a file
	// named in capitals.
	srv := newSim(t)
	r := runCLI(context.Background(), simEnv(srv), "\xef\xbb\xbf"+csvText, "push", "--mapping", mapping, "--format", "csv",
		"--failures", filepath.Join(t.TempDir(), "f.ndjson"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, stored(srvND), stored(srv))
	sc, _ = push("PROFILES.CSV", csvText)
	assert.EqualValues(t, 303, sc.Upserted)
}

// CSV rows that cannot be used are failure records naming their line (the
// line a record starts on) and the column; the others go on. A row that
// parses keeps its profile as an NDJSON line in the failures file, one
// that does not its original text.
func TestPushCSVBadRows(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	rows := []string{
		"identityMap.contactKey,person.name.firstName,person.name.lastName,personalEmail.address", // 1
		"K-1,Ann,Lee,ann@example.com",               // 2
		`K-2,"Bo ""the"" Best",Berg,bo@example.com`, // 3
		"K-3,Cy",                            // 4: too few fields
		`K-4,"Dee"x,Diaz,dee@example.com`,   // 5: a stray quote
		"K-5,M\xfcller,Novak,m@example.com", // 6: Latin-1
		" K-6 ,Eve,Silva,eve@example.com",   // 7: key with spaces
		"K-7,\"Multi",                       // 8: a record over two lines
		"Line\",Moreau,k7@example.com",      // 9
		",NoKey,Haddad,nokey@example.com",   // 10
		"K-11,Gus,Tanaka,",                  // 11: no email
		"",                                  // 12: blank, skipped
		"K-13,Hana,Okafor,hana@example.com", // 13, no line break at the end
	}
	failures := filepath.Join(t.TempDir(), "f.ndjson")
	r := runCLI(context.Background(), simEnv(srv), strings.Join(rows, "\n"), "push", "--mapping", writeMapping(t, demoMapping()),
		"--format", "csv", "--failures", failures, "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	s := parseSummary(t, r.stdout)
	assert.EqualValues(t, 10, s.Read)
	assert.EqualValues(t, 4, s.Upserted)
	assert.EqualValues(t, 6, s.Failed)
	assert.Nil(t, s.ResumeLine)
	recs := byLine(t, readFailures(t, failures))
	require.Len(t, recs, 6)
	assert.Contains(t, recs[4].Error, "line 4 has 2 fields, the header 4")
	assert.Equal(t, "K-3,Cy", string(inputOf(t, recs[4])), "the original text")
	assert.Contains(t, recs[5].Error, "not a CSV record")
	assert.Equal(t, `K-4,"Dee"x,Diaz,dee@example.com`, string(inputOf(t, recs[5])))
	assert.Contains(t, recs[6].Error, `field "person.name.firstName": invalid UTF-8: byte 0xfc at offset 1 of the cell (CSV column 2)`)
	assert.NotNil(t, recs[6].InputBase64, "bytes that are not UTF-8 are kept as they are")
	assert.Equal(t, "K-5,M\xfcller,Novak,m@example.com", string(inputOf(t, recs[6])))
	require.NotNil(t, recs[6].ContactKey)
	assert.Equal(t, "K-5", *recs[6].ContactKey)
	assert.Contains(t, recs[7].Error, "whitespace")
	require.NotNil(t, recs[7].ContactKey)
	assert.Equal(t, " K-6 ", *recs[7].ContactKey, "the key as it is")
	assert.JSONEq(t, `{"identityMap":{"contactKey":" K-6 "},"person":{"name":{"firstName":"Eve","lastName":"Silva"}},"personalEmail":{"address":"eve@example.com"}}`,
		string(inputOf(t, recs[7])), "a row that parses is kept as its profile, replayable as NDJSON")
	assert.Contains(t, recs[10].Error, "no contact key")
	assert.Contains(t, recs[11].Error, "no email address")
	for _, k := range []string{"K-1", "K-2", "K-7", "K-13"} {
		_, ok := srv.Contact(k)
		assert.True(t, ok, k)
	}
	k7, _ := srv.Contact("K-7")
	assert.Equal(t, "Multi\nLine", k7.Sets[sfmc.SetEmailDemographics]["First Name"])
	k2, _ := srv.Contact("K-2")
	assert.Equal(t, `Bo "the" Best`, k2.Sets[sfmc.SetEmailDemographics]["First Name"])
}

// The failures file of a CSV push replays as NDJSON: the contacts SFMC
// refused are pushed again with exactly their data.
func TestPushCSVFailuresReplay(t *testing.T) {
	t.Parallel()
	csvText, _ := sameData(t, 40)
	mapping := writeMapping(t, demoMapping())
	input := writeFile(t, "in.csv", csvText)
	refused := []string{"DEMO-0000007", "DEMO-0000031", "Q-2"}
	first := newSim(t)
	for _, k := range refused {
		first.FailKey(k, sfmctest.Fault501)
	}
	failures := filepath.Join(t.TempDir(), "failures.ndjson")
	r := runCLI(context.Background(), simEnv(first), "", "push", "--mapping", mapping, "--input", input, "--failures", failures, "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.EqualValues(t, len(refused), parseSummary(t, r.stdout).Failed)

	replay := newSim(t)
	r = runCLI(context.Background(), simEnv(replay), "", "push", "--mapping", mapping, "--input", failures,
		"--failures", filepath.Join(t.TempDir(), "again.ndjson"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.EqualValues(t, len(refused), parseSummary(t, r.stdout).Upserted)

	direct := newSim(t)
	r = runCLI(context.Background(), simEnv(direct), "", "push", "--mapping", mapping, "--input", input,
		"--failures", filepath.Join(t.TempDir(), "d.ndjson"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	got, want := stored(replay), stored(direct)
	require.Len(t, got, len(refused))
	for _, k := range refused {
		assert.Equal(t, want[k], got[k], k)
	}
}

// A CSV header that cannot describe profiles stops the run before
// anything is sent, exit 2, saying why.
func TestPushCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	for input, want := range map[string]string{
		"key,personalEmail.address\nK-1,a@example.com\n":                                          `no column "identityMap.contactKey": the mapping's identity`,
		"identityMap.contactKey,a,a\nK,1,2\n":                                                     `columns 2 and 3 are both "a"`,
		"identityMap.contactKey,person,person.name\nK,x,y\n":                                      `column 3 "person.name" is inside column 2 "person"`,
		"identityMap.contactKey,,x\nK,1,2\n":                                                      "column 2 has no name",
		"identityMap.contactKey,a..b\nK,1\n":                                                      `column 2: "a..b" is not a dot path`,
		`{"identityMap":{"contactKey":"K-1"},"personalEmail":{"address":"a@example.com"}}` + "\n": "input is not CSV: line 1 starts with \"{\"",
		"identityMap.contactKey,\"unclosed\n":                                                     "CSV header (line 1): ",
	} {
		r := runCLI(context.Background(), simEnv(srv), input, "push", "--mapping", mapping, "--format", "csv",
			"--failures", filepath.Join(t.TempDir(), "f"), "--json")
		assert.Equal(t, exitUsage, r.code, input)
		s := parseSummary(t, r.stdout)
		assert.Zero(t, s.Read, input)
		require.NotNil(t, s.StopReason, input)
		assert.Contains(t, *s.StopReason, want, input)
		assert.Contains(t, r.stderr, want, input)
	}
	assert.Zero(t, srv.Stats().Writes)
}

// Issue 14, item 7: an NDJSON input that is in another format stops at
// its first line with one clear error (exit 2) instead of failing every
// line; a first line that is only a bad record is a failure as before.
func TestPushNotNDJSON(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	mapping := writeMapping(t, demoMapping())
	for _, tc := range []struct{ input, want string }{
		{`[{"identityMap":{"contactKey":"K-1"}}]` + "\n", "input is not NDJSON: line 1 starts with '[' (a JSON array?): push reads one JSON object per line; write its elements one per line, e.g. with jq -c '.[]' FILE"},
		{"[\n  {\"identityMap\": {\"contactKey\": \"K-1\"}}\n]\n", "input is not NDJSON: line 1 starts with '['"},
		{"\xef\xbb\xbf\n\n{\n  \"identityMap\": {}\n}\n", "input is not NDJSON: line 3 starts with '{' alone (a JSON document over several lines?)"},
		{"identityMap.contactKey,personalEmail.address\nK-1,a@example.com\n", `input is not NDJSON: line 1 starts with "identityMap.contactKey,personalEmail.address" (a CSV or TSV header?): push reads one JSON object per line; for CSV use --format csv`},
		{"\x1f\x8b\x08\x00\x00\x00\x00\x00", "input is not NDJSON: line 1 starts with the bytes of gzip data"},
		{"<?xml version=\"1.0\"?>\n<profiles/>\n", "input is not NDJSON: line 1 starts with '<' (XML or HTML?)"},
	} {
		r := runCLI(context.Background(), simEnv(srv), tc.input, "push", "--mapping", mapping, "--failures", filepath.Join(t.TempDir(), "f"), "--json")
		assert.Equal(t, exitUsage, r.code, tc.input)
		s := parseSummary(t, r.stdout)
		assert.Zero(t, s.Read, "no record was read: %q", tc.input)
		assert.Zero(t, s.Failed)
		require.NotNil(t, s.StopReason, tc.input)
		assert.Contains(t, *s.StopReason, tc.want)
		require.NotNil(t, s.ResumeLine)
		assert.Contains(t, r.stderr, tc.want)
	}
	assert.Zero(t, srv.Stats().Writes)

	// A single record that is no JSON object is a failure record, not a
	// format error.
	for _, line := range []string{"not json", `"a string"`, "42"} {
		r := runCLI(context.Background(), simEnv(srv), line+"\n"+profilesNDJSON(t, 1), "push", "--mapping", mapping,
			"--failures", filepath.Join(t.TempDir(), "f"), "--json")
		assert.Equal(t, exitFailed, r.code, line)
		s := parseSummary(t, r.stdout)
		assert.EqualValues(t, 2, s.Read, line)
		assert.EqualValues(t, 1, s.Failed, line)
	}

	// The human summary says it too.
	r := runCLI(context.Background(), simEnv(srv), "[1,2]\n", "push", "--mapping", mapping, "--failures", filepath.Join(t.TempDir(), "f"))
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "stopped early: input is not NDJSON: line 1 starts with '['")
}

func TestInputFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ flag, path, want string }{
		{"", "-", formatNDJSON}, {"", "a.csv", formatCSV}, {"", "dir/B.CSV", formatCSV}, {"", "a.ndjson", formatNDJSON},
		{"", "a.json", formatNDJSON}, {"", "csv", formatNDJSON}, {"csv", "-", formatCSV}, {"ndjson", "a.csv", formatNDJSON},
	} {
		got, err := inputFormat(tc.flag, tc.path)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc)
	}
	_, err := inputFormat("json", "-")
	assert.EqualError(t, err, `--format must be ndjson or csv, got "json"`)
}

// Issue 14, item 5: --dry-run reads, maps and checks every record against
// the catalog and prints the summary and segment counts a real run would,
// sending no contact; it keeps the last run's failures file unless
// --failures is given.
func TestPushDryRun(t *testing.T) {
	t.Parallel()
	good := strings.Split(strings.TrimSpace(profilesNDJSON(t, 50)), "\n")
	lines := append(good[:25:25],
		"not json",
		`{"identityMap":{"contactKey":"LONG"},"person":{"name":{"firstName":"`+strings.Repeat("x", 101)+`"}},"personalEmail":{"address":"l@example.com"}}`,
		`{"identityMap":{"contactKey":"BADMAIL"},"personalEmail":{"address":"not an address"}}`)
	lines = append(lines, good[25:]...)
	input := writeFile(t, "in.ndjson", strings.Join(lines, "\n")+"\n")
	mapping := writeMapping(t, demoMapping())

	real := newSim(t)
	r := runCLI(context.Background(), simEnv(real), "", "push", "--mapping", mapping, "--input", input, "--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	want := parseSummary(t, r.stdout)

	srv := newSim(t)
	dir := t.TempDir()
	failures := filepath.Join(dir, "failures.ndjson")
	r = runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", mapping, "--input", input, "--failures", failures, "--dry-run", "--json")
	require.Equal(t, exitFailed, r.code, r.stderr)
	got := parseSummary(t, r.stdout)
	assert.True(t, got.DryRun)
	assert.False(t, want.DryRun)
	assert.Equal(t, want.Read, got.Read)
	assert.Equal(t, want.Upserted, got.Upserted)
	assert.Equal(t, want.Failed, got.Failed)
	assert.EqualValues(t, 3, got.Failed)
	assert.Equal(t, want.Segments, got.Segments)
	assert.Zero(t, got.Requests)
	assert.Zero(t, srv.Stats().Writes)
	for _, req := range srv.Requests() {
		if req.Path != "/v2/token" {
			assert.Equal(t, "GET", req.Method, "no contact request: %s %s", req.Method, req.Path)
			assert.Equal(t, "/contacts/v1/attributeSetDefinitions", req.Path, "only the attribute definitions are read")
		}
	}
	assert.Len(t, readFailures(t, failures), 3, "--failures given: written")

	// Human output: the same counts, said to be a dry run, with the table.
	r = runCLI(context.Background(), simEnv(srv), "", "push", "--mapping", mapping, "--input", input, "--dry-run")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "dry run, nothing sent: read 53 records: 50 would be upserted, 3 failed, 0 not sent")
	assert.Contains(t, r.stderr, "3 records would fail; give --failures FILE to write them with their errors")
	assert.Regexp(t, `(?m)^SEGMENT\s+MAPPING ID`, r.stderr)
	_, err := os.Stat(defaultFailures)
	assert.True(t, os.IsNotExist(err), "the default failures file is left alone by a dry run")
	assert.Zero(t, srv.Stats().Writes)
}

// Issue 14, item 5: a mapped source absent from every one of the first
// 1,000 records is a warning, on stderr at once and in the summary, with
// the spelling the records use when they differ only in case.
func TestPushWarnsOfAbsentSources(t *testing.T) {
	t.Parallel()
	srv := newSim(t)
	m := demoMapping()
	m.Attributes[0].Source = "person.name.firstname" // a typo for firstName
	m.Attributes = append(m.Attributes, sfmc.AttributeMapping{Source: "loyalty.tier", Target: sfmc.SetEmailDemographics + ".Last Name"})
	m.Attributes = slicesDeleteLastName(m.Attributes)
	mapping := writeMapping(t, m)
	r := runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 1200), "push", "--mapping", mapping,
		"--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitOK, r.code, "a warning does not fail the run: %s", r.stderr)
	s := parseSummary(t, r.stdout)
	require.Len(t, s.Warnings, 2, s.Warnings)
	sort.Strings(s.Warnings)
	assert.Equal(t, `mapped source "loyalty.tier" (target "Email Demographics.Last Name") is absent from every one of the first 1000 records: "Email Demographics.Last Name" is never written; check the source's spelling`, s.Warnings[0])
	assert.Equal(t, `mapped source "person.name.firstname" (target "Email Demographics.First Name") is absent from every one of the first 1000 records: "Email Demographics.First Name" is never written; check the source's spelling (the records have "person.name.firstName")`, s.Warnings[1])
	for _, w := range s.Warnings {
		assert.Contains(t, r.stderr, "sfmc push: warning: "+w+"\n")
	}
	assert.EqualValues(t, 1200, s.Upserted)

	// A short input: the warning comes at its end.
	r = runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 3), "push", "--mapping", mapping, "--failures", filepath.Join(t.TempDir(), "f"))
	assert.Contains(t, r.stderr, `sfmc push: warning: mapped source "person.name.firstname" (target "Email Demographics.First Name") is absent from all 3 records read`)
	assert.Contains(t, r.stderr, "warning: mapped source", "and in the human summary")

	// The mapping's warnings are printed by push too, and summarised.
	m = demoMapping()
	m.Constants = nil
	r = runCLI(context.Background(), simEnv(srv), profilesNDJSON(t, 3), "push", "--mapping", writeMapping(t, m), "--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	s = parseSummary(t, r.stdout)
	require.Len(t, s.Warnings, 1)
	assert.Contains(t, s.Warnings[0], `"Email Addresses.Email Address" is mapped without "Email Addresses.HTML Enabled"`)
	assert.Contains(t, r.stderr, "sfmc push: warning: "+s.Warnings[0])

	// A present source, even null, is no typo.
	m = demoMapping()
	r = runCLI(context.Background(), simEnv(srv), profileLine(`"K-1"`, `,"person":{"name":{"firstName":null,"lastName":"L"}}`)+"\n",
		"push", "--mapping", writeMapping(t, m), "--failures", filepath.Join(t.TempDir(), "f"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, parseSummary(t, r.stdout).Warnings)
}

// slicesDeleteLastName drops the Last Name mapping of the demo.
func slicesDeleteLastName(as []sfmc.AttributeMapping) []sfmc.AttributeMapping {
	var out []sfmc.AttributeMapping
	for _, a := range as {
		if a.Source != "person.name.lastName" {
			out = append(out, a)
		}
	}
	return out
}

func TestNDJSONStart(t *testing.T) {
	t.Parallel()
	for line, bad := range map[string]bool{
		`{"a":1}`: false, ` {"a":1}`: false, `{`: true, "{  ": true, `[1]`: true, `<x>`: true, "a,b,c": true, "a\tb": true,
		"not json": false, `"a,b"{`: false, "42": false, "\x1f\x8b": true, "PK\x03\x04": true, "\x00\x01": true, "M\xfcller": false,
	} {
		err := ndjsonStart(1, []byte(line))
		if bad {
			assert.Error(t, err, "%q", line)
		} else {
			assert.NoError(t, err, "%q", line)
		}
	}
}

// The CSV reader streams as the NDJSON one does: every record parsed is
// handed over before the reader waits for more input, a record still
// being received is not read, and Stop returns at once.
func TestCSVReaderHandsOverBeforeItBlocks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		lr := newCSVReader(pr, maxLineBytes, "k")
		take := func() []string {
			synctest.Wait() // the reader is blocked reading
			var got []string
			for {
				select {
				case b := <-lr.batches:
					for _, l := range b.lines {
						got = append(got, fmt.Sprintf("%d-%d:%s", l.num, l.last(), b.line(l)))
					}
					lr.Release(b)
				default:
					return got
				}
			}
		}
		go func() { _, _ = pw.Write([]byte("\xef\xbb\xbfk,a.b\nK-1,x\n")) }()
		assert.Equal(t, []string{`2-2:{"a":{"b":"x"},"k":"K-1"}`}, take())
		go func() { _, _ = pw.Write([]byte("K-2,\"two\nlines\"\n\nK-3,")) }()
		assert.Equal(t, []string{`3-4:{"a":{"b":"two\nlines"},"k":"K-2"}`}, take(), "a record over two lines")
		rest := lr.Stop()
		assert.Empty(t, rest, "K-3 is still being received: not read")
		pr.CloseWithError(io.ErrClosedPipe)
	})
}

// A CSV record longer than the limit stops reading there: the records
// before it are read, and the error names its line.
func TestCSVReaderRecordTooLong(t *testing.T) {
	t.Parallel()
	in := "k,v\nK-1,a\nK-2,\"" + strings.Repeat("x", 200<<10) + "\"\nK-3,c\n"
	lr := newCSVReader(strings.NewReader(in), 1<<10, "k")
	var got []string
	for b := range lr.batches {
		for _, l := range b.lines {
			got = append(got, string(b.line(l)))
		}
		lr.Release(b)
	}
	assert.Equal(t, []string{`{"k":"K-1","v":"a"}`}, got)
	eof, err := lr.state()
	assert.False(t, eof)
	assert.EqualError(t, err, "the CSV record starting on line 3 is longer than 1024 bytes (the longest accepted); reading stopped there")
}
