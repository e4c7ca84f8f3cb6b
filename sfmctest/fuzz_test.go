package sfmctest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzContactBody sends arbitrary bodies to the simulator's contact routes
// (PATCH and POST /contacts/v1/contacts) through its handler. Properties:
// no panic; the answer is 200, 400 or 413 (never a 5xx) with a JSON body;
// a body that is not JSON is a 400, never a write; a 200 "OK" stored the
// contact under the key it names, a 200 "FAIL" carries result messages.
func FuzzContactBody(f *testing.F) {
	f.Add(true, []byte(`{"contactKey":"K1","attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Ann"}]}]}]}`))
	f.Add(false, []byte(`{"contactKey":"K2","attributeSets":[{"name":"Email Addresses","items":[{"values":[{"name":"Email Address","value":"a@b.c"},{"name":"HTML Enabled","value":true}]}]}]}`))
	f.Add(true, []byte(`{"contactKey":"K3","attributeSets":[{"name":"Nope","items":[{"values":[{"name":"x","value":1}]}]}]}`))
	f.Add(true, []byte(`{"contactID":"12","attributeSets":[]}`))
	f.Add(true, []byte(`{"contactKey":"K4","attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":{"a":[1,2]}}]}]}]}`))
	f.Add(false, []byte(`{"contactKey":"K5"} {"x":1}`))
	f.Add(true, []byte(`[[[[[[`))
	f.Add(true, []byte(``))
	srv := NewServer(WithRequestLogSize(0))
	f.Cleanup(srv.Close)
	const tok = "fuzz-token"
	srv.tokMu.Lock()
	srv.tokens[tok] = time.Now().Add(24 * time.Hour)
	srv.tokMu.Unlock()
	f.Fuzz(func(t *testing.T, patch bool, body []byte) {
		method := http.MethodPost
		if patch {
			method = http.MethodPatch
		}
		req := httptest.NewRequest(method, "/contacts/v1/contacts", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.serveHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("HTTP %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body.Bytes())
		}
		if !json.Valid(body) && rec.Code != http.StatusBadRequest {
			t.Fatalf("HTTP %d for a body that is not JSON: %q", rec.Code, body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var resp contactResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("200 answer does not decode: %v", err)
		}
		switch resp.OperationStatus {
		case "OK":
			if resp.HasErrors || resp.ContactKey == "" || resp.ContactID < 1 {
				t.Fatalf("inconsistent OK answer: %+v", resp)
			}
			c, ok := srv.Contact(resp.ContactKey)
			if !ok || c.ID != resp.ContactID {
				t.Fatalf("OK for %q but stored %v %+v", resp.ContactKey, ok, c)
			}
		case "FAIL":
			if !resp.HasErrors || len(resp.ResultMessages) == 0 {
				t.Fatalf("FAIL without result messages: %+v", resp)
			}
		default:
			t.Fatalf("operationStatus %q", resp.OperationStatus)
		}
	})
}
