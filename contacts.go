package sfmc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

const (
	contactsPath      = "/contacts/v1/contacts"
	emailSearchPath   = "/contacts/v1/addresses/email/search"
	deletePath        = "/contacts/v1/contacts/actions/delete"
	deleteStatusPath  = "/contacts/v1/contacts/actions/delete/status"
	deleteTypeAllData = "ContactAndAttributes"
)

// EmailSearchMaximumCount is the maximumCount SearchByEmail sends: the most
// contact keys SFMC returns per email address. SFMC's default is 1; the SDK
// asks for up to 100 so that addresses shared by several contacts are
// reported completely in practice.
const EmailSearchMaximumCount = 100

// AttributeValue is one attribute of a contact: the attribute Name in the
// attribute set Set (for example Set "Email Demographics", Name
// "First Name").
//
// Value must be a string, a bool, an integer (any int or uint kind), a
// finite float32 or float64, or a json.Number holding a valid JSON number.
type AttributeValue struct {
	Set   string
	Name  string
	Value any
}

// Contact is one contact write: the contact key and the attribute values to
// set.
//
// On the wire, attributes are grouped by set in the order each set first
// appears, and within a set kept in the given order. When the same (Set,
// Name) appears more than once, the LAST value is sent, at the position of
// the first appearance; SFMC accepts each attribute only once.
type Contact struct {
	Key        string
	Attributes []AttributeValue
}

// Validate reports whether c can be sent: the key is not empty, every
// attribute names a set and an attribute, every value has a supported
// type (floats must be finite), and the key, set names, attribute names
// and string values are valid UTF-8 (else the error also matches
// ErrInvalidUTF8: such text is never replaced by U+FFFD). The error wraps
// ErrInvalidContact and names the offending field. The Contacts calls
// validate before sending, and send nothing for an invalid contact.
func (c Contact) Validate() error {
	if c.Key == "" {
		return fmt.Errorf("%w: empty contact key", ErrInvalidContact)
	}
	if err := checkUTF8(c.Key); err != nil {
		return fmt.Errorf("%w: contact key %q: %w", ErrInvalidContact, c.Key, err)
	}
	for i := range c.Attributes {
		a := &c.Attributes[i]
		if a.Set == "" {
			return fmt.Errorf("%w: contact %q: attribute %d (%q) has an empty attribute set name", ErrInvalidContact, c.Key, i, a.Name)
		}
		if a.Name == "" {
			return fmt.Errorf("%w: contact %q: attribute %d in set %q has an empty name", ErrInvalidContact, c.Key, i, a.Set)
		}
		if err := checkUTF8(a.Set); err != nil {
			return fmt.Errorf("%w: contact %q: attribute %d: attribute set name %q: %w", ErrInvalidContact, c.Key, i, a.Set, err)
		}
		if err := checkUTF8(a.Name); err != nil {
			return fmt.Errorf("%w: contact %q: attribute %d: attribute name %q: %w", ErrInvalidContact, c.Key, i, a.Set+"."+a.Name, err)
		}
		if err := checkValue(a.Value); err != nil {
			return fmt.Errorf("%w: contact %q: attribute %q: %w", ErrInvalidContact, c.Key, a.Set+"."+a.Name, err)
		}
	}
	return nil
}

// checkValue reports whether v is a supported attribute value; a string
// must be valid UTF-8.
func checkValue(v any) error {
	switch x := v.(type) {
	case string:
		return valueUTF8(x)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr:
		return nil
	case float64:
		return checkFloat(x)
	case float32:
		return checkFloat(float64(x))
	case json.Number:
		if !validJSONNumber(string(x)) {
			return fmt.Errorf("json.Number %q is not a valid JSON number", string(x))
		}
		return nil
	case nil:
		return errors.New("nil value (unsupported type <nil>)")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return valueUTF8(rv.String())
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return nil
	case reflect.Float32, reflect.Float64:
		return checkFloat(rv.Float())
	}
	return fmt.Errorf("unsupported value type %T (want string, bool, integer, finite float or json.Number)", v)
}

