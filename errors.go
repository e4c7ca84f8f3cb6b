package sfmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sfmc-go/sfmc/internal/httpx"
)

// Sentinel errors, for errors.Is. Every answer SFMC refuses matches one by
// its kind (status, OAuth code, errorcode), and so do configuration errors
// (ErrInvalidConfig), invalid contacts (ErrInvalidContact) and an Upserter
// that is closed or stopped; the concrete types (*APIError,
// *RateLimitError, *OAuthError, *ContactError) carry the details and are
// reached with errors.As. Transport errors (a refused connection, a reset)
// and context errors come wrapped as they are, and a call given unusable
// arguments (an empty list of keys, a nil context) returns a plain error
// naming the argument, sending nothing.
var (
	// ErrUnauthorized matches REST answers with HTTP 401 (token missing,
	// invalid or expired, after the one automatic retry with a new token;
	// a 401 on that new token says the integration itself is rejected).
	ErrUnauthorized = errors.New("sfmc: unauthorized")
	// ErrForbidden matches REST answers with HTTP 403 (missing scope or
	// permission on the installed package).
	ErrForbidden = errors.New("sfmc: forbidden")
	// ErrNotFound matches REST answers with HTTP 404.
	ErrNotFound = errors.New("sfmc: not found")
	// ErrRateLimited matches every HTTP 429 answered by SFMC, including
	// the 50200 "blocked" variant (which also matches ErrBlocked).
	ErrRateLimited = errors.New("sfmc: rate limited by SFMC")
	// ErrBlocked matches HTTP 429 with errorcode 50200: SFMC has
	// temporarily blocked the account's requests. The client then pauses
	// every request and probes (see retry.go); a direct call returns it at
	// once, an Upserter's contact only when its MaxRetryDuration runs out
	// (or at once with FailOnBlock).
	ErrBlocked = errors.New("sfmc: requests temporarily blocked by SFMC (errorcode 50200)")
	// ErrServer matches REST answers with HTTP 5xx (including SFMC's 596).
	ErrServer = errors.New("sfmc: server error")
	// ErrClientRateLimited is returned when the client-side Limiter could
	// not admit a request (for example because the context deadline comes
	// before the next free slot). It never matches ErrRateLimited: no
	// request was sent.
	ErrClientRateLimited = errors.New("sfmc: client-side rate limit")
	// ErrInvalidCredentials matches an OAuth invalid_client answer from the
	// token endpoint: wrong client id or secret, or a disabled package.
	ErrInvalidCredentials = errors.New("sfmc: invalid client credentials")
	// ErrIPNotAllowlisted matches an OAuth invalid_grant answer saying the
	// caller's IP address is not allowed for the account.
	ErrIPNotAllowlisted = errors.New("sfmc: client IP address not allowlisted")
	// ErrUnknownAttribute matches a *ContactError whose result messages name
	// an attribute set or attribute that does not exist in the tenant.
	ErrUnknownAttribute = errors.New("sfmc: unknown attribute")
	// ErrInvalidConfig matches every error NewClient and the options return
	// for bad configuration.
	ErrInvalidConfig = errors.New("sfmc: invalid configuration")
	// ErrInvalidContact matches client-side validation failures of a
	// Contact (empty key, empty set or attribute name, unsupported value
	// type); no request is sent for such a contact.
	ErrInvalidContact = errors.New("sfmc: invalid contact")
	// ErrResponseTooLarge is returned when a response body exceeds the
	// client's size limit (see WithMaxResponseBytes).
	ErrResponseTooLarge = errors.New("sfmc: response body too large")
	// ErrOutcomeUnknown marks a failed write one of whose attempts was sent
	// and got no answer (dropped connection, timeout): SFMC may have applied
	// it, so the contact may be stored although the call failed. It is
	// wrapped together with the final error (errors.Is matches both).
	ErrOutcomeUnknown = errors.New("sfmc: an attempt got no answer: SFMC may have applied it")
	// ErrClosed is returned by an Upserter after Close.
	ErrClosed = errors.New("sfmc: upserter closed")
)

