package sfmc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sfmc-go/sfmc"
)

// tokenServer answers token requests like SFMC's /v2/token for the
// examples, accepting the client id "my-client-id" and secret "my-secret".
func tokenServer() *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		if body.ClientID != "my-client-id" || body.ClientSecret != "my-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"Invalid client ID. Use the client ID in Marketing Cloud Installed Packages."}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"t0k3n","expires_in":1080,"token_type":"Bearer","rest_instance_url":%q}`, srv.URL+"/")
	}))
	return srv
}

func ExampleNewClient() {
	client, err := sfmc.NewClient(sfmc.Config{
		Subdomain:    "mcq4jrssqdlyc4lph19nnqgzzs84",
		ClientID:     "my-client-id",
		ClientSecret: "my-secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(client)

	// Bad input is refused before any network call.
	_, err = sfmc.NewClient(sfmc.Config{Subdomain: "evil.example.com/x", ClientID: "id", ClientSecret: "s"})
	fmt.Println(errors.Is(err, sfmc.ErrInvalidConfig))
	// Output:
	// sfmc.Client{Subdomain:"mcq4jrssqdlyc4lph19nnqgzzs84", ClientID:"my-client-id", AuthURL:"https://mcq4jrssqdlyc4lph19nnqgzzs84.auth.marketingcloudapis.com"}
	// true
}

func ExampleClient_Verify() {
	srv := tokenServer() // stands in for https://{subdomain}.auth.marketingcloudapis.com
	defer srv.Close()

	for _, secret := range []string{"my-secret", "wrong-secret"} {
		client, err := sfmc.NewClient(sfmc.Config{
			Subdomain:    "mcq4jrssqdlyc4lph19nnqgzzs84",
			ClientID:     "my-client-id",
			ClientSecret: secret,
		}, sfmc.WithAuthURL(srv.URL))
		if err != nil {
			fmt.Println(err)
			return
		}
		err = client.Verify(context.Background())
		fmt.Println(err == nil, errors.Is(err, sfmc.ErrInvalidCredentials))
	}
	// Output:
	// true false
	// false true
}