// valueUTF8 checks that a string value is valid UTF-8.
func valueUTF8(s string) error {
	if err := checkUTF8(s); err != nil {
		return fmt.Errorf("string value: %w", err)
	}
	return nil
}

func checkFloat(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("non-finite number %v", f)
	}
	return nil
}

// validJSONNumber reports whether s is a number in JSON's grammar, with
// nothing around it (json.Valid alone accepts surrounding white space,
// which encoding/json then refuses to marshal as a json.Number).
func validJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return false
	}
	return json.Valid([]byte(s))
}

// The request body of a contact write:
//
//	{"contactKey":K,"attributeSets":[{"name":S,"items":[{"values":[{"name":N,"value":V},...]}]},...]}
type (
	wireContact struct {
		ContactKey    string    `json:"contactKey"`
		AttributeSets []wireSet `json:"attributeSets"`
	}
	wireSet struct {
		Name  string      `json:"name"`
		Items [1]wireItem `json:"items"`
	}
	wireItem struct {
		Values []wireValue `json:"values"`
	}
	wireValue struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
)

// contactBody encodes c as the body of a contact write, with encoding/json:
// attributes grouped by set in the order each set first appears, within a
// set in the given order, each (Set, Name) once with its last value. It
// validates c first. HTML characters stay as they are ('<' is not
// escaped); invalid UTF-8 cannot reach it (Validate refuses it).
func contactBody(c Contact) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	w := wireContact{ContactKey: c.Key, AttributeSets: []wireSet{}}
	for _, a := range lastValues(c.Attributes) {
		i := len(w.AttributeSets) - 1
		for i >= 0 && w.AttributeSets[i].Name != a.Set {
			i--
		}
		if i < 0 {
			w.AttributeSets = append(w.AttributeSets, wireSet{Name: a.Set})
			i = len(w.AttributeSets) - 1
		}
		vs := &w.AttributeSets[i].Items[0].Values
		*vs = append(*vs, wireValue{Name: a.Name, Value: a.Value})
	}
	for i := range w.AttributeSets {
		if w.AttributeSets[i].Items[0].Values == nil {
			w.AttributeSets[i].Items[0].Values = []wireValue{}
		}
	}
	var buf bytes.Buffer
	buf.Grow(64 + 48*len(c.Attributes))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("%w: contact %q: %w", ErrInvalidContact, c.Key, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// valueJSON is v's JSON text (v passed checkValue).
func valueJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// ContactResult is SFMC's answer to a successful contact write.
type ContactResult struct {
	OperationStatus         string    // "OK"
	ContactKey              string    // the contact key written
	ContactID               int64     // SFMC's numeric contact id
	ContactTypeID           int64     // contact type
	IsNewContactKey         bool      // whether SFMC reported a new key
	RowsAffected            int64     // rows written
	RequestServiceMessageID string    // SFMC's request id
	ServiceMessageID        string    // SFMC's service message id
	ResponseDateTime        time.Time // zero when absent or unparsable
}

// wireContactResult is the contacts answer. contactID also matches the
// documented contactId (encoding/json matches keys case-insensitively);
// rowsAffetcted is the documented typo.
type wireContactResult struct {
	OperationStatus         string    `json:"operationStatus"`
	RowsAffected            int64     `json:"rowsAffected"`
	RowsAffetcted           int64     `json:"rowsAffetcted"`
	ContactKey              string    `json:"contactKey"`
	ContactID               int64     `json:"contactID"`
	ContactTypeID           int64     `json:"contactTypeID"`
	IsNewContactKey         bool      `json:"isNewContactKey"`
	HasErrors               bool      `json:"hasErrors"`
	RequestServiceMessageID string    `json:"requestServiceMessageID"`
	ServiceMessageID        string    `json:"serviceMessageID"`
	ResponseDateTime        string    `json:"responseDateTime"`
	ResultMessages          jsonArray `json:"resultMessages"`
}

// decodeContactResult turns a 2xx contacts answer into a result, or a
// *ContactError when SFMC reports a failure in it.
func decodeContactResult(key string, body []byte) (*ContactResult, error) {
	if r, ok := fastContactResult(key, body); ok {
		return r, nil
	}
	return slowContactResult(key, body)
}

// slowContactResult is decodeContactResult with encoding/json, for every
// answer fastContactResult does not take.
func slowContactResult(key string, body []byte) (*ContactResult, error) {
	// -1 marks "absent" so that the documented typo is only a fallback.
	w := wireContactResult{RowsAffected: -1, RowsAffetcted: -1}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fmt.Errorf("sfmc: contact %q: decoding the answer: %w", key, err)
		}
	}
	if strings.EqualFold(w.OperationStatus, "FAIL") || w.HasErrors {
		ce := &ContactError{Key: key, OperationStatus: w.OperationStatus, RequestID: w.RequestServiceMessageID}
		if w.ContactKey != "" {
			ce.Key = w.ContactKey
		}
		if ce.OperationStatus == "" {
			ce.OperationStatus = "FAIL"
		}
		ce.setMessages(decodeResultMessages(w.ResultMessages))
		return nil, ce
	}
	return w.result(key), nil
}

