// Command quickstart shows the SDK end to end: verify the credentials,
// list the attribute sets, upsert a few contacts, and show what the tenant
// holds.
//
// By default it starts an embedded SFMC simulator (package sfmctest), so it
// needs no credentials. With SFMC_SUBDOMAIN, SFMC_CLIENT_ID and
// SFMC_CLIENT_SECRET set (optionally SFMC_ACCOUNT_ID) it runs the same
// steps against that tenant instead.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	var (
		client *sfmc.Client
		srv    *sfmctest.Server
		err    error
	)
	if os.Getenv("SFMC_SUBDOMAIN") != "" {
		fmt.Println("Using the tenant named by SFMC_SUBDOMAIN.")
		client, err = sfmc.NewClient(sfmc.Config{
			Subdomain:    os.Getenv("SFMC_SUBDOMAIN"),
			ClientID:     os.Getenv("SFMC_CLIENT_ID"),
			ClientSecret: os.Getenv("SFMC_CLIENT_SECRET"),
			AccountID:    os.Getenv("SFMC_ACCOUNT_ID"),
		})
	} else {
		srv = sfmctest.NewServer()
		defer srv.Close()
		fmt.Println("Using the embedded SFMC simulator at", srv.URL(), "(set SFMC_SUBDOMAIN, SFMC_CLIENT_ID and SFMC_CLIENT_SECRET for a real tenant).")
		client, err = sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	}
	if err != nil {
		return err
	}

	// 1. Connect: get a token (the destination's "Connect to destination").
	if err := client.Verify(ctx); err != nil {
		return err
	}
	rest, err := client.RESTURL(ctx)
	if err != nil {
		return err
	}
	fmt.Println("1. Connected; REST calls go to", rest)

	// 2. Discover attributes: the destination reads one page of up to 2000.
	cat, err := client.AttributeSets.FirstPage(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("2. %d attribute sets on the first page (more pages: %v); mappable targets:\n", len(cat.Sets()), cat.Truncated)
	for _, t := range cat.Targets() {
		fmt.Printf("   %-40s %-12s length %d\n", t, t.DataType, t.Length)
	}

	// 3. Upsert a few contacts (PATCH, one contact per request).
	people := []struct{ key, email, first, last string }{
		{"QS-1", "ann@example.com", "Ann", "Lee"},
		{"QS-2", "bo@example.com", "Bo", "Berg"},
		{"QS-3", "cy@example.com", "Cy", "Diaz"},
	}
	fmt.Println("3. Upserting", len(people), "contacts:")
	for _, p := range people {
		res, err := client.Contacts.Upsert(ctx, sfmc.Contact{Key: p.key, Attributes: []sfmc.AttributeValue{
			{Set: sfmc.SetEmailAddresses, Name: sfmc.AttrEmailAddress, Value: p.email},
			{Set: sfmc.SetEmailAddresses, Name: sfmc.AttrHTMLEnabled, Value: true}, // required with the email address
			{Set: sfmc.SetEmailDemographics, Name: "First Name", Value: p.first},
			{Set: sfmc.SetEmailDemographics, Name: "Last Name", Value: p.last},
		}})
		if err != nil {
			return err
		}
		fmt.Printf("   %s: %s (contact id %d, new %v)\n", p.key, res.OperationStatus, res.ContactID, res.IsNewContactKey)
	}

	// 4. Read back: the simulator shows what it stores; a real tenant has no
	// "get contact" route, so look the keys up by email address.
	fmt.Println("4. What the tenant holds:")
	if srv != nil {
		for _, c := range srv.Contacts() {
			sets := make([]string, 0, len(c.Sets))
			for s := range c.Sets {
				sets = append(sets, s)
			}
			sort.Strings(sets)
			fmt.Printf("   %s (id %d):", c.Key, c.ID)
			for _, s := range sets {
				fmt.Printf(" %s=%v", s, c.Sets[s])
			}
			fmt.Println()
		}
		return nil
	}
	emails := make([]string, len(people))
	for i, p := range people {
		emails[i] = p.email
	}
	keys, err := client.Contacts.SearchByEmail(ctx, emails)
	if err != nil {
		return err
	}
	for _, e := range emails {
		fmt.Printf("   %s -> %v\n", e, keys[e])
	}
	return nil
}
