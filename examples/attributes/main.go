// Command attributes shows the difference between reading the first page
// of attribute-set definitions, as the Adobe destination does, and reading
// every page.
//
// AttributeSetsService.FirstPage reads one page of 2000 sets and sets
// Catalog.Truncated when more exist: in a tenant with many attribute sets,
// Email Demographics (where segment Mapping IDs live) may be on a later
// page, and a mapping validated against the first page alone then looks
// wrong. AttributeSetsService.Catalog reads every page and finds it.
//
// By default it runs against an embedded SFMC simulator (package sfmctest)
// with 12 filler sets listed first and pages of at most 5 sets, so that
// Email Demographics is on page 3. With SFMC_SUBDOMAIN, SFMC_CLIENT_ID and
// SFMC_CLIENT_SECRET set (optionally SFMC_ACCOUNT_ID) it reads that tenant.
//
//	go run ./examples/attributes
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "attributes:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var client *sfmc.Client
	var err error
	if os.Getenv("SFMC_SUBDOMAIN") != "" {
		fmt.Println("Using the tenant named by SFMC_SUBDOMAIN.")
		client, err = sfmc.NewClient(sfmc.Config{
			Subdomain:    os.Getenv("SFMC_SUBDOMAIN"),
			ClientID:     os.Getenv("SFMC_CLIENT_ID"),
			ClientSecret: os.Getenv("SFMC_CLIENT_SECRET"),
			AccountID:    os.Getenv("SFMC_ACCOUNT_ID"),
		})
	} else {
		srv := sfmctest.NewServer(sfmctest.WithLeadingSets(12), sfmctest.WithPageSizeCap(5),
			sfmctest.WithAttributes(sfmc.SetEmailDemographics,
				sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 20}))
		defer srv.Close()
		fmt.Println("Using an embedded SFMC simulator at", srv.URL(), "with 12 filler sets and pages of 5 sets",
			"(set SFMC_SUBDOMAIN, SFMC_CLIENT_ID and SFMC_CLIENT_SECRET for a real tenant).")
		client, err = sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	}
	if err != nil {
		return err
	}

	first, err := client.AttributeSets.FirstPage(ctx)
	if err != nil {
		return err
	}
	_, found := first.Set(sfmc.SetEmailDemographics)
	fmt.Printf("\nFirstPage: %d sets, Truncated=%v, %s found: %v\n", len(first.Sets()), first.Truncated, sfmc.SetEmailDemographics, found)
	if err := sfmc.ValidateMappings(first, []sfmc.SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}}); err != nil {
		fmt.Println("validating a segment mapping against the first page only:")
		fmt.Println(" ", err)
	}

	all, err := client.AttributeSets.Catalog(ctx)
	if err != nil {
		return err
	}
	_, found = all.Set(sfmc.SetEmailDemographics)
	fmt.Printf("\nCatalog (every page): %d sets, Truncated=%v, %s found: %v\n", len(all.Sets()), all.Truncated, sfmc.SetEmailDemographics, found)
	if err := sfmc.ValidateMappings(all, []sfmc.SegmentMapping{{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}}); err != nil {
		fmt.Println(" ", err)
	} else {
		fmt.Println("the segment mapping is valid against every page")
	}
	fmt.Println("\nmappable targets:")
	for _, t := range all.Targets() {
		fmt.Printf("  %-45s %-12s length %d\n", t, t.DataType, t.Length)
	}
	return nil
}