// result is the ContactResult of a successful answer; key is the contact
// key written, for an answer that does not name it.
func (w *wireContactResult) result(key string) *ContactResult {
	r := &ContactResult{
		OperationStatus:         w.OperationStatus,
		ContactKey:              w.ContactKey,
		ContactID:               w.ContactID,
		ContactTypeID:           w.ContactTypeID,
		IsNewContactKey:         w.IsNewContactKey,
		RequestServiceMessageID: w.RequestServiceMessageID,
		ServiceMessageID:        w.ServiceMessageID,
		ResponseDateTime:        parseSFMCTime(w.ResponseDateTime),
	}
	if r.ContactKey == "" {
		r.ContactKey = key
	}
	switch {
	case w.RowsAffected >= 0:
		r.RowsAffected = w.RowsAffected
	case w.RowsAffetcted >= 0:
		r.RowsAffected = w.RowsAffetcted
	}
	return r
}

// decodeResultMessages decodes a resultMessages array leniently (see
// parseResultMessage), keeping at most maxMessages entries and then one
// "... and N more result messages" entry.
func decodeResultMessages(a jsonArray) []ResultMessage {
	var out []ResultMessage
	n, _ := a.each(maxMessages, func(raw []byte) error {
		out = append(out, parseResultMessage(json.RawMessage(raw)))
		return nil
	})
	if n > maxMessages {
		out = append(out, ResultMessage{Message: fmt.Sprintf("... and %d more result messages", n-maxMessages)})
	}
	return out
}

// setMessages sets the result messages and the unknown sets and
// attributes they name.
func (e *ContactError) setMessages(msgs []ResultMessage) {
	e.Messages = msgs
	for _, m := range msgs {
		for _, u := range unknownRefs(m) {
			if !containsRef(e.Unknown, u) {
				e.Unknown = append(e.Unknown, u)
			}
		}
	}
}

// contactRefusal turns the HTTP error answer to a contact write into a
// *ContactError when it is about the contact: a 4xx other than 401, 403
// and 429 whose body carries resultMessages. Other errors are returned as
// they are. An ErrOutcomeUnknown mark on err is kept.
func contactRefusal(key string, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) || len(ae.ResultMessages) == 0 || ae.StatusCode < 400 || ae.StatusCode > 499 {
		return err
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return err
	}
	ce := &ContactError{Key: key, RequestID: ae.RequestID, API: ae}
	ce.setMessages(ae.ResultMessages)
	if errors.Is(err, ErrOutcomeUnknown) {
		return fmt.Errorf("%w (%w)", ce, ErrOutcomeUnknown)
	}
	return ce
}

