package sfmc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jarcoal/httpmock"

	"github.com/sfmc-go/sfmc"
)

// exampleClient returns a client talking to an in-memory stand-in for SFMC
// (an httpmock transport): the token endpoint and the responders given.
func exampleClient(responders map[string]httpmock.Responder) *sfmc.Client {
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, "https://auth.example.test/v2/token",
		httpmock.NewStringResponder(200, `{"access_token":"t","expires_in":1080,"token_type":"Bearer","rest_instance_url":"https://rest.example.test/"}`))
	for route, r := range responders {
		method, path, _ := strings.Cut(route, " ")
		mt.RegisterResponder(method, "https://rest.example.test"+path, r)
	}
	client, err := sfmc.NewClient(sfmc.Config{Subdomain: "mcexample", ClientID: "my-client-id", ClientSecret: "my-secret"},
		sfmc.WithHTTPClient(&http.Client{Transport: mt}),
		sfmc.WithAuthURL("https://auth.example.test"),
		sfmc.WithRESTURL("https://rest.example.test"))
	if err != nil {
		panic(err)
	}
	return client
}

func ExampleContactsService_Upsert() {
	// A stand-in tenant that knows the attribute "First Name" but not "Shoe Size".
	client := exampleClient(map[string]httpmock.Responder{
		"PATCH /contacts/v1/contacts": func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), "Shoe Size") {
				return httpmock.NewStringResponse(200, `{"operationStatus":"FAIL","hasErrors":true,"contactKey":"K-1","resultMessages":[`+
					`{"resultType":"Error","resultCode":"AttributeNotFound","resultClass":"Validation","resultMessage":"Attribute 'Shoe Size' does not exist in attribute set 'Email Demographics'."}]}`), nil
			}
			return httpmock.NewStringResponse(200, `{"operationStatus":"OK","rowsAffected":1,"contactKey":"K-1","contactID":12345678,"isNewContactKey":true,"hasErrors":false,"resultMessages":[]}`), nil
		},
	})
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
	// OK K-1 12345678 true
	// true [Email Demographics.Shoe Size]
	// true
}