// APIError is an error answer from the SFMC REST API. Every body shape SFMC
// is known to send is decoded, on any status: {"message", "errorcode",
// "documentation", "additionalErrors"}, and bodies that carry only
// "resultMessages" (items {resultType, resultClass, resultCode, message}, as
// real tenants answer some refused requests). The tenant's text always
// reaches Error: the message, every additional error and every result
// message.
//
// errors.Is(err, ErrUnauthorized|ErrForbidden|ErrNotFound|ErrRateLimited|
// ErrServer|ErrBlocked) matches by status code (and errorcode for
// ErrBlocked). The URL never includes the query string, and no field ever
// holds a token or secret.
type APIError struct {
	StatusCode       int      // HTTP status
	Code             int      // SFMC errorcode (0 when absent)
	Message          string   // SFMC message, or the HTTP status text
	Documentation    string   // documentation URL, when given
	AdditionalErrors []string // messages of additionalErrors (errorcode 10006)
	RequestID        string   // SFMC request id when the answer carries one
	Method           string   // HTTP method of the request
	URL              string   // request URL without query string
	// ResultMessages are the body's resultMessages entries, when it has
	// any (at most 100 are kept, then one "... and N more" entry).
	ResultMessages []ResultMessage
	// RetryAfter is the wait the server asked for (Retry-After header,
	// else the body's retryAfter), zero when it gave none.
	RetryAfter time.Duration
}

// Error returns one readable line.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("sfmc: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
		b.WriteString(e.URL)
		b.WriteString(": ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != 0 {
		b.WriteString(" errorcode ")
		b.WriteString(strconv.Itoa(e.Code))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Message))
	}
	for _, m := range e.AdditionalErrors {
		b.WriteString("; ")
		b.WriteString(oneLine(m))
	}
	for _, m := range e.ResultMessages {
		b.WriteString("; ")
		b.WriteString(m.text(true))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(oneLine(truncate(e.RequestID, 100)))
		b.WriteByte(')')
	}
	return b.String()
}

// Is reports whether target is the sentinel matching this error's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == 401
	case ErrForbidden:
		return e.StatusCode == 403
	case ErrNotFound:
		return e.StatusCode == 404
	case ErrRateLimited:
		return e.StatusCode == 429
	case ErrBlocked:
		return e.StatusCode == 429 && e.Code == 50200
	case ErrServer:
		return e.StatusCode >= 500
	}
	return false
}

// RateLimitError is an HTTP 429 from SFMC that survived the client's
// retries. It wraps the *APIError (reachable with errors.As) and matches
// ErrRateLimited, and ErrBlocked for errorcode 50200.
//
// The wait SFMC asked for is the embedded APIError's RetryAfter.
type RateLimitError struct {
	*APIError
}

// Error returns one readable line.
func (e *RateLimitError) Error() string {
	s := e.APIError.Error()
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// Unwrap returns the underlying *APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// Blocked reports whether SFMC blocked the account (errorcode 50200) rather
// than throttling it (50100).
func (e *RateLimitError) Blocked() bool { return e.APIError != nil && e.Code == 50200 }

// OAuthError is an error answer from the token endpoint
// ({"error", "error_description", "error_uri"}).
//
// invalid_client matches ErrInvalidCredentials; invalid_grant whose
// description speaks of the client's IP address matches
// ErrIPNotAllowlisted.
type OAuthError struct {
	StatusCode  int    // HTTP status of the token answer
	Code        string // OAuth "error", e.g. invalid_client
	Description string // OAuth "error_description"
	URI         string // OAuth "error_uri"
}

// ipNotAllowlistedAdvice is appended to the message of an IP allowlist
// rejection: it says what to do.
const ipNotAllowlistedAdvice = "allowlist the IP addresses this program calls from in Marketing Cloud Setup " +
	"(Security > Login IP Allowlist, API ranges) for the business unit or enterprise"

// Error returns one readable line; for known codes it says what to do.
func (e *OAuthError) Error() string {
	var b strings.Builder
	b.WriteString("sfmc: token request failed: HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(oneLine(e.Code))
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Description))
	}
	switch {
	case e.isIPRejection():
		b.WriteString(" — ")
		b.WriteString(ipNotAllowlistedAdvice)
	case e.Code == "invalid_client" && e.Description == "":
		// SFMC's own descriptions say what to check; say it only when
		// there is none.
		b.WriteString(" — check the client id and secret of the API integration in Marketing Cloud Installed Packages, and that the package is installed and enabled")
	}
	return b.String()
}

