package sfmctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// responseTimeLayout is SFMC's responseDateTime format: seven fractional
// digits and a numeric offset.
const responseTimeLayout = "2006-01-02T15:04:05.0000000-07:00"

// createDateLayout is the createDate format of the email search (no zone).
const createDateLayout = "2006-01-02T15:04:05"

type wireValue struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

type wireItem struct {
	Values []wireValue `json:"values"`
}

type wireAttrSet struct {
	Name  string     `json:"name"`
	Items []wireItem `json:"items"`
}

type contactRequest struct {
	ContactKey    string        `json:"contactKey"`
	ContactID     json.Number   `json:"contactID"`
	AttributeSets []wireAttrSet `json:"attributeSets"`
}

// ResultMessage is one entry of the resultMessages array of a contact
// answer with operationStatus "FAIL". The shape is the simulator's own: SFMC
// does not document it.
type ResultMessage struct {
	ResultType    string `json:"resultType"`
	ResultCode    string `json:"resultCode"`
	ResultClass   string `json:"resultClass"`
	ResultMessage string `json:"resultMessage"`
}

// Result codes used in ResultMessage.ResultCode.
const (
	ResultAttributeSetNotFound = "AttributeSetNotFound"
	ResultAttributeNotFound    = "AttributeNotFound"
	ResultValueTooLong         = "ValueTooLong"
	ResultInvalidValue         = "InvalidValue"
	ResultContactKeyExists     = "ContactKeyExists"
	ResultContactNotFound      = "ContactNotFound"
)

func validationError(code, msg string) ResultMessage {
	return ResultMessage{ResultType: "Error", ResultCode: code, ResultClass: "Validation", ResultMessage: msg}
}

// badRequestMessage is one resultMessages entry of the HTTP 400 answer of
// WithUnknownAttributeBadRequest: the shape of answers recorded from real
// tenants, with the text under "message".
type badRequestMessage struct {
	ResultType  string `json:"resultType"`
	ResultClass string `json:"resultClass"`
	ResultCode  string `json:"resultCode"`
	Message     string `json:"message"`
}

// Result codes of the HTTP 400 answer of WithUnknownAttributeBadRequest.
const (
	resultCustomObjectNotFound    = "CustomObjectNotFound"    // seen in a recorded answer
	resultValueDefinitionNotFound = "ValueDefinitionNotFound" // the simulator's guess
)

// namesUnknown reports whether a problem is an unknown set or attribute.
func namesUnknown(problems []ResultMessage) bool {
	for _, p := range problems {
		if p.ResultCode == ResultAttributeSetNotFound || p.ResultCode == ResultAttributeNotFound {
			return true
		}
	}
	return false
}

// badRequestMessages converts problems to the HTTP 400 shape.
func badRequestMessages(problems []ResultMessage) []badRequestMessage {
	out := make([]badRequestMessage, len(problems))
	for i, p := range problems {
		code := p.ResultCode
		switch code {
		case ResultAttributeSetNotFound:
			code = resultCustomObjectNotFound
		case ResultAttributeNotFound:
			code = resultValueDefinitionNotFound
		}
		out[i] = badRequestMessage{ResultType: p.ResultType, ResultClass: p.ResultClass, ResultCode: code, Message: p.ResultMessage}
	}
	return out
}

type contactResponse struct {
	OperationStatus         string          `json:"operationStatus"`
	RowsAffected            int             `json:"rowsAffected"`
	ContactKey              string          `json:"contactKey"`
	ContactID               int64           `json:"contactID"`
	ContactTypeID           int             `json:"contactTypeID"`
	IsNewContactKey         bool            `json:"isNewContactKey"`
	RequestServiceMessageID string          `json:"requestServiceMessageID"`
	ResponseDateTime        string          `json:"responseDateTime"`
	HasErrors               bool            `json:"hasErrors"`
	ResultMessages          []ResultMessage `json:"resultMessages"`
	ServiceMessageID        string          `json:"serviceMessageID"`
}

// readJSON decodes the body of r into v with UseNumber. On failure it
// writes the error answer and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if st := bodyErrorStatus(err); st == http.StatusRequestEntityTooLarge {
			writeAPIError(w, st, 10000, fmt.Sprintf("The request body is larger than %d bytes.", MaxBodyBytes))
			return false
		}
		writeAPIError(w, http.StatusBadRequest, 10003, "The request body could not be read.")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		writeAPIError(w, http.StatusBadRequest, 10003, "Incorrect format: the request body is not valid JSON of the expected shape.")
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeAPIError(w, http.StatusBadRequest, 10003, "Incorrect format: unexpected data after the JSON body.")
		return false
	}
	return true
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) { s.writeContact(w, r, false) }
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) { s.writeContact(w, r, true) }

