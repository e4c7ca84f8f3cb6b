package sfmc_test

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func ExampleUpserter() {
	srv := sfmctest.NewServer()
	defer srv.Close()
	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	if err != nil {
		fmt.Println(err)
		return
	}

	var mu sync.Mutex
	var lines []string
	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{
		Workers: 4,
		// Called once per Add, from the workers: keep it fast.
		OnResult: func(o sfmc.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			if o.Err != nil {
				lines = append(lines, fmt.Sprintf("%s failed: %v", o.Key, o.Err))
				return
			}
			lines = append(lines, o.Key+" upserted")
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, name := range []string{"Ann", "Bo", "Cy"} {
		err := u.Add(ctx, sfmc.Contact{Key: "K-" + name, Attributes: []sfmc.AttributeValue{
			{Set: "Email Addresses", Name: "Email Address", Value: name + "@example.com"},
			{Set: "Email Demographics", Name: "First Name", Value: name},
		}})
		if err != nil {
			fmt.Println(err)
		}
	}
	// A contact SFMC refuses gets a failure outcome; the others go on.
	_ = u.Add(ctx, sfmc.Contact{Key: "K-Dee", Attributes: []sfmc.AttributeValue{{Set: "Email Demographics", Name: "Shoe Size", Value: 40}}})

	if err := u.Close(ctx); err != nil { // sends what is queued, waits for every outcome
		fmt.Println(err)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	st := u.Stats()
	fmt.Println("added", st.Added, "succeeded", st.Succeeded, "failed", st.Failed)
	// Output:
	// K-Ann upserted
	// K-Bo upserted
	// K-Cy upserted
	// K-Dee failed: sfmc: contact "K-Dee" refused (operationStatus FAIL): unknown attribute "Shoe Size" in set "Email Demographics": Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'.
	// added 4 succeeded 3 failed 1
}

// With a SentStore the Upserter sends only what SFMC has not confirmed: a
// second pass of the same contacts sends nothing, and a changed contact
// sends its changed attribute alone.
func ExampleUpserterConfig_sentStore() {
	srv := sfmctest.NewServer()
	defer srv.Close()
	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	store := sfmc.NewMemoryStore() // boltstore.Open(FILE) keeps it across runs
	contact := func(key, first string) sfmc.Contact {
		return sfmc.Contact{Key: key, Attributes: []sfmc.AttributeValue{
			{Set: "Email Addresses", Name: "Email Address", Value: key + "@example.com"},
			{Set: "Email Demographics", Name: "First Name", Value: first},
		}}
	}
	ctx := context.Background()
	pass := func(contacts ...sfmc.Contact) {
		u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{SentStore: store})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, c := range contacts {
			if err := u.Add(ctx, c); err != nil {
				fmt.Println(err)
			}
		}
		if err := u.Close(ctx); err != nil {
			fmt.Println(err)
		}
		st := u.Stats()
		fmt.Printf("sent %d, skipped %d contacts and %d attribute values\n", st.Succeeded-st.Skipped, st.Skipped, st.SkippedAttributes)
	}
	pass(contact("ann", "Ann"), contact("bo", "Bo"))
	pass(contact("ann", "Ann"), contact("bo", "Bo"))
	pass(contact("ann", "Anna"), contact("bo", "Bo"))
	// Output:
	// sent 2, skipped 0 contacts and 0 attribute values
	// sent 0, skipped 2 contacts and 4 attribute values
	// sent 1, skipped 1 contacts and 3 attribute values
}
