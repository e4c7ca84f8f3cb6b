package sfmc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/sfmctest"
)

func ExampleContactsService_Upsert() {
	// An embedded SFMC tenant: it knows "First Name" but not "Shoe Size".
	srv := sfmctest.NewServer()
	defer srv.Close()
	client, err := sfmc.NewClient(srv.Config(), srv.ClientOptions()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	contact := sfmc.Contact{
		Key: "K-1",
		Attributes: []sfmc.AttributeValue{
			{Set: "Email Addresses", Name: "Email Address", Value: "ann@example.com"},
			{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
		},
	}
	res, err := client.Contacts.Upsert(ctx, contact)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.OperationStatus, res.ContactKey, res.ContactID, res.IsNewContactKey)

	// SFMC answers HTTP 200 with operationStatus FAIL: that is an error.
	contact.Attributes = append(contact.Attributes, sfmc.AttributeValue{Set: "Email Demographics", Name: "Shoe Size", Value: 42})
	_, err = client.Contacts.Upsert(ctx, contact)
	var ce *sfmc.ContactError
	if errors.As(err, &ce) {
		fmt.Println(errors.Is(err, sfmc.ErrUnknownAttribute), ce.Unknown)
	}

	// An invalid contact is refused before any request.
	_, err = client.Contacts.Upsert(ctx, sfmc.Contact{Key: ""})
	fmt.Println(errors.Is(err, sfmc.ErrInvalidContact))
	// Output:
	// OK K-1 1 true
	// true [Email Demographics.Shoe Size]
	// true
}
