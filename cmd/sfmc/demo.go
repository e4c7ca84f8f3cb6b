package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

const demoUsage = `Usage: sfmc demo [--profiles N] [--workers N] [--seed N] [--failures FILE]
                 [--write-mapping FILE] [--write-profiles FILE] [--json]
                 [--log-level L] [--log-format text|json]

The main job end to end, with no credentials: starts an SFMC simulator in
this process with Mapping-ID attributes salesforce_mc_segment_1..3 (Text,
length 20) in Email Demographics, generates N sample profiles (the same
ones for a seed) with segment memberships — realized, existing, exited,
some profiles in no segment, some in two segments sharing a Mapping ID
(seg-3 and seg-4 both map to salesforce_mc_segment_3) — validates the
mapping against the simulator's attributes, pushes the profiles through the
same code as "sfmc push", prints the push summary and the segment summary
(segment, Mapping ID, realized, existing, exited), then checks every
contact the simulator stored against what was sent ("verified: N contacts
match", else the mismatches and exit 1).

--json prints the push summary JSON plus "verified" and "mismatches".
--write-mapping FILE and --write-profiles FILE only write the demo's mapping
and profiles (NDJSON), for "sfmc push" against "sfmc simulator".

Example:
  go run ./cmd/sfmc demo --profiles 3000 --workers 16
`

// Demo segments: seg-1..3 map to salesforce_mc_segment_1..3, and seg-4
// shares salesforce_mc_segment_3 with seg-3.
var demoSegments = []sfmc.SegmentMapping{
	{SegmentID: "seg-1", MappingID: mappingIDName(1)},
	{SegmentID: "seg-2", MappingID: mappingIDName(2)},
	{SegmentID: "seg-3", MappingID: mappingIDName(3)},
	{SegmentID: "seg-4", MappingID: mappingIDName(3)},
}

// demoMapping returns the mapping the demo uses.
func demoMapping() *sfmc.Mapping {
	return &sfmc.Mapping{
		Identity: "identityMap.contactKey",
		Attributes: []sfmc.AttributeMapping{
			{Source: "person.name.firstName", Target: sfmc.SetEmailDemographics + ".First Name"},
			{Source: "person.name.lastName", Target: sfmc.SetEmailDemographics + ".Last Name"},
			{Source: "personalEmail.address", Target: sfmc.SetEmailAddresses + "." + sfmc.AttrEmailAddress},
		},
		// SFMC requires HTML Enabled with the email address.
		Constants: map[string]any{sfmc.SetEmailAddresses + "." + sfmc.AttrHTMLEnabled: true},
		Segments:  append([]sfmc.SegmentMapping(nil), demoSegments...),
	}
}

// demoProfile is one generated profile.
type demoProfile struct {
	key, first, last, email string
	status                  []sfmc.SegmentStatus // per demoSegments; "" = not a member
}