// parseSFMCTime parses SFMC timestamps, with or without zone; times
// without zone are taken as UTC. It returns the zero time when s is empty
// or unparsable.
func parseSFMCTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t
	}
	return time.Time{}
}

func containsRef(refs []AttributeRef, r AttributeRef) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

// parseResultMessage decodes one resultMessages entry leniently: any field
// may be a string or a number, the text may be under resultMessage or
// message.
func parseResultMessage(raw json.RawMessage) ResultMessage {
	m := ResultMessage{Raw: append(json.RawMessage(nil), raw...)}
	var w map[string]json.RawMessage
	if json.Unmarshal(raw, &w) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			m.Message = s
		}
		return m
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			for wk, v := range w {
				if strings.EqualFold(wk, k) {
					if t := rawText(v); t != "" {
						return t
					}
				}
			}
		}
		return ""
	}
	m.Type = get("resultType", "type")
	m.Code = get("resultCode", "code", "errorcode")
	m.Class = get("resultClass", "class")
	m.Message = get("resultMessage", "message", "description")
	return m
}

// rawText returns a JSON string's content or a scalar's text.
func rawText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	t := strings.TrimSpace(string(v))
	if t == "null" || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return ""
	}
	return t
}

// codeSeparators drops the separators of result codes. Built once: a
// Replacer of single bytes allocates a 256-entry table, which per message
// made a FAIL answer of many small resultMessages allocate ~2500 times its
// size.
var codeSeparators = strings.NewReplacer("_", "", "-", "", " ", "")

// unknownPattern is one rule of unknownPatterns.
type unknownPattern struct {
	// code is a result code, lower case without '_', '-' or ' '; words are
	// lower-case texts that must all occur in the message. A rule has one
	// or the other.
	code  string
	words []string
	// set: the names quoted in the message are attribute-set names (not
	// attribute names).
	set bool
	// never: a message with this code never names an unknown set or
	// attribute, whatever its text says.
	never bool
}

// unknownPatterns is the one table by which a result message (of an HTTP
// 200 FAIL answer or of a 4xx answer) is recognised as naming an attribute
// set or attribute that does not exist in the tenant: by its resultCode OR
// by its text. The first rule that matches decides; codes are compared
// lower case without separators, texts lower case.
//
// SFMC does not document its result codes, and the real codes for an
// unknown attribute are not known: AttributeSetNotFound and
// AttributeNotFound are the simulator's own (sfmctest), UnknownAttribute and
// UnknownAttributeSet plausible spellings, and CustomObjectNotFound was seen
// in an answer recorded from a real tenant (an attribute set is a custom
// object there; taken to name a set). That is why the text rules exist:
// "attribute" or "custom object" together with "does not exist", "not
// found", "unknown", ... A message neither rule matches is not an unknown
// attribute: the error then carries its raw text (ContactError.Messages),
// nothing is guessed.
//
// The names are taken from the message's quoted words (see
// refsFromMessage); when a rule matches but nothing is quoted, the set is
// reported as "(unnamed)".
var unknownPatterns = []unknownPattern{
	{code: "valuetoolong", never: true},
	{code: "invalidvalue", never: true},
	{code: "contactkeyexists", never: true},
	{code: "contactnotfound", never: true},
	{code: "attributesetnotfound", set: true},
	{code: "unknownattributeset", set: true},
	{code: "customobjectnotfound", set: true},
	{code: "attributenotfound"},
	{code: "unknownattribute"},
	{words: []string{"custom object", "not found"}, set: true},
	{words: []string{"custom object", "does not exist"}, set: true},
	{words: []string{"attribute", "does not exist"}},
	{words: []string{"attribute", "doesn't exist"}},
	{words: []string{"attribute", "not found"}},
	{words: []string{"attribute", "unknown"}},
	{words: []string{"invalid attribute"}},
}

