package sfmc

import (
	"errors"
	"strings"
)

// redactor removes the client's own secrets — the client secret and the
// access tokens it used — from text a server supplied, before that text
// goes into an error or a log line. A server that echoes the request (the
// token request's body holds the secret; every REST request carries the
// token) cannot make the client leak them.
type redactor struct{ secret string }

// minSecretLen is the shortest value redacted: replacing a one-character
// "secret" would garble every message.
const minSecretLen = 4

// text returns s with the secret and the given tokens replaced by
// [REDACTED].
func (r redactor) text(s string, tokens ...string) string {
	for _, v := range append([]string{r.secret}, tokens...) {
		if len(v) >= minSecretLen && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// scrub redacts, in place, every server-supplied text of the typed errors
// in err's chain (*APIError, *OAuthError, *ContactError) and returns err.
func (r redactor) scrub(err error, tokens ...string) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		ae.Message = r.text(ae.Message, tokens...)
		ae.Documentation = r.text(ae.Documentation, tokens...)
		ae.RequestID = r.text(ae.RequestID, tokens...)
		for i := range ae.AdditionalErrors {
			ae.AdditionalErrors[i] = r.text(ae.AdditionalErrors[i], tokens...)
		}
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		oe.Code = r.text(oe.Code, tokens...)
		oe.Description = r.text(oe.Description, tokens...)
		oe.URI = r.text(oe.URI, tokens...)
	}
	var ce *ContactError
	if errors.As(err, &ce) {
		ce.RequestID = r.text(ce.RequestID, tokens...)
		for i := range ce.Messages {
			m := &ce.Messages[i]
			m.Message = r.text(m.Message, tokens...)
			m.Code = r.text(m.Code, tokens...)
			m.Type = r.text(m.Type, tokens...)
			m.Class = r.text(m.Class, tokens...)
			if raw := string(m.Raw); r.text(raw, tokens...) != raw {
				m.Raw = []byte(`"` + redacted + `"`)
			}
		}
	}
	return err
}