func (e *OAuthError) isIPRejection() bool {
	if e.Code != "invalid_grant" {
		return false
	}
	d := strings.ToLower(e.Description)
	return strings.Contains(d, "ip address") || strings.Contains(d, "allowlist")
}

// Is reports whether target is ErrInvalidCredentials or ErrIPNotAllowlisted
// and this error is that condition.
func (e *OAuthError) Is(target error) bool {
	switch target {
	case ErrInvalidCredentials:
		return e.Code == "invalid_client"
	case ErrIPNotAllowlisted:
		return e.isIPRejection()
	}
	return false
}

// decodeAPIError builds the typed error for a non-2xx REST answer.
// body is the (size-limited) response body; it may be empty or not JSON.
func decodeAPIError(status int, method, rawURL string, body []byte, requestID string, retryAfter time.Duration) error {
	e := &APIError{StatusCode: status, Method: method, URL: rawURL, RequestID: requestID}
	var w wireError
	if len(body) > 0 && json.Unmarshal(body, &w) == nil {
		e.Message = w.Message
		e.Code = w.code()
		e.Documentation = w.Documentation
		n, _ := w.AdditionalErrors.each(maxMessages, func(raw []byte) error {
			var m struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &m) == nil && m.Message != "" {
				e.AdditionalErrors = append(e.AdditionalErrors, m.Message)
			} else {
				e.AdditionalErrors = append(e.AdditionalErrors, truncate(string(raw), 200))
			}
			return nil
		})
		if n > maxMessages {
			e.AdditionalErrors = append(e.AdditionalErrors, fmt.Sprintf("... and %d more", n-maxMessages))
		}
		e.ResultMessages = decodeResultMessages(w.ResultMessages)
		if e.RequestID == "" {
			e.RequestID = w.RequestServiceMessageID
		}
		if retryAfter == 0 && w.RetryAfter != nil && *w.RetryAfter > 0 {
			// Parsed like the header, so fractions are kept (0.5 s was 0)
			// and huge values do not overflow.
			retryAfter, _ = httpx.ParseRetryAfter(strconv.FormatFloat(*w.RetryAfter, 'f', -1, 64), time.Now(), 0)
		}
	}
	if e.Message == "" {
		e.Message = statusText(status)
	}
	e.RetryAfter = retryAfter
	if status == 429 {
		return &RateLimitError{APIError: e}
	}
	return e
}

// wireError is the REST error body. errorcode is decoded leniently: SFMC
// documents a number, some clients have seen strings.
type wireError struct {
	Message                 string          `json:"message"`
	ErrorCode               json.RawMessage `json:"errorcode"`
	Documentation           string          `json:"documentation"`
	RetryAfter              *float64        `json:"retryAfter"`
	AdditionalErrors        jsonArray       `json:"additionalErrors"`
	RequestServiceMessageID string          `json:"requestServiceMessageID"`
	ResultMessages          jsonArray       `json:"resultMessages"`
}