var (
	demoFirst = []string{"Ann", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"}
	demoLast  = []string{"Lee", "Berg", "Diaz", "Okafor", "Novak", "Tanaka", "Silva", "Moreau", "Kowalski", "Haddad"}
	statuses  = []sfmc.SegmentStatus{sfmc.StatusRealized, sfmc.StatusExisting, sfmc.StatusExited}
)

// genProfile returns the i-th (1-based) profile for seed: deterministic.
// Every 7th profile is in no segment; the others are in each segment with
// probability 1/2, with a random status.
func genProfile(seed uint64, i int) demoProfile {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	first := demoFirst[r.IntN(len(demoFirst))]
	last := demoLast[r.IntN(len(demoLast))]
	p := demoProfile{
		key:    fmt.Sprintf("DEMO-%07d", i),
		first:  first,
		last:   last,
		email:  fmt.Sprintf("%s.%s.%d@example.com", first, last, i),
		status: make([]sfmc.SegmentStatus, len(demoSegments)),
	}
	if i%7 == 0 {
		return p
	}
	for s := range p.status {
		if r.IntN(2) == 0 {
			p.status[s] = statuses[r.IntN(len(statuses))]
		}
	}
	return p
}

// xdmProfile is the JSON shape of a generated profile line (see README).
type xdmProfile struct {
	IdentityMap struct {
		ContactKey []xdmID `json:"contactKey"`
	} `json:"identityMap"`
	Person struct {
		Name struct {
			FirstName string `json:"firstName"`
			LastName  string `json:"lastName"`
		} `json:"name"`
	} `json:"person"`
	PersonalEmail struct {
		Address string `json:"address"`
	} `json:"personalEmail"`
	SegmentMembership *struct {
		Ups map[string]xdmStatus `json:"ups"`
	} `json:"segmentMembership,omitempty"`
}

type xdmID struct {
	ID      string `json:"id"`
	Primary bool   `json:"primary"`
}

type xdmStatus struct {
	Status sfmc.SegmentStatus `json:"status"`
}

// appendJSON appends p as one NDJSON line.
func (p demoProfile) appendJSON(dst []byte) []byte {
	var x xdmProfile
	x.IdentityMap.ContactKey = []xdmID{{ID: p.key, Primary: true}}
	x.Person.Name.FirstName, x.Person.Name.LastName = p.first, p.last
	x.PersonalEmail.Address = p.email
	for s, st := range p.status {
		if st == "" {
			continue
		}
		if x.SegmentMembership == nil {
			x.SegmentMembership = &struct {
				Ups map[string]xdmStatus `json:"ups"`
			}{Ups: map[string]xdmStatus{}}
		}
		x.SegmentMembership.Ups[demoSegments[s].SegmentID] = xdmStatus{st}
	}
	b, _ := json.Marshal(x) // cannot fail: plain strings
	return append(append(dst, b...), '\n')
}

// writeProfiles writes n generated profiles as NDJSON.
func writeProfiles(w io.Writer, seed uint64, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	for i := 1; i <= n; i++ {
		buf = genProfile(seed, i).appendJSON(buf[:0])
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// expected returns what a tenant must hold for p: set → attribute → value,
// with the strongest status per Mapping ID.
func (p demoProfile) expected() map[string]map[string]string {
	demo := map[string]string{"First Name": p.first, "Last Name": p.last}
	rank := map[sfmc.SegmentStatus]int{sfmc.StatusExited: 1, sfmc.StatusExisting: 2, sfmc.StatusRealized: 3}
	for s, st := range p.status {
		if st == "" {
			continue
		}
		id := demoSegments[s].MappingID
		if rank[st] > rank[sfmc.SegmentStatus(demo[id])] {
			demo[id] = string(st)
		}
	}
	return map[string]map[string]string{
		sfmc.SetEmailAddresses:    {sfmc.AttrEmailAddress: p.email},
		sfmc.SetEmailDemographics: demo,
	}
}

// verifyDemo compares the simulator's contacts with the profiles sent and
// returns the number that match and a description of each mismatch.
func verifyDemo(srv *sfmctest.Server, seed uint64, n int) (int, []string) {
	var bad []string
	ok := 0
	mappingIDs := map[string]bool{}
	for _, s := range demoSegments {
		mappingIDs[s.MappingID] = true
	}
	for i := 1; i <= n; i++ {
		p := genProfile(seed, i)
		c, found := srv.Contact(p.key)
		if !found {
			bad = append(bad, fmt.Sprintf("%s: not stored", p.key))
			continue
		}
		var diffs []string
		want := p.expected()
		for set, attrs := range want {
			for name, v := range attrs {
				got, has := c.Sets[set][name]
				if !has || fmt.Sprint(got) != v {
					diffs = append(diffs, fmt.Sprintf("%s.%s = %v (present %v), want %q", set, name, got, has, v))
				}
			}
		}
		if got := c.Sets[sfmc.SetEmailAddresses][sfmc.AttrHTMLEnabled]; got != true { // the mapping's constant
			diffs = append(diffs, fmt.Sprintf("%s.%s = %v, want true", sfmc.SetEmailAddresses, sfmc.AttrHTMLEnabled, got))
		}
		for id := range mappingIDs { // no status where none was sent
			if _, want := want[sfmc.SetEmailDemographics][id]; !want {
				if got, has := c.Sets[sfmc.SetEmailDemographics][id]; has {
					diffs = append(diffs, fmt.Sprintf("%s.%s = %v, want no value", sfmc.SetEmailDemographics, id, got))
				}
			}
		}
		if len(diffs) > 0 {
			sort.Strings(diffs)
			bad = append(bad, fmt.Sprintf("%s: %v", p.key, diffs))
			continue
		}
		ok++
	}
	if extra := len(srv.Contacts()) - n; extra > 0 {
		bad = append(bad, fmt.Sprintf("%d contacts stored that were not sent", extra))
	}
	return ok, bad
}

func runDemo(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	profiles := fs.Int("profiles", 3000, "the number `N` of sample profiles")
	workers := fs.Int("workers", sfmc.DefaultUpserterWorkers, "a fixed number `N` of concurrent requests")
	seed := fs.Uint64("seed", 1, "the seed `N` of the generated profiles")
	asJSON := fs.Bool("json", false, "print only the summary JSON (with verified and mismatches) on stdout")
	failures := fs.String("failures", filepath.Join(os.TempDir(), "sfmc-demo-failures.ndjson"), "the failure records `file`, created or truncated before anything is sent")
	writeMapping := fs.String("write-mapping", "", "only write the demo mapping to `file` (then exit)")
	writeProfs := fs.String("write-profiles", "", "only write the generated profiles as NDJSON to `file` (then exit)")
	lf := addLogFlags(fs, e)
	if done, code := parseFlags(fs, e, demoUsage, args); done {
		return code
	}
	if *profiles < 0 || *workers < 0 {
		return usageError(e, "demo", errors.New("--profiles and --workers must not be negative"))
	}
	if err := lf.check(); err != nil {
		return usageError(e, "demo", err)
	}
	if *writeMapping != "" || *writeProfs != "" {
		return demoWriteFiles(e, *writeMapping, *writeProfs, *seed, *profiles)
	}

	srv, err := sfmctest.StartServer(mappingIDAttributes(3))
	if err != nil {
		errorf(e, "demo", "starting the simulator: %v", err)
		return exitUsage
	}
	defer srv.Close()
	con := &console{w: e.stderr}
	lf.out = con
	copts := append(srv.ClientOptions(), sfmc.WithUserAgent(userAgent()),
		sfmc.WithHTTPClient(httpClient(max(*workers, sfmc.DefaultUpserterWorkers))))
	if l := lf.logger(); l != nil {
		copts = append(copts, sfmc.WithLogger(l))
	}
	c, err := sfmc.NewClient(srv.Config(), copts...)
	if err != nil {
		return fail(e, "demo", err)
	}
	out := e.stdout
	if *asJSON {
		out = io.Discard
	}
	fmt.Fprintf(out, "simulator: %s (in this process); Email Demographics has %s..3 (Text, length 20)\n", srv.URL(), mappingIDName(1))
	m := demoMapping()
	pm, _, code := compileMapping(ctx, e, "demo", c, m)
	if pm == nil {
		return code
	}
	fmt.Fprintf(out, "mapping is valid: %d attributes, segments seg-1..4 → %s..3 (seg-3 and seg-4 share %s)\n",
		len(m.Attributes), mappingIDName(1), mappingIDName(3))
	fmt.Fprintf(out, "pushing %d generated profiles (seed %d) with %d workers\n", *profiles, *seed, max(1, *workers))

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeProfiles(pw, *seed, *profiles)) }()
	opts := pushOptions{workers: *workers, failuresPath: *failures, drainTimeout: defaultDrainTimeout, hard: e.hard, notify: con,
		console: con, width: terminalWidth(e), progress: progressOff}
	if !*asJSON && e.isTerm(e.stderr) {
		opts.progress = progressBar
	}
	s, err := push(ctx, c, m, pm, pr, opts)
	pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if push stopped early
	if err != nil {
		return fail(e, "demo", err)
	}
	code = reportPush(&env{getenv: e.getenv, stdout: out, stderr: e.stderr}, s, false, true)
	verified, mismatches := 0, []string(nil)
	if !s.Interrupted {
		verified, mismatches = verifyDemo(srv, *seed, *profiles)
	}
	if *asJSON {
		doc := struct {
			*summary
			Verified   int      `json:"verified"`
			Mismatches []string `json:"mismatches"`
		}{s, verified, mismatches}
		if doc.Mismatches == nil {
			doc.Mismatches = []string{}
		}
		if err := json.NewEncoder(e.stdout).Encode(doc); err != nil {
			return fail(e, "demo", err)
		}
	}
	if s.Interrupted {
		return exitFailed
	}
	if len(mismatches) > 0 {
		fmt.Fprintf(out, "verification FAILED: %d of %d contacts match; mismatches:\n", verified, *profiles)
		for i, mm := range mismatches {
			if i == 20 {
				fmt.Fprintf(out, "  ... and %d more\n", len(mismatches)-20)
				break
			}
			fmt.Fprintln(out, "  "+mm)
		}
		return exitFailed
	}
	fmt.Fprintf(out, "verified: %d contacts match\n", verified)
	return code
}

// demoWriteFiles writes the demo mapping and/or profiles to files.
func demoWriteFiles(e *env, mappingPath, profilesPath string, seed uint64, n int) int {
	if mappingPath != "" {
		b, _ := json.MarshalIndent(demoMapping(), "", "  ")
		if err := os.WriteFile(mappingPath, append(b, '\n'), 0o644); err != nil {
			errorf(e, "demo", "%v", err)
			return exitUsage
		}
		fmt.Fprintln(e.stdout, "wrote mapping to", mappingPath)
	}
	if profilesPath != "" {
		f, err := os.Create(profilesPath)
		if err == nil {
			err = writeProfiles(f, seed, n)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errorf(e, "demo", "%v", err)
			return exitUsage
		}
		fmt.Fprintf(e.stdout, "wrote %d profiles to %s\n", n, profilesPath)
	}
	return exitOK
}
