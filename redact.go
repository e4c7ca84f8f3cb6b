package sfmc

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// redactor removes the client's own secrets — the client secret and the
// access tokens it used — from what a server sends back, before anything
// is decoded from it into an error or a log line. A server that echoes the
// request (the token request's body holds the secret; every REST request
// carries the token) cannot make the client leak them: every answer body
// that may become an error goes through body first (the token answer in
// tokenSource.fetch, REST error answers in Client.finish, contact answers in
// ContactsService.answer).
type redactor struct{ secret string }

// minSecretLen is the shortest value redacted: replacing a one-character
// "secret" would garble every message.
const minSecretLen = 4

// body returns b with the secret and the given tokens replaced by
// [REDACTED]: as they are, JSON-escaped once to three times (an echo of a
// JSON body inside a JSON string, inside another) and URL-escaped. It
// copies b only when it finds one.
func (r redactor) body(b []byte, tokens ...string) []byte {
	b = r.one(b, r.secret)
	for _, t := range tokens {
		b = r.one(b, t)
	}
	return b
}

func (r redactor) one(b []byte, v string) []byte {
	if len(v) < minSecretLen {
		return b
	}
	form := v
	for range 4 {
		b = replaceAll(b, []byte(form))
		esc, err := json.Marshal(form)
		if err != nil || string(esc[1:len(esc)-1]) == form {
			break
		}
		form = string(esc[1 : len(esc)-1])
	}
	if q := url.QueryEscape(v); q != v {
		b = replaceAll(b, []byte(q))
	}
	return b
}

func replaceAll(b, v []byte) []byte {
	if !bytes.Contains(b, v) {
		return b
	}
	return bytes.ReplaceAll(b, v, []byte(redacted))
}
