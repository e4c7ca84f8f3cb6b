package sfmctest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type href struct {
	Href string `json:"href"`
}

type definitionsPage struct {
	Page                    int             `json:"page"`
	PageSize                int             `json:"pageSize"`
	Count                   int             `json:"count"`
	Items                   []wireSet       `json:"items"`
	Links                   map[string]href `json:"links"`
	RequestServiceMessageID string          `json:"requestServiceMessageID"`
	ResultMessages          []struct{}      `json:"resultMessages"`
	ServiceMessageID        string          `json:"serviceMessageID"`
}

// queryInt reads a positive integer query parameter, matching its name
// case-insensitively. ok is false for a present but invalid value.
func queryInt(q url.Values, name string, def int) (n int, ok bool) {
	for k, vs := range q {
		if !strings.EqualFold(k, name) || len(vs) == 0 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
		if err != nil || n < 1 {
			return 0, false
		}
		return n, true
	}
	return def, true
}

// handleListDefinitions serves GET /contacts/v1/attributeSetDefinitions.
func (s *Server) handleListDefinitions(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value: the query string is malformed.")
		return
	}
	page, ok := queryInt(q, "$page", 1)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for $page: a whole number of at least 1 is required.")
		return
	}
	size, ok := queryInt(q, "$pageSize", 50)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for $pageSize: a whole number of at least 1 is required.")
		return
	}
	size = min(size, s.cfg.pageSizeCap)

	resp := definitionsPage{
		Page:                    page,
		PageSize:                size,
		Items:                   []wireSet{},
		RequestServiceMessageID: s.ids.uuid(),
		ResultMessages:          []struct{}{},
		ServiceMessageID:        s.ids.uuid(),
	}
	s.defMu.RLock()
	resp.Count = len(s.cat.sets)
	if start := (page - 1) * size; page-1 < resp.Count && start < resp.Count { // page-1 check avoids overflow
		for _, set := range s.cat.sets[start:min(start+size, resp.Count)] {
			resp.Items = append(resp.Items, set.wire(!s.cfg.listWithoutAttrs))
		}
	}
	s.defMu.RUnlock()

	link := func(p int) href {
		return href{Href: fmt.Sprintf("/v1/attributeSetDefinitions?$page=%d&$pageSize=%d", p, size)}
	}
	resp.Links = map[string]href{"self": link(page)}
	if page > 1 {
		resp.Links["prev"] = link(page - 1)
	}
	if page < (resp.Count+size-1)/size {
		resp.Links["next"] = link(page + 1)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleGetDefinition serves GET /contacts/v1/attributeSetDefinitions/{id}.
func (s *Server) handleGetDefinition(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/contacts/v1/attributeSetDefinitions/"), "/")
	s.defMu.RLock()
	set := s.cat.byID[strings.ToLower(id)]
	var item wireSet
	if set != nil {
		item = set.wire(true)
	}
	s.defMu.RUnlock()
	if set == nil {
		writeAPIError(w, http.StatusNotFound, 30003, "Attribute set definition '"+id+"' was not found.")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Item wireSet `json:"item"`
	}{item})
}

type emailSearchRequest struct {
	ChannelAddressList []string `json:"channelAddressList"`
	MaximumCount       *int     `json:"maximumCount"`
}

type contactKeyDetail struct {
	ContactKey string `json:"contactKey"`
	CreateDate string `json:"createDate"`
}

type channelAddressEntity struct {
	ContactKeyDetails []contactKeyDetail `json:"contactKeyDetails"`
	ChannelAddress    string             `json:"channelAddress"`
}

// handleEmailSearch serves POST /contacts/v1/addresses/email/search.
// encoding/json matches keys case-insensitively, so the PascalCase keys of
// the documentation work too.
func (s *Server) handleEmailSearch(w http.ResponseWriter, r *http.Request) {
	var req emailSearchRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.ChannelAddressList) == 0 {
		writeAPIError(w, http.StatusBadRequest, 10002, "Missing required field: channelAddressList.")
		return
	}
	maxCount := 1
	if req.MaximumCount != nil {
		if *req.MaximumCount < 1 {
			writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for maximumCount: at least 1 is required.")
			return
		}
		maxCount = *req.MaximumCount
	}
	type hit struct {
		key     string
		created time.Time
	}
	wanted := make(map[string][]hit, len(req.ChannelAddressList))
	for _, a := range req.ChannelAddressList {
		wanted[strings.ToLower(a)] = nil
	}
	s.mu.Lock()
	for _, c := range s.contacts {
		v, ok := c.sets["Email Addresses"]["Email Address"].(string)
		if !ok {
			continue
		}
		lv := strings.ToLower(v)
		if hits, ok := wanted[lv]; ok {
			wanted[lv] = append(hits, hit{c.key, c.created})
		}
	}
	s.mu.Unlock()

	entities := make([]channelAddressEntity, 0, len(req.ChannelAddressList))
	for _, a := range req.ChannelAddressList {
		hits := wanted[strings.ToLower(a)]
		slices.SortFunc(hits, func(x, y hit) int {
			if c := x.created.Compare(y.created); c != 0 {
				return c
			}
			return strings.Compare(x.key, y.key)
		})
		details := make([]contactKeyDetail, 0, min(len(hits), maxCount))
		for _, h := range hits[:min(len(hits), maxCount)] {
			details = append(details, contactKeyDetail{ContactKey: h.key, CreateDate: h.created.Format(createDateLayout)})
		}
		entities = append(entities, channelAddressEntity{ContactKeyDetails: details, ChannelAddress: a})
	}
	writeJSON(w, http.StatusOK, struct {
		ChannelAddressResponseEntities []channelAddressEntity `json:"channelAddressResponseEntities"`
		RequestServiceMessageID        string                 `json:"requestServiceMessageID"`
		ResultMessages                 []struct{}             `json:"resultMessages"`
		ServiceMessageID               string                 `json:"serviceMessageID"`
	}{entities, s.ids.uuid(), []struct{}{}, s.ids.uuid()})
}

