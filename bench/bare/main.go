// Command bare is the floor bench/compare.sh holds "sfmc push" to: a plain
// net/http client doing push's job on the demo's profiles — read the NDJSON
// lines, decode each, build the contact write with encoding/json, PATCH it
// from a pool of goroutines, and decode the answer — with no validation,
// pace, retries, accounting or failure records. It reads the SFMC_*
// variables that "sfmc simulator" prints.
//
// Usage: bare -input PROFILES -workers N
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

type profile struct {
	IdentityMap struct {
		ContactKey []struct {
			ID string `json:"id"`
		} `json:"contactKey"`
	} `json:"identityMap"`
	Person struct {
		Name struct {
			FirstName string `json:"firstName"`
			LastName  string `json:"lastName"`
		} `json:"name"`
	} `json:"person"`
	PersonalEmail struct {
		Address string `json:"address"`
	} `json:"personalEmail"`
	SegmentMembership struct {
		Ups map[string]struct {
			Status string `json:"status"`
		} `json:"ups"`
	} `json:"segmentMembership"`
}

type value struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

type set struct {
	Name  string `json:"name"`
	Items [1]struct {
		Values []value `json:"values"`
	} `json:"items"`
}

type contact struct {
	ContactKey    string `json:"contactKey"`
	AttributeSets []set  `json:"attributeSets"`
}

func main() {
	input := flag.String("input", "", "NDJSON profiles")
	workers := flag.Int("workers", 16, "concurrent requests")
	flag.Parse()
	auth := os.Getenv("SFMC_AUTH_URL")
	tok, rest, err := token(auth)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(2)
	}
	f, err := os.Open(*input)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(2)
	}
	defer f.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	lines := make(chan []byte, 4**workers)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for line := range lines {
				if send(hc, rest, tok, line) {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines <- append([]byte(nil), sc.Bytes()...)
	}
	close(lines)
	wg.Wait()
	fmt.Printf(`{"upserted":%d,"failed":%d}`+"\n", ok.Load(), failed.Load())
}

func token(auth string) (tok, rest string, err error) {
	body := fmt.Sprintf(`{"grant_type":"client_credentials","client_id":%q,"client_secret":%q}`, os.Getenv("SFMC_CLIENT_ID"), os.Getenv("SFMC_CLIENT_SECRET"))
	resp, err := http.Post(auth+"/v2/token", "application/json", strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var a struct {
		AccessToken     string `json:"access_token"`
		RestInstanceURL string `json:"rest_instance_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return "", "", err
	}
	return a.AccessToken, strings.TrimRight(a.RestInstanceURL, "/"), nil
}

func send(hc *http.Client, rest, tok string, line []byte) bool {
	var p profile
	if json.Unmarshal(line, &p) != nil || len(p.IdentityMap.ContactKey) == 0 {
		return false
	}
	c := contact{ContactKey: p.IdentityMap.ContactKey[0].ID, AttributeSets: make([]set, 2)}
	c.AttributeSets[0].Name = "Email Addresses"
	c.AttributeSets[0].Items[0].Values = []value{{"Email Address", p.PersonalEmail.Address}, {"HTML Enabled", true}}
	c.AttributeSets[1].Name = "Email Demographics"
	d := []value{{"First Name", p.Person.Name.FirstName}, {"Last Name", p.Person.Name.LastName}}
	seen := map[string]bool{}
	for id, m := range p.SegmentMembership.Ups {
		n := strings.TrimPrefix(id, "seg-")
		if n == "4" { // the demo maps seg-4 onto seg-3's Mapping ID
			n = "3"
		}
		if !seen[n] {
			seen[n] = true
			d = append(d, value{"salesforce_mc_segment_" + n, m.Status})
		}
	}
	c.AttributeSets[1].Items[0].Values = d
	body, _ := json.Marshal(c)
	req, _ := http.NewRequest(http.MethodPatch, rest+"/contacts/v1/contacts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		OperationStatus string `json:"operationStatus"`
	}
	_ = json.Unmarshal(b, &r)
	return resp.StatusCode == 200 && r.OperationStatus == "OK"
}