// unknownRefs reports the unknown attribute sets and attributes a result
// message names (see unknownPatterns).
func unknownRefs(m ResultMessage) []AttributeRef {
	code := codeSeparators.Replace(strings.ToLower(m.Code))
	var text string // lower-cased on first use
	for _, p := range unknownPatterns {
		if p.code != "" {
			if p.code != code {
				continue
			}
			if p.never {
				return nil
			}
			refs := refsFromMessage(m.Message, p.set)
			if len(refs) == 0 {
				// The code is clear but the text names nothing we can parse.
				refs = []AttributeRef{{Set: "(unnamed)"}}
			}
			return refs
		}
		if text == "" {
			text = strings.ToLower(m.Message)
		}
		if containsAll(text, p.words) {
			if refs := refsFromMessage(m.Message, p.set); len(refs) > 0 {
				return refs
			}
			return []AttributeRef{{Set: "(unnamed)"}}
		}
	}
	return nil
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// refsFromMessage extracts quoted names from msg. A name preceded by
// "set" is a set name, other names are attribute names. A lone name
// "Set.Attr" is split at its first '.'.
func refsFromMessage(msg string, setOnly bool) []AttributeRef {
	var sets, attrs []string
	prevEnd := 0
	for i := 0; i < len(msg); i++ {
		q := msg[i]
		if q != '\'' && q != '"' {
			continue
		}
		end := strings.IndexByte(msg[i+1:], q)
		if end < 0 {
			break
		}
		name := msg[i+1 : i+1+end]
		ctx := strings.ToLower(strings.TrimSpace(msg[prevEnd:i]))
		if setOnly || strings.HasSuffix(ctx, "set") || strings.HasSuffix(ctx, "set name") {
			sets = append(sets, name)
		} else {
			attrs = append(attrs, name)
		}
		i += end + 1
		prevEnd = i + 1
	}
	var refs []AttributeRef
	set := ""
	if len(sets) > 0 {
		set = sets[0]
	}
	for _, a := range attrs {
		if set == "" {
			if s, n, ok := strings.Cut(a, "."); ok {
				refs = append(refs, AttributeRef{Set: s, Name: n})
				continue
			}
		}
		refs = append(refs, AttributeRef{Set: set, Name: a})
	}
	if len(attrs) == 0 {
		for _, s := range sets {
			refs = append(refs, AttributeRef{Set: s})
		}
	}
	return refs
}

// Upsert writes c with PATCH /contacts/v1/contacts, SFMC's update route,
// which creates the contact when the key is new and updates it otherwise
// (the route Adobe's SFMC destination relies on). An HTTP 200 answer with
// operationStatus "FAIL" or hasErrors true is returned as a *ContactError;
// an invalid contact (see Contact.Validate) is refused without a request.
func (s *ContactsService) Upsert(ctx context.Context, c Contact) (*ContactResult, error) {
	return s.write(ctx, http.MethodPatch, c)
}

// Create writes c with POST /contacts/v1/contacts. Failures are reported as
// for Upsert.
func (s *ContactsService) Create(ctx context.Context, c Contact) (*ContactResult, error) {
	return s.write(ctx, http.MethodPost, c)
}

func (s *ContactsService) write(ctx context.Context, method string, c Contact) (*ContactResult, error) {
	body, err := contactBody(c)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.do(ctx, request{method: method, path: contactsPath, body: body})
	return s.answer(c.Key, resp, err)
}

// upsertOnce sends one PATCH attempt of an encoded contact, for the
// Upserter, which decides the retries from the returned call state.
func (s *ContactsService) upsertOnce(ctx, waitCtx context.Context, key string, body []byte, attemptBase int, links []context.Context) (*ContactResult, *callState, error) {
	resp, st, err := s.c.attempt(ctx, request{method: http.MethodPatch, path: contactsPath, body: body,
		attemptBase: attemptBase, links: links, waitCtx: waitCtx})
	res, err := s.answer(key, resp, err)
	if err != nil && st.class == classOK {
		st.class = classPermanent // a 2xx answer refusing the contact
	}
	return res, st, err
}

// answer turns a contacts write's answer into its result or error.
func (s *ContactsService) answer(key string, resp []byte, err error) (*ContactResult, error) {
	if err != nil {
		return nil, contactRefusal(key, err)
	}
	return decodeContactResult(key, s.c.redact.body(resp))
}

// SearchByEmail looks up the contact keys of email addresses with POST
// /contacts/v1/addresses/email/search, asking for up to
// EmailSearchMaximumCount keys per address. The map has an entry for each
// address SFMC found at least one contact for; an address without contact
// has no entry. An empty list or an empty address is an error and sends
// nothing.
func (s *ContactsService) SearchByEmail(ctx context.Context, emails []string) (map[string][]string, error) {
	if len(emails) == 0 {
		return nil, errors.New("sfmc: SearchByEmail: no email addresses given")
	}
	for i, e := range emails {
		if strings.TrimSpace(e) == "" {
			return nil, fmt.Errorf("sfmc: SearchByEmail: email address %d is empty", i)
		}
	}
	body, err := json.Marshal(struct {
		ChannelAddressList []string `json:"channelAddressList"`
		MaximumCount       int      `json:"maximumCount"`
	}{emails, EmailSearchMaximumCount})
	if err != nil {
		return nil, err
	}
	resp, err := s.c.do(ctx, request{method: http.MethodPost, path: emailSearchPath, body: body})
	if err != nil {
		return nil, err
	}
	var w struct {
		Entities []struct {
			ChannelAddress    string `json:"channelAddress"`
			ContactKeyDetails []struct {
				ContactKey string `json:"contactKey"`
			} `json:"contactKeyDetails"`
		} `json:"channelAddressResponseEntities"`
	}
	if err := json.Unmarshal(resp, &w); err != nil {
		return nil, fmt.Errorf("sfmc: SearchByEmail: decoding the answer: %w", err)
	}
	out := make(map[string][]string, len(w.Entities))
	for _, e := range w.Entities {
		for _, d := range e.ContactKeyDetails {
			if d.ContactKey != "" {
				out[e.ChannelAddress] = append(out[e.ChannelAddress], d.ContactKey)
			}
		}
	}
	return out, nil
}

// DeleteOperation is SFMC's answer to a delete request: the queued
// operation, whose progress DeleteStatus reports.
type DeleteOperation struct {
	OperationInitiated      bool   // whether SFMC queued the deletion
	OperationID             int64  // id for DeleteStatus
	RequestServiceMessageID string // SFMC's request id
	ServiceMessageID        string // SFMC's service message id
}

// Delete queues the deletion of the contacts with the given keys, with
// their attributes in every channel (POST
// /contacts/v1/contacts/actions/delete?type=keys, DeleteOperationType
// ContactAndAttributes). Deletion is asynchronous and irreversible after
// the suppression period; follow it with DeleteStatus. An empty list or
// an empty key is an error and sends nothing.
func (s *ContactsService) Delete(ctx context.Context, keys []string) (*DeleteOperation, error) {
	if len(keys) == 0 {
		return nil, errors.New("sfmc: Delete: no contact keys given")
	}
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("sfmc: Delete: contact key %d is empty", i)
		}
	}
	body, err := json.Marshal(struct {
		Values              []string `json:"values"`
		DeleteOperationType string   `json:"DeleteOperationType"`
	}{keys, deleteTypeAllData})
	if err != nil {
		return nil, err
	}
	resp, err := s.c.do(ctx, request{method: http.MethodPost, path: deletePath, query: url.Values{"type": {"keys"}}, body: body})
	if err != nil {
		return nil, err
	}
	var w struct {
		OperationInitiated      bool   `json:"operationInitiated"`
		OperationID             int64  `json:"operationID"`
		RequestServiceMessageID string `json:"requestServiceMessageID"`
		ServiceMessageID        string `json:"serviceMessageID"`
	}
	if err := json.Unmarshal(resp, &w); err != nil {
		return nil, fmt.Errorf("sfmc: Delete: decoding the answer: %w", err)
	}
	return &DeleteOperation{
		OperationInitiated:      w.OperationInitiated,
		OperationID:             w.OperationID,
		RequestServiceMessageID: w.RequestServiceMessageID,
		ServiceMessageID:        w.ServiceMessageID,
	}, nil
}