type deleteRequest struct {
	Values              []any  `json:"values"`
	DeleteOperationType string `json:"deleteOperationType"`
}

type deleteOp struct {
	id        int64
	requestID string
	deleteTyp string
	count     int
	created   time.Time
}

// handleDelete serves POST /contacts/v1/contacts/actions/delete?type=keys|ids.
// Contacts are removed at once; the operation is Completed immediately.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.URL.Query().Get("type"))
	if typ != "keys" && typ != "ids" {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for type: use keys or ids.")
		return
	}
	var req deleteRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Values) == 0 {
		writeAPIError(w, http.StatusBadRequest, 10002, "Missing required field: values.")
		return
	}
	if req.DeleteOperationType == "" {
		writeAPIError(w, http.StatusBadRequest, 10002, "Missing required field: DeleteOperationType.")
		return
	}
	if !strings.EqualFold(req.DeleteOperationType, "ContactAndAttributes") {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for DeleteOperationType: only ContactAndAttributes is supported.")
		return
	}
	keys := make([]string, 0, len(req.Values))
	ids := make([]int64, 0, len(req.Values))
	for _, v := range req.Values {
		switch typ {
		case "keys":
			k, ok := v.(string)
			if !ok {
				writeAPIError(w, http.StatusBadRequest, 10001, "Invalid data type: contact keys must be strings.")
				return
			}
			keys = append(keys, k)
		default:
			id, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
			if err != nil {
				writeAPIError(w, http.StatusBadRequest, 10001, "Invalid data type: contact ids must be whole numbers.")
				return
			}
			ids = append(ids, id)
		}
	}
	op := deleteOp{requestID: s.ids.uuid(), deleteTyp: "ContactAndAttributes", created: time.Now()}
	s.mu.Lock()
	for _, id := range ids {
		if c := s.byID[id]; c != nil {
			keys = append(keys, c.key)
		}
	}
	for _, k := range keys {
		if c := s.contacts[k]; c != nil {
			delete(s.contacts, k)
			delete(s.byID, c.id)
			op.count++
		}
	}
	s.nextOp++
	op.id = s.nextOp
	s.deletes[op.id] = op
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		OperationInitiated      bool       `json:"operationInitiated"`
		OperationID             int64      `json:"operationID"`
		RequestServiceMessageID string     `json:"requestServiceMessageID"`
		ResultMessages          []struct{} `json:"resultMessages"`
		ServiceMessageID        string     `json:"serviceMessageID"`
	}{true, op.id, op.requestID, []struct{}{}, s.ids.uuid()})
}

type wireDeleteOperation struct {
	OperationID        int64  `json:"operationID"`
	OperationRequestID string `json:"operationRequestID"`
	DeleteType         string `json:"deleteType"`
	ExpectedListCount  int    `json:"expectedListCount"`
	Status             string `json:"status"`
	ScheduledTime      string `json:"scheduledTime"`
	CreatedDate        string `json:"createdDate"`
	ModifiedDate       string `json:"modifiedDate"`
	RetryCount         int    `json:"retryCount"`
}

// handleDeleteStatus serves GET /contacts/v1/contacts/actions/delete/status?operationID=n.
func (s *Server) handleDeleteStatus(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value: the query string is malformed.")
		return
	}
	n, ok := queryInt(q, "operationID", 0)
	if !ok || n == 0 {
		writeAPIError(w, http.StatusBadRequest, 10005, "Invalid value for operationID: a whole number of at least 1 is required.")
		return
	}
	s.mu.Lock()
	op, found := s.deletes[int64(n)]
	s.mu.Unlock()
	if !found {
		writeAPIError(w, http.StatusNotFound, 30003, fmt.Sprintf("Delete operation %d was not found.", n))
		return
	}
	ts := op.created.Format(createDateLayout)
	writeJSON(w, http.StatusOK, struct {
		Operation               wireDeleteOperation `json:"operation"`
		RequestServiceMessageID string              `json:"requestServiceMessageID"`
		ResponseDateTime        string              `json:"responseDateTime"`
		ResultMessages          []struct{}          `json:"resultMessages"`
		ServiceMessageID        string              `json:"serviceMessageID"`
	}{
		Operation: wireDeleteOperation{
			OperationID: op.id, OperationRequestID: op.requestID, DeleteType: op.deleteTyp,
			ExpectedListCount: op.count, Status: "Completed", ScheduledTime: ts, CreatedDate: ts, ModifiedDate: ts,
		},
		RequestServiceMessageID: s.ids.uuid(),
		ResponseDateTime:        time.Now().Format(responseTimeLayout),
		ResultMessages:          []struct{}{},
		ServiceMessageID:        s.ids.uuid(),
	})
}
