package sfmc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

// exampleTenant starts an embedded SFMC tenant and a client for it.
func exampleTenant(opts ...sfmctest.ServerOption) (*sfmctest.Server, *sfmc.Client) {
	srv := sfmctest.NewServer(opts...)
	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	if err != nil {
		panic(err) // cannot happen: the simulator's configuration is valid
	}
	return srv, client
}

func ExampleAttributeSetsService_All() {
	// A tenant that serves at most two sets per page.
	srv, client := exampleTenant(sfmctest.WithPageSizeCap(2), sfmctest.WithAttributes("Loyalty",
		sfmctest.Attribute{Name: "Tier", DataType: "Text", Length: 20}))
	defer srv.Close()

	for set, err := range client.AttributeSets.All(context.Background(), nil) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(set.Name, len(set.Attributes))
	}
	// Output:
	// Email Addresses 4
	// Email Demographics 3
	// Loyalty 1
}

func ExampleAttributeSetsService_FirstPage() {
	// Three sets listed before the seeded ones, two sets per page: Email
	// Demographics is beyond the first page.
	srv, client := exampleTenant(sfmctest.WithLeadingSets(3), sfmctest.WithPageSizeCap(2))
	defer srv.Close()

	// The destination reads one page.
	cat, err := client.AttributeSets.FirstPage(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	_, ok := cat.Lookup("Email Demographics.First Name")
	fmt.Println(len(cat.Sets()), "sets, truncated:", cat.Truncated, "- First Name found:", ok)

	// Catalog reads every page.
	cat, err = client.AttributeSets.Catalog(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	_, ok = cat.Lookup("Email Demographics.First Name")
	fmt.Println(len(cat.Sets()), "sets, truncated:", cat.Truncated, "- First Name found:", ok)
	// Output:
	// 2 sets, truncated: true - First Name found: false
	// 5 sets, truncated: false - First Name found: true
}

func ExampleValidateMappings() {
	srv, client := exampleTenant(sfmctest.WithAttributes("Email Demographics",
		sfmctest.Attribute{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 4000},
		sfmctest.Attribute{Name: "Segment_Two", DataType: "Text", Length: 50},
		sfmctest.Attribute{Name: "Score", DataType: "Number"},
		sfmctest.Attribute{Name: "tiny", DataType: "Text", Length: 4}))
	defer srv.Close()
	cat, err := client.AttributeSets.FirstPage(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}

	// Check the Mapping IDs before sending anything.
	err = sfmc.ValidateMappings(cat, []sfmc.SegmentMapping{
		{SegmentID: "seg-1", MappingID: "salesforce_mc_segment_1"}, // fine
		{SegmentID: "seg-2", MappingID: "segment_two"},             // wrong case
		{SegmentID: "seg-3", MappingID: "Score"},                   // not Text
		{SegmentID: "seg-4", MappingID: "tiny"},                    // too short
	})
	fmt.Println(errors.Is(err, sfmc.ErrInvalidMapping))
	var ve *sfmc.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println("-", p)
		}
	}
	// Output:
	// true
	// - Mapping ID "segment_two" (segment "seg-2") does not exist in attribute set "Email Demographics": create a Text attribute named "segment_two" of length 8 or more in Contact Builder under Email Demographics; did you mean "Email Demographics.Segment_Two"? (names match exactly, case-sensitive)
	// - Mapping ID "Score" (segment "seg-3") is a Number attribute, but segment statuses are text: use a Text attribute in Email Demographics
	// - Mapping ID "tiny" (segment "seg-4") has length 4, too short for the status "realized": set its length in Contact Builder to 8 or more
}