// DeleteStatus is the state of a delete operation.
type DeleteStatus struct {
	OperationID            int64                 // the operation
	Status                 string                // operation.status, e.g. "Pending", "Completed"
	DeleteType             string                // e.g. "ContactAndAttributes"
	LastProcessedMilestone string                // operation.lastProcessedMilestone, when given
	ExpectedListCount      int64                 // contacts expected in the operation
	NumberOfRestorableDays int                   // days the contacts can still be restored
	BackgroundOperations   []BackgroundOperation // backgroundOperationsSummary
	ResponseDateTime       time.Time             // zero when absent
}

// BackgroundOperation is one entry of a delete status'
// backgroundOperationsSummary.
type BackgroundOperation struct {
	ID          int64     // backgroundOperationID
	Status      string    // backgroundOperationStatusID: Completed, Aborted, Invalid, or in progress
	CreatedDate time.Time // zero when absent
}

// Done reports whether SFMC finished the deletion: the operation status is
// Completed and every background operation is Completed, Aborted or
// Invalid (SFMC says every other value means still processing).
func (d *DeleteStatus) Done() bool {
	if !strings.EqualFold(d.Status, "Completed") {
		return false
	}
	for _, b := range d.BackgroundOperations {
		switch strings.ToLower(b.Status) {
		case "completed", "aborted", "invalid":
		default:
			return false
		}
	}
	return true
}

