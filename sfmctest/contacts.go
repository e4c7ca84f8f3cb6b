package sfmctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// checkValue validates one value against its attribute definition.
func checkValue(set string, a *attrDef, v any) (ResultMessage, bool) {
	if v == nil {
		return ResultMessage{}, true
	}
	invalid := func(want string) (ResultMessage, bool) {
		return validationError(ResultInvalidValue,
			fmt.Sprintf("Value for attribute '%s' in attribute set '%s' is not a valid %s.", a.Name, set, want)), false
	}
	switch strings.ToLower(a.DataType) {
	case "number", "decimal", "longnumber", "integer":
		switch v := v.(type) {
		case json.Number:
			return ResultMessage{}, true
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return ResultMessage{}, true
			}
		}
		return invalid("number")
	case "boolean":
		switch v := v.(type) {
		case bool:
			return ResultMessage{}, true
		case string:
			if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
				return ResultMessage{}, true
			}
		}
		return invalid("boolean")
	case "date":
		if _, ok := v.(string); !ok {
			return invalid("date")
		}
		return ResultMessage{}, true
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
		return invalid("text value")
	}
	if a.Length > 0 && utf8.RuneCountInString(text) > a.Length {
		return validationError(ResultValueTooLong,
			fmt.Sprintf("Value for attribute '%s' in attribute set '%s' is longer than its maximum length of %d.",
				a.Name, set, a.Length)), false
	}
	return ResultMessage{}, true
}