func (w *wireError) code() int {
	s := strings.Trim(string(w.ErrorCode), `" `)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func statusText(status int) string {
	switch status {
	case 596:
		return "Service Not Found"
	}
	if t := httpStatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP status %d", status)
}

// oneLine keeps an error message on one line and bounded in length.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return truncate(s, 500)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ContactError is a contact write that SFMC refused: in an HTTP 200 answer
// (operationStatus "FAIL" or hasErrors true), or in an HTTP 4xx answer
// (other than 401, 403 and 429, which concern the integration, not the
// contact) whose body carries resultMessages. It carries the contact key
// and every result message.
//
// For a 4xx refusal API holds the *APIError of the answer, and the
// ContactError unwraps to it: errors.As(err, &apiErr) and the status
// sentinels (ErrNotFound, ...) keep matching. For a refusal inside an HTTP
// 200 answer API is nil.
//
// When a result message names an attribute set or attribute that does not
// exist, the error matches ErrUnknownAttribute and Unknown lists them. That
// is recognised by the message's result code or by its text, from one
// table of patterns (unknownPatterns in contacts.go): SFMC does not
// document its result codes, so a message no pattern matches is not taken
// for an unknown attribute, and its raw text is kept in Messages.
type ContactError struct {
	Key             string          // contactKey of the refused contact
	OperationStatus string          // "FAIL" for a 200 answer; for a 4xx what the body says, often ""
	Messages        []ResultMessage // every result message SFMC returned
	Unknown         []AttributeRef  // unknown sets/attributes named by the messages
	RequestID       string          // requestServiceMessageID, when given
	API             *APIError       // the HTTP error answer of a 4xx refusal, else nil
}

// AttributeRef names an attribute (Set and Name) or, with Name empty, a
// whole attribute set.
type AttributeRef struct {
	Set  string
	Name string
}

// String returns "Set.Name", or "Set" for a whole set.
func (r AttributeRef) String() string {
	if r.Name == "" {
		return r.Set
	}
	return r.Set + "." + r.Name
}

// ResultMessage is one entry of a contacts answer's resultMessages. SFMC
// does not document its shape; the fields below are the ones seen in the
// wild, and Raw keeps the entry as received.
type ResultMessage struct {
	Type    string          // resultType
	Code    string          // resultCode (numbers are kept as their text)
	Class   string          // resultClass
	Message string          // resultMessage, else message
	Raw     json.RawMessage // the entry as received
}

// Error returns one readable line naming the contact key and every message.
func (e *ContactError) Error() string {
	var b strings.Builder
	b.WriteString("sfmc: contact ")
	b.WriteString(strconv.Quote(e.Key))
	b.WriteString(" refused")
	if e.API != nil {
		b.WriteString(" (HTTP ")
		b.WriteString(strconv.Itoa(e.API.StatusCode))
		b.WriteByte(')')
	}
	if e.OperationStatus != "" {
		b.WriteString(" (operationStatus ")
		b.WriteString(e.OperationStatus)
		b.WriteByte(')')
	}
	if len(e.Unknown) > 0 {
		b.WriteString(": unknown ")
		for i, u := range e.Unknown {
			if i > 0 {
				b.WriteString(", ")
			}
			if u.Name == "" {
				b.WriteString("attribute set ")
				b.WriteString(strconv.Quote(u.Set))
			} else {
				b.WriteString("attribute ")
				b.WriteString(strconv.Quote(u.Name))
				b.WriteString(" in set ")
				b.WriteString(strconv.Quote(u.Set))
			}
		}
	}
	for i, m := range e.Messages {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(m.text(false))
	}
	if len(e.Messages) == 0 && len(e.Unknown) == 0 {
		b.WriteString(" without result messages")
	}
	return b.String()
}

// Is reports whether target is ErrUnknownAttribute and a result message
// named an unknown set or attribute.
func (e *ContactError) Is(target error) bool {
	return target == ErrUnknownAttribute && len(e.Unknown) > 0
}

// Unwrap returns the *APIError of a 4xx refusal, or nil.
func (e *ContactError) Unwrap() error {
	if e.API == nil {
		return nil
	}
	return e.API
}

// text is the message on one line: its text (after "code: " when withCode
// is set and the text does not hold the code), else the entry as received,
// else its code.
func (m ResultMessage) text(withCode bool) string {
	switch {
	case withCode && m.Message != "" && m.Code != "" && !strings.Contains(m.Message, m.Code):
		return oneLine(truncate(m.Code, 100) + ": " + m.Message)
	case m.Message != "":
		return oneLine(m.Message)
	case len(m.Raw) > 0:
		return oneLine(string(m.Raw))
	}
	return oneLine(m.Code)
}