// writeContact serves PATCH (update or create) and POST (create only).
func (s *Server) writeContact(w http.ResponseWriter, r *http.Request, create bool) {
	var req contactRequest
	if !readJSON(w, r, &req) {
		return
	}
	var byID int64
	if req.ContactKey == "" {
		if req.ContactID == "" {
			writeAPIError(w, http.StatusBadRequest, 10002, "Missing required field: contactKey or contactID.")
			return
		}
		id, err := strconv.ParseInt(req.ContactID.String(), 10, 64)
		if err != nil || id < 1 {
			writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for contactID.")
			return
		}
		byID = id
	}

	values, problems := s.validate(req.AttributeSets)
	if s.cfg.unknownAttr400 && namesUnknown(problems) {
		writeJSON(w, http.StatusBadRequest, struct {
			ResultMessages []badRequestMessage `json:"resultMessages"`
		}{badRequestMessages(problems)})
		return
	}
	resp := contactResponse{
		ContactKey:              req.ContactKey,
		RequestServiceMessageID: s.ids.uuid(),
		ServiceMessageID:        s.ids.uuid(),
		ResultMessages:          problems,
	}
	if len(problems) == 0 {
		now := time.Now()
		s.mu.Lock()
		c := s.contacts[req.ContactKey]
		if byID != 0 {
			c = s.byID[byID]
		}
		switch {
		case create && c != nil:
			problems = append(problems, validationError(ResultContactKeyExists,
				fmt.Sprintf("Contact key '%s' already exists.", c.key)))
		case c == nil && byID != 0:
			problems = append(problems, validationError(ResultContactNotFound,
				fmt.Sprintf("Contact with ID %d does not exist.", byID)))
		default:
			if c == nil {
				s.nextID++
				c = &contactRec{key: req.ContactKey, id: s.nextID, created: now, sets: map[string]map[string]any{}}
				s.contacts[c.key] = c
				s.byID[c.id] = c
				resp.IsNewContactKey = true
			}
			for set, vals := range values {
				dst := c.sets[set]
				if dst == nil {
					dst = make(map[string]any, len(vals))
					c.sets[set] = dst
				}
				for k, v := range vals {
					dst[k] = v
				}
			}
			resp.ContactKey = c.key
			resp.ContactID = c.id
		}
		s.mu.Unlock()
		resp.ResultMessages = problems
	}
	resp.ResponseDateTime = time.Now().Format(responseTimeLayout)
	if len(problems) > 0 {
		resp.OperationStatus = "FAIL"
		resp.HasErrors = true
		resp.IsNewContactKey = false
	} else {
		s.stats.writes.Add(1)
		resp.OperationStatus = "OK"
		resp.RowsAffected = 1
		resp.ResultMessages = []ResultMessage{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// validate checks the attribute sets of a contact request against the
// definitions and returns the values per set, or every problem found.
func (s *Server) validate(sets []wireAttrSet) (map[string]map[string]any, []ResultMessage) {
	var problems []ResultMessage
	values := make(map[string]map[string]any, len(sets))
	s.defMu.RLock()
	defer s.defMu.RUnlock()
	for _, set := range sets {
		def := s.cat.byName[set.Name]
		if def == nil {
			problems = append(problems, validationError(ResultAttributeSetNotFound,
				fmt.Sprintf("Attribute set '%s' does not exist.", set.Name)))
			continue
		}
		vals := values[set.Name]
		if vals == nil {
			vals = map[string]any{}
			values[set.Name] = vals
		}
		for _, item := range set.Items {
			for _, v := range item.Values {
				a := def.byName[v.Name]
				if a == nil {
					problems = append(problems, validationError(ResultAttributeNotFound,
						fmt.Sprintf("Attribute '%s' does not exist in attribute set '%s'.", v.Name, set.Name)))
					continue
				}
				if p, ok := checkValue(set.Name, a, v.Value); !ok {
					problems = append(problems, p)
					continue
				}
				vals[v.Name] = v.Value
			}
		}
	}
	return values, problems
}

// checkValue validates one value against its attribute definition, as
// the package documentation lists: the tenant refuses a value of the wrong
// type with ResultInvalidValue and a text longer than Length with
// ResultValueTooLong.
func checkValue(set string, a *attrDef, v any) (ResultMessage, bool) {
	if v == nil {
		return ResultMessage{}, true
	}
	invalid := func(want string) (ResultMessage, bool) {
		return validationError(ResultInvalidValue,
			fmt.Sprintf("Value for attribute '%s' in attribute set '%s' is not a valid %s.", a.Name, set, want)), false
	}
	var text string
	switch v := v.(type) {
	case string:
		text = v
	case json.Number:
		text = v.String()
	case bool:
		text = strconv.FormatBool(v)
	default:
		return invalid("value")
	}
	_, isBool := v.(bool)
	_, isString := v.(string)
	switch strings.ToLower(a.DataType) {
	case "number":
		if isBool || !wholeIn(text, math.MinInt32, math.MaxInt32) {
			return invalid("whole number (Number)")
		}
		return ResultMessage{}, true
	case "longnumber":
		if isBool || !wholeIn(text, math.MinInt64, math.MaxInt64) {
			return invalid("whole number (LongNumber)")
		}
		return ResultMessage{}, true
	case "byte":
		if isBool || !wholeIn(text, 0, 255) {
			return invalid("whole number from 0 to 255 (Byte)")
		}
		return ResultMessage{}, true
	case "decimal":
		if isBool || !decimalFits(text, a.Length, a.Scale) {
			return invalid(fmt.Sprintf("number (Decimal(%d,%d))", a.Length, a.Scale))
		}
		return ResultMessage{}, true
	case "boolean":
		if !isBool && !strings.EqualFold(text, "true") && !strings.EqualFold(text, "false") && text != "1" && text != "0" {
			return invalid("boolean")
		}
		return ResultMessage{}, true
	case "date":
		if !isString || !isDate(text) {
			return invalid("date")
		}
		return ResultMessage{}, true
	case "emailaddress":
		if !isString || !isEmail(text) {
			return invalid("email address")
		}
	case "phone":
		if isBool || !isPhone(text) {
			return invalid("phone number")
		}
	}
	if a.Length > 0 && utf8.RuneCountInString(text) > a.Length {
		return validationError(ResultValueTooLong,
			fmt.Sprintf("Value for attribute '%s' in attribute set '%s' is longer than its maximum length of %d.",
				a.Name, set, a.Length)), false
	}
	return ResultMessage{}, true
}

// wholeIn reports whether s is a whole number in digits (optional '-')
// within [lo, hi].
func wholeIn(s string, lo, hi int64) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || strings.Trim(d, "0123456789") != "" {
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n >= lo && n <= hi
}

// decimalFits reports whether s is a number with at most scale digits after
// the point and precision-scale before it (no limit when precision <= 0).
func decimalFits(s string, precision, scale int) bool {
	if !jsonNumber.MatchString(s) {
		return false
	}
	if precision <= 0 {
		return true
	}
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(s, "-")), "e")
	e := 0
	if exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil || n > 1000 || n < -1000 {
			return false
		}
		e = n
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return false
	}
	r.Mul(r, new(big.Rat).SetFrac(pow10(max(e, 0)), pow10(max(-e, 0))))
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(max(scale, 0))))
	if !scaled.IsInt() {
		return false
	}
	whole := new(big.Int).Quo(r.Num(), r.Denom())
	return whole.Sign() == 0 || len(whole.String()) <= precision-max(scale, 0)
}

// jsonNumber is JSON's number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// dateLayouts are the Date formats the simulated tenant reads.
var dateLayouts = []string{
	"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04",
	"1/2/2006", "1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM",
}

func isDate(s string) bool {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Year() >= 1753 && t.Year() <= 9999
		}
	}
	return false
}

// isEmail reports whether s is one plain address with a dotted domain.
func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 {
		return false
	}
	d := s[strings.LastIndexByte(s, '@')+1:]
	return strings.Contains(d, ".") && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".")
}

// isPhone reports whether s holds 1 to 15 digits with optional spaces,
// ( ) - . and a leading +.
func isPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, strings.ContainsRune(" ()-.", r):
		default:
			return false
		}
	}
	return digits >= 1 && digits <= 15
}
