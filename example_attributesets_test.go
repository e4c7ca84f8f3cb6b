package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jarcoal/httpmock"

	"github.com/sfmc-go/sfmc"
)

// definitionsResponder serves five attribute sets, two per page at most.
func definitionsResponder(r *http.Request) (*http.Response, error) {
	names := []string{"Email Addresses", "Email Demographics", "MobileConnect Demographics", "MobilePush Demographics", "Loyalty"}
	page, _ := strconv.Atoi(r.URL.Query().Get("$page"))
	if page == 0 {
		page = 1
	}
	size := 2
	items := ""
	for i := (page - 1) * size; i < page*size && i < len(names); i++ {
		if items != "" {
			items += ","
		}
		items += `{"id":"` + strconv.Itoa(i) + `","name":{"value":"` + names[i] + `"},"attributes":[]}`
	}
	return httpmock.NewStringResponse(200, `{"page":`+strconv.Itoa(page)+`,"pageSize":2,"count":5,"items":[`+items+`]}`), nil
}

func ExampleAttributeSetsService_All() {
	client := exampleClient(map[string]httpmock.Responder{"GET /contacts/v1/attributeSetDefinitions": definitionsResponder})

	for set, err := range client.AttributeSets.All(context.Background(), nil) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(set.Name)
	}
	// Output:
	// Email Addresses
	// Email Demographics
	// MobileConnect Demographics
	// MobilePush Demographics
	// Loyalty
}

func ExampleAttributeSetsService_FirstPage() {
	client := exampleClient(map[string]httpmock.Responder{"GET /contacts/v1/attributeSetDefinitions": definitionsResponder})

	// The destination reads one page; this tenant's SFMC pages by two.
	cat, err := client.AttributeSets.FirstPage(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(cat.Sets()), "sets, truncated:", cat.Truncated)
	_, ok := cat.Set("Loyalty")
	fmt.Println("Loyalty seen:", ok)

	// Catalog reads every page.
	cat, err = client.AttributeSets.Catalog(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	_, ok = cat.Set("Loyalty")
	fmt.Println(len(cat.Sets()), "sets, truncated:", cat.Truncated, "Loyalty seen:", ok)
	// Output:
	// 2 sets, truncated: true
	// Loyalty seen: false
	// 5 sets, truncated: false Loyalty seen: true
}

func ExampleValidateMappings() {
	cat := sfmc.NewCatalog([]*sfmc.AttributeSetDefinition{{
		Name: "Email Demographics",
		Attributes: []*sfmc.AttributeDefinition{
			{Name: "salesforce_mc_segment_1", DataType: "Text", Length: 4000},
			{Name: "Segment_Two", DataType: "Text", Length: 50},
			{Name: "Score", DataType: "Number"},
			{Name: "tiny", DataType: "Text", Length: 4},
		},
	}}, false)

	err := sfmc.ValidateMappings(cat, []sfmc.SegmentMapping{
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
