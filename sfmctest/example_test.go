package sfmctest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sfmc-go/sfmc/sfmctest"
)

// Example starts a simulator and asks it for a token with a raw,
// form-encoded request, the way any OAuth client would.
func Example() {
	srv := sfmctest.NewServer(sfmctest.WithCredentials("my-id", "my-secret"))
	defer srv.Close()

	id, secret := srv.Credentials()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	resp, err := http.Post(srv.URL()+"/v2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken     string `json:"access_token"`
		TokenType       string `json:"token_type"`
		ExpiresIn       int    `json:"expires_in"`
		RestInstanceURL string `json:"rest_instance_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, tok.TokenType, tok.ExpiresIn, tok.AccessToken != "")
	fmt.Println(tok.RestInstanceURL == srv.URL()+"/")
	fmt.Println(srv.Stats().TokensIssued)
	// Output:
	// 200 Bearer 1080 true
	// true
	// 1
}
