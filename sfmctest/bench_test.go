package sfmctest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkPatchContact measures the hot path: token check and PATCH of a
// contact over a keep-alive connection.
func BenchmarkPatchContact(b *testing.B) {
	s := NewServer(WithRequestLogSize(1000))
	defer s.Close()
	id, secret := s.Credentials()
	body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
	resp, err := http.Post(s.URL()+"/v2/token", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close()
	client := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			payload := `{"contactKey":"B` + strconv.Itoa(i%1000) + `","attributeSets":[{"name":"Email Demographics","items":[{"values":[{"name":"First Name","value":"Ann"}]}]}]}`
			req, _ := http.NewRequest(http.MethodPatch, s.URL()+"/contacts/v1/contacts", bytes.NewReader([]byte(payload)))
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
