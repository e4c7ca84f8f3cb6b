package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// exampleMapping is a mapping file as sfmc push reads it.
const exampleMapping = `{
  "identity": "identityMap.contactKey",
  "attributes": [
    {"source": "person.name.firstName", "target": "Email Demographics.First Name"},
    {"source": "personalEmail.address", "target": "Email Addresses.Email Address"}
  ],
  "constants": {"Email Addresses.HTML Enabled": true},
  "segments": [
    {"id": "seg-1", "mappingId": "salesforce_mc_segment_1"},
    {"id": "seg-2", "mappingId": "salesforce_mc_segment_2"}
  ]
}`

// mappingTenant starts a simulator whose Email Demographics has the
// Mapping-ID attributes of exampleMapping, and a client for it.
func mappingTenant() (*sfmctest.Server, *sfmc.Client, error) {
	srv := sfmctest.NewServer(sfmctest.WithAttributes(sfmc.SetEmailDemographics,
		sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 20},
		sfmctest.Attribute{Name: "salesforce_mc_segment_2", DataType: "Text", Length: 20}))
	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, client, nil
}

// A mapping is checked against the tenant's attributes before anything is
// sent: every problem at once, and warnings that do not stop a run.
func ExampleMapping() {
	srv, client, err := mappingTenant()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	cat, err := client.AttributeSets.Catalog(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}

	m, err := sfmc.LoadMapping(strings.NewReader(exampleMapping))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("valid:", m.Validate(cat) == nil, "warnings:", len(m.Warnings(cat)))

	// A target that does not exist, a Mapping ID in the wrong case, and no
	// HTML Enabled.
	bad, err := sfmc.LoadMapping(strings.NewReader(`{
	  "identity": "identityMap.contactKey",
	  "attributes": [
	    {"source": "person.name.firstName", "target": "Email Demographics.Firstname"},
	    {"source": "personalEmail.address", "target": "Email Addresses.Email Address"}
	  ],
	  "segments": [{"id": "seg-1", "mappingId": "Salesforce_MC_Segment_1"}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var ve *sfmc.ValidationError
	if errors.As(bad.Validate(cat), &ve) {
		fmt.Println(len(ve.Problems), "problems")
	}
	for _, w := range bad.Warnings(cat) {
		fmt.Println("warning:", w[:strings.Index(w, ":")])
	}
	// Output:
	// valid: true warnings: 0
	// 2 problems
	// warning: "Email Addresses.Email Address" is mapped without "Email Addresses.HTML Enabled"
}

// DecodeProfile keeps numbers exact and never replaces invalid UTF-8.
func ExampleDecodeProfile() {
	prof, err := sfmc.DecodeProfile([]byte(`{"identityMap":{"contactKey":[{"id":"K-1","primary":true}]},"loyalty":{"points":12345678901234567890}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(prof["loyalty"].(map[string]any)["points"])

	_, err = sfmc.DecodeProfile([]byte(`{"identityMap":{"contactKey":"M` + "\xfc" + `ller-1"}}`))
	fmt.Println(errors.Is(err, sfmc.ErrInvalidUTF8))
	fmt.Println(err)
	// Output:
	// 12345678901234567890
	// true
	// sfmc: field "identityMap.contactKey": invalid UTF-8: byte 0xfc at offset 31 of the line
}

// A ProfileMapper turns a decoded profile into a contact and the statuses
// of its mapped segments, checking every value against its attribute.
func ExampleProfileMapper() {
	srv, client, err := mappingTenant()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	cat, err := client.AttributeSets.Catalog(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := sfmc.LoadMapping(strings.NewReader(exampleMapping))
	if err != nil {
		fmt.Println(err)
		return
	}
	pm, err := m.Compile(cat)
	if err != nil {
		fmt.Println(err)
		return
	}

	prof, err := sfmc.DecodeProfile([]byte(`{"identityMap":{"contactKey":[{"id":"K-1","primary":true}]},
	  "person":{"name":{"firstName":"Ann"}},"personalEmail":{"address":"ann@example.com"},
	  "segmentMembership":{"ups":{"seg-1":{"status":"realized"},"seg-9":{"status":"exited"}}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, statuses, err := pm.Map(prof)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("key:", c.Key)
	for _, a := range c.Attributes {
		fmt.Printf("%s.%s = %v\n", a.Set, a.Name, a.Value)
	}
	fmt.Println("statuses:", statuses)

	// A record error names the field, the target and the value.
	prof, _ = sfmc.DecodeProfile([]byte(`{"identityMap":{"contactKey":"K-2"},"personalEmail":{"address":"not an address"}}`))
	_, _, err = pm.Map(prof)
	var re *sfmc.RecordError
	fmt.Println(errors.As(err, &re), re.Field, errors.Is(err, sfmc.ErrInvalidValue))
	// Output:
	// key: K-1
	// Email Demographics.First Name = Ann
	// Email Addresses.Email Address = ann@example.com
	// Email Addresses.HTML Enabled = true
	// Email Demographics.salesforce_mc_segment_1 = realized
	// statuses: map[seg-1:realized]
	// true personalEmail.address true
}

// A pipeline: profile lines from a channel are decoded, mapped and added
// to an Upserter with AddTagged, whose tag (the line number and the
// segment statuses) comes back with each outcome, so that the upserted
// records can be counted per segment as the destination reports them.
func ExampleUpserter_AddTagged() {
	srv, client, err := mappingTenant()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ctx := context.Background()
	cat, err := client.AttributeSets.Catalog(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := sfmc.LoadMapping(strings.NewReader(exampleMapping))
	if err != nil {
		fmt.Println(err)
		return
	}
	pm, err := m.Compile(cat)
	if err != nil {
		fmt.Println(err)
		return
	}

	// tag travels with each contact.
	type tag struct {
		line     int
		statuses map[string]sfmc.SegmentStatus
	}
	var mu sync.Mutex
	counts := map[string]map[sfmc.SegmentStatus]int{} // segment id → status → upserted records
	var failed []string
	up, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{
		Workers: 4,
		OnResult: func(o sfmc.Outcome) {
			t := o.Tag.(tag)
			mu.Lock()
			defer mu.Unlock()
			if o.Err != nil {
				failed = append(failed, fmt.Sprintf("line %d: %v", t.line, o.Err))
				return
			}
			for id, st := range t.statuses {
				if counts[id] == nil {
					counts[id] = map[sfmc.SegmentStatus]int{}
				}
				counts[id][st]++
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		for i, seg := range []string{
			`"seg-1":{"status":"realized"}`,
			`"seg-1":{"status":"existing"},"seg-2":{"status":"realized"}`,
			`"seg-2":{"status":"exited"}`,
			``,
		} {
			lines <- fmt.Sprintf(`{"identityMap":{"contactKey":"K-%d"},"personalEmail":{"address":"k%d@example.com"},"segmentMembership":{"ups":{%s}}}`, i+1, i+1, seg)
		}
		lines <- `{"identityMap":{"contactKey":"K-5"}}` // no email: a record error, never sent
	}()
	n := 0
	for line := range lines {
		n++
		prof, err := sfmc.DecodeProfile([]byte(line))
		if err != nil {
			fmt.Printf("line %d: %v\n", n, err)
			continue
		}
		c, statuses, err := pm.Map(prof)
		if err != nil {
			fmt.Printf("line %d: %v\n", n, err)
			continue
		}
		if err := up.AddTagged(ctx, c, tag{line: n, statuses: statuses}); err != nil {
			fmt.Printf("line %d: %v\n", n, err)
		}
	}
	if err := up.Close(ctx); err != nil { // every Add gets its outcome
		fmt.Println(err)
	}

	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := counts[id]
		fmt.Printf("%s: realized %d, existing %d, exited %d\n", id, c[sfmc.StatusRealized], c[sfmc.StatusExisting], c[sfmc.StatusExited])
	}
	fmt.Println("failed:", len(failed), "stored:", len(srv.Contacts()))
	k2, _ := srv.Contact("K-2")
	fmt.Println("K-2:", k2.Sets[sfmc.SetEmailDemographics]["salesforce_mc_segment_1"], k2.Sets[sfmc.SetEmailDemographics]["salesforce_mc_segment_2"])
	// Output:
	// line 5: sfmc: field "personalEmail.address" (target "Email Addresses.Email Address"): profile has no email address
	// seg-1: realized 1, existing 1, exited 0
	// seg-2: realized 1, existing 0, exited 1
	// failed: 0 stored: 4
	// K-2: existing realized
}