// DeleteStatus reports the state of the delete operation id (GET
// /contacts/v1/contacts/actions/delete/status?operationID=id). id must be
// positive.
func (s *ContactsService) DeleteStatus(ctx context.Context, id int64) (*DeleteStatus, error) {
	if id <= 0 {
		return nil, fmt.Errorf("sfmc: DeleteStatus: invalid operation id %d", id)
	}
	q := url.Values{"operationID": {strconv.FormatInt(id, 10)}}
	resp, err := s.c.do(ctx, request{method: http.MethodGet, path: deleteStatusPath, query: q})
	if err != nil {
		return nil, err
	}
	var w struct {
		Operation struct {
			OperationID            int64  `json:"operationID"`
			Status                 string `json:"status"`
			DeleteType             string `json:"deleteType"`
			LastProcessedMilestone string `json:"lastProcessedMilestone"`
			ExpectedListCount      int64  `json:"expectedListCount"`
		} `json:"operation"`
		Background []struct {
			ID          int64  `json:"backgroundOperationID"`
			Status      string `json:"backgroundOperationStatusID"`
			CreatedDate string `json:"createdDate"`
		} `json:"backgroundOperationsSummary"`
		NumberOfRestorableDays int    `json:"numberofRestorableDays"`
		ResponseDateTime       string `json:"responseDateTime"`
	}
	if err := json.Unmarshal(resp, &w); err != nil {
		return nil, fmt.Errorf("sfmc: DeleteStatus: decoding the answer: %w", err)
	}
	d := &DeleteStatus{
		OperationID:            w.Operation.OperationID,
		Status:                 w.Operation.Status,
		DeleteType:             w.Operation.DeleteType,
		LastProcessedMilestone: w.Operation.LastProcessedMilestone,
		ExpectedListCount:      w.Operation.ExpectedListCount,
		NumberOfRestorableDays: w.NumberOfRestorableDays,
		ResponseDateTime:       parseSFMCTime(w.ResponseDateTime),
	}
	if d.OperationID == 0 {
		d.OperationID = id
	}
	for _, b := range w.Background {
		d.BackgroundOperations = append(d.BackgroundOperations, BackgroundOperation{ID: b.ID, Status: b.Status, CreatedDate: parseSFMCTime(b.CreatedDate)})
	}
	return d, nil
}
