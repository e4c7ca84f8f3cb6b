package sfmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Mapping is a mapping file (see the README): how a profile record becomes a
// contact. It mirrors the destination's mapping and scheduling steps.
//
//	{
//	  "identity": "identityMap.contactKey",
//	  "attributes": [{"source": "person.name.firstName", "target": "Email Demographics.First Name"},
//	                 {"source": "personalEmail.address", "target": "Email Addresses.Email Address"}],
//	  "constants": {"Email Addresses.HTML Enabled": true},
//	  "segments": [{"id": "seg-1", "mappingId": "salesforce_mc_segment_1"}]
//	}
type Mapping struct {
	// Identity is the dot path of the contact key in a profile.
	Identity string `json:"identity"`
	// Attributes map profile fields to attribute targets.
	Attributes []AttributeMapping `json:"attributes"`
	// Constants give targets ("Set.Attribute") a value that is the same
	// for every contact: a string, a bool or a number (json.Number when
	// read by LoadMapping). The usual one is
	// {"Email Addresses.HTML Enabled": true}, which SFMC's contact-creation
	// documentation requires with the email address. Constant targets are
	// validated like attribute targets, and their values like mapped
	// values (CheckValue); a target is either mapped or constant.
	Constants map[string]any `json:"constants,omitempty"`
	// Segments map segment ids to Mapping IDs.
	Segments []SegmentMapping `json:"segments"`
}

// AttributeMapping maps the profile field at the dot path Source to the
// attribute Target ("Set.Attribute").
type AttributeMapping struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// LoadMapping decodes a mapping file. Unknown fields, trailing data, an
// empty identity, entries with an empty source, target, id or mappingId,
// and a constant with an empty target are errors (matching
// ErrInvalidMapping for the latter). Constant numbers are kept as
// json.Number, exactly as written.
func LoadMapping(r io.Reader) (*Mapping, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sfmc: reading mapping: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("sfmc: reading mapping: unexpected data after the mapping object")
	}
	var p problems
	if strings.TrimSpace(m.Identity) == "" {
		p.addf("identity is empty: set it to the dot path of the contact key, e.g. %q", "identityMap.contactKey")
	}
	for i, a := range m.Attributes {
		if a.Source == "" || a.Target == "" {
			p.addf("attributes[%d] (source %q, target %q): source and target must both be set", i, a.Source, a.Target)
		}
	}
	for i, s := range m.Segments {
		if s.SegmentID == "" || s.MappingID == "" {
			p.addf("segments[%d] (id %q, mappingId %q): id and mappingId must both be set", i, s.SegmentID, s.MappingID)
		}
	}
	if _, ok := m.Constants[""]; ok {
		p.addf("constants: an entry has an empty target: name it as \"Set.Attribute\", e.g. %q", htmlEnabledTarget)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ReadMappingFile reads and decodes the mapping file at path (see
// LoadMapping).
func ReadMappingFile(path string) (*Mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sfmc: %w", err)
	}
	defer f.Close()
	m, err := LoadMapping(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// emailTarget is the target of the email address.
const emailTarget = SetEmailAddresses + "." + AttrEmailAddress

// htmlEnabledTarget is the target of the HTML Enabled flag.
const htmlEnabledTarget = SetEmailAddresses + "." + AttrHTMLEnabled

// constantTargets returns the constant targets, sorted.
func (m *Mapping) constantTargets() []string {
	out := make([]string, 0, len(m.Constants))
	for t := range m.Constants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Validate checks the mapping against cat and returns every problem at once
// as a *ValidationError (nil when none): the identity is set, the targets
// of attributes and constants exist and may be written (ValidateTargets;
// a target is mapped or constant, not both), an Email Addresses.Email
// Address target is mapped from the profile (SFMC requires the email
// address; it cannot be a constant), every constant value fits its target
// (CheckValue), the segment mappings are valid (ValidateMappings), and no
// Mapping ID is also an attribute target. Warnings that do not stop a run
// are reported by Warnings.
func (m *Mapping) Validate(cat *Catalog) error {
	var p problems
	if strings.TrimSpace(m.Identity) == "" {
		p.addf("identity is empty: set it to the dot path of the contact key, e.g. %q", "identityMap.contactKey")
	}
	consts := m.constantTargets()
	targets := make([]string, 0, len(m.Attributes)+len(consts))
	hasEmail := false
	for _, a := range m.Attributes {
		targets = append(targets, a.Target)
		if a.Target == emailTarget {
			hasEmail = true
		}
		if a.Source == "" && a.Target != "" {
			p.addf("target %q has an empty source: set the dot path of the profile field", a.Target)
		}
	}
	targets = append(targets, consts...)
	validateTargets(&p, cat, targets)
	for _, t := range consts {
		v := m.Constants[t]
		switch {
		case t == "":
			continue // reported by validateTargets
		case t == emailTarget:
			p.addf("constants: %q cannot be a constant: map it from the profile field holding each contact's address", t)
			continue
		case v == nil:
			p.addf("constants: %q is null: give it a string, number or bool, or remove it", t)
			continue
		}
		if err := checkValue(v); err != nil {
			p.addf("constants: %q: %v: give it a string, number or bool", t, err)
			continue
		}
		if a, ok := cat.Lookup(t); ok {
			if err := CheckValue(a, v); err != nil {
				p.addf("constants: %q: %s", t, strings.TrimPrefix(err.Error(), "sfmc: "))
			}
		}
	}
	if !hasEmail {
		p.addf("no attribute is mapped to %q: map the profile's email address to it (SFMC requires it)", emailTarget)
	}
	sms := m.Segments
	validateMappings(&p, cat, sms)
	for _, sm := range sms {
		if sm.MappingID == "" {
			continue
		}
		t := SetEmailDemographics + "." + sm.MappingID
		for _, a := range m.Attributes {
			if a.Target == t {
				p.addf("Mapping ID %q (segment %q) is also the target of source %q: use a separate attribute for segment statuses", sm.MappingID, sm.SegmentID, a.Source)
				break
			}
		}
		if _, ok := m.Constants[t]; ok {
			p.addf("Mapping ID %q (segment %q) is also a constant target: use a separate attribute for segment statuses", sm.MappingID, sm.SegmentID)
		}
	}
	return p.err()
}

// Limits on the profile attributes of Email Demographics.
const (
	// ProfileAttributeLimit is the most attributes SFMC allows in Email
	// Demographics (the destination's profile attributes).
	ProfileAttributeLimit = 200
	// ProfileAttributeWarnAt is the attribute count of Email Demographics
	// from which Mapping.Warnings warns that the limit is near.
	ProfileAttributeWarnAt = 190
)

// Warnings returns what deserves attention in a mapping that may be valid,
// one sentence per warning (nil when none); unlike Validate's problems they
// do not stop a run. It warns when Email Addresses.Email Address is mapped
// without Email Addresses.HTML Enabled (SFMC's contact-creation
// documentation requires both: add "constants":
// {"Email Addresses.HTML Enabled": true}), and when cat's Email
// Demographics holds ProfileAttributeWarnAt (190) or more attributes, near
// SFMC's limit of ProfileAttributeLimit (200).
func (m *Mapping) Warnings(cat *Catalog) []string {
	var w []string
	mapped := func(t string) bool {
		if _, ok := m.Constants[t]; ok {
			return true
		}
		for _, a := range m.Attributes {
			if a.Target == t {
				return true
			}
		}
		return false
	}
	if mapped(emailTarget) && !mapped(htmlEnabledTarget) {
		w = append(w, fmt.Sprintf("%q is mapped without %q: SFMC's contact-creation documentation requires both; add \"constants\": {%q: true} to the mapping (or map a profile field to it)",
			emailTarget, htmlEnabledTarget, htmlEnabledTarget))
	}
	if cat != nil {
		if s, ok := cat.Set(SetEmailDemographics); ok {
			n := 0
			for _, a := range s.Attributes {
				if a != nil {
					n++
				}
			}
			if n >= ProfileAttributeWarnAt {
				w = append(w, fmt.Sprintf("attribute set %q holds %d attributes; SFMC allows at most %d there, so only %d more can be added (new Mapping IDs included)",
					SetEmailDemographics, n, ProfileAttributeLimit, max(ProfileAttributeLimit-n, 0)))
			}
		}
	}
	return w
}

// compiledAttr is one attribute mapping ready to apply.
type compiledAttr struct {
	source string
	path   []string
	set    string
	name   string
	def    AttributeDefinition // a copy: the catalog may change later
	email  bool                // the target is Email Addresses.Email Address
}

// ProfileMapper maps decoded profile records to contacts. It is read-only
// after Compile and safe for concurrent use.
type ProfileMapper struct {
	identity     string
	identityPath []string
	attrs        []compiledAttr
	constants    []AttributeValue
	segments     *SegmentMapper
	segmentIDs   []string
}

// Compile validates the mapping against cat (see Validate) and returns a
// mapper that knows the target definitions (data types and lengths).
func (m *Mapping) Compile(cat *Catalog) (*ProfileMapper, error) {
	if err := m.Validate(cat); err != nil {
		return nil, err
	}
	sm, err := NewSegmentMapper(m.Segments)
	if err != nil {
		return nil, err
	}
	pm := &ProfileMapper{identity: m.Identity, identityPath: strings.Split(m.Identity, "."), segments: sm}
	for _, a := range m.Attributes {
		set, name, _ := cat.splitTarget(a.Target)
		pm.attrs = append(pm.attrs, compiledAttr{
			source: a.Source, path: strings.Split(a.Source, "."),
			set: set.Name, name: name, def: *cat.attrs[set][name], email: a.Target == emailTarget,
		})
	}
	for _, t := range m.constantTargets() {
		set, name, _ := cat.splitTarget(t)
		pm.constants = append(pm.constants, AttributeValue{Set: set.Name, Name: name, Value: m.Constants[t]})
	}
	for _, s := range m.Segments {
		pm.segmentIDs = append(pm.segmentIDs, s.SegmentID)
	}
	return pm, nil
}

// ErrMissingIdentity matches a *RecordError for a profile without contact
// key.
var ErrMissingIdentity = errors.New("sfmc: profile has no contact key")

// ErrValueTooLong matches a *RecordError for a value whose text is longer
// than its target attribute's Length: a string, and also a number or bool
// going into a Text attribute (1e308 does not fit a Text(4)).
var ErrValueTooLong = errors.New("sfmc: value longer than the target attribute")

// ErrMissingEmail matches a *RecordError for a profile whose mapped email
// address (the source mapped to Email Addresses.Email Address) is missing,
// null or empty: the destination makes the email address mandatory.
var ErrMissingEmail = errors.New("sfmc: profile has no email address")

// RecordError is a problem with one profile record; the other records can
// go on. Field is the source path (or segment status path), Target the
// attribute target when there is one.
type RecordError struct {
	Field  string
	Target string
	Err    error
}

// Error returns one readable line naming the field and target.
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString("sfmc: field ")
	b.WriteString(strconv.Quote(e.Field))
	if e.Target != "" {
		b.WriteString(" (target ")
		b.WriteString(strconv.Quote(e.Target))
		b.WriteByte(')')
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "sfmc: "))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// Map turns one decoded profile (from encoding/json, with or without
// UseNumber) into a contact and the statuses of its mapped segments.
//
// Sources are dot paths; an array of {"id", "primary"} objects yields the
// primary id, else the first. Missing or null sources are skipped, not
// written as empty. Strings, bools and numbers (float64 or json.Number)
// are written as they are, never converted. Each value is checked against
// its target's data type and length (CheckValue) before anything is sent.
// The contact holds the mapped values in mapping order, then the
// constants (sorted by target), then the segment statuses.
//
// A *RecordError naming the field (source path), the target, the value
// and the type is returned for: a missing or empty identity
// (ErrMissingIdentity), a missing, null or empty mapped email address
// (ErrMissingEmail), a value that does not fit its target (ErrValueTooLong,
// ErrInvalidValue), an unsupported value (object, other array) and an
// unknown segment status. Segment statuses are read from
// segmentMembership.ups.<segment id>.status for mapped segments only, and
// the contact includes their Mapping ID attributes.
func (pm *ProfileMapper) Map(profile map[string]any) (Contact, map[string]SegmentStatus, error) {
	var c Contact
	raw, ok := lookupPath(profile, pm.identityPath)
	if !ok {
		return c, nil, &RecordError{Field: pm.identity, Err: ErrMissingIdentity}
	}
	key, err := identityString(raw)
	if err != nil {
		return c, nil, &RecordError{Field: pm.identity, Err: err}
	}
	if key == "" {
		return c, nil, &RecordError{Field: pm.identity, Err: ErrMissingIdentity}
	}
	c.Key = key

	var statuses map[string]SegmentStatus
	if len(pm.segmentIDs) > 0 {
		ups, _ := lookupPath(profile, []string{"segmentMembership", "ups"})
		upsMap, _ := ups.(map[string]any)
		for _, id := range pm.segmentIDs {
			entry, ok := upsMap[id].(map[string]any)
			if !ok {
				continue
			}
			rawStatus, ok := entry["status"]
			if !ok || rawStatus == nil {
				continue
			}
			field := "segmentMembership.ups." + id + ".status"
			s, isString := rawStatus.(string)
			if !isString {
				return Contact{}, nil, &RecordError{Field: field, Err: fmt.Errorf("segment status is a %s, want a string", jsonKind(rawStatus))}
			}
			st, err := ParseSegmentStatus(s)
			if err != nil {
				return Contact{}, nil, &RecordError{Field: field, Err: err}
			}
			if statuses == nil {
				statuses = make(map[string]SegmentStatus, len(pm.segmentIDs))
			}
			statuses[id] = st
		}
	}
	segAttrs := pm.segments.Attributes(statuses)

	c.Attributes = make([]AttributeValue, 0, len(pm.attrs)+len(pm.constants)+len(segAttrs))
	for i := range pm.attrs {
		a := &pm.attrs[i]
		val, err := a.value(profile)
		if err != nil {
			return Contact{}, nil, &RecordError{Field: a.source, Target: a.set + "." + a.name, Err: err}
		}
		if val != nil {
			c.Attributes = append(c.Attributes, AttributeValue{Set: a.set, Name: a.name, Value: val})
		}
	}
	c.Attributes = append(c.Attributes, pm.constants...)
	c.Attributes = append(c.Attributes, segAttrs...)
	return c, statuses, nil
}

// value returns the checked value of a in profile, nil when the profile
// has none (missing or null) and the target is not the email address.
func (a *compiledAttr) value(profile map[string]any) (any, error) {
	var val any
	if v, ok := lookupPath(profile, a.path); ok && v != nil {
		var err error
		if val, err = attributeValue(v); err != nil {
			return nil, err
		}
	}
	if a.email {
		if s, isString := val.(string); val == nil || isString && s == "" {
			return nil, ErrMissingEmail
		}
	}
	if val == nil {
		return nil, nil
	}
	if err := CheckValue(&a.def, val); err != nil {
		return nil, err
	}
	return val, nil
}

// lookupPath follows a dot path through nested objects.
func lookupPath(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// identityID returns the primary (else first) id of an array of
// {"id", "primary"} objects; ok is false when v is not such an array.
func identityID(v []any) (id any, ok bool) {
	var first any
	found := false
	for _, e := range v {
		m, isMap := e.(map[string]any)
		if !isMap {
			return nil, false
		}
		idv, has := m["id"]
		if !has {
			continue
		}
		if !found {
			first, found = idv, true
		}
		if p, _ := m["primary"].(bool); p {
			return idv, true
		}
	}
	if !found {
		return nil, len(v) == 0
	}
	return first, true
}

// identityString returns the contact key held by v (a string, a number, or
// an array of {"id", "primary"} objects), exactly as it is: a string with
// leading or trailing whitespace is an error matching ErrKeyWhitespace,
// never trimmed.
func identityString(v any) (string, error) {
	if arr, ok := v.([]any); ok {
		id, ok := identityID(arr)
		if !ok {
			return "", errors.New("identity is an array but not of {\"id\", \"primary\"} objects")
		}
		v = id
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		if err := checkKeyWhitespace(x); err != nil {
			return "", err
		}
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("identity is a %s, want a string", jsonKind(v))
}

// attributeValue converts a decoded JSON value to an attribute value; nil
// means skip.
func attributeValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, json.Number:
		return x, nil
	case float64:
		return x, checkFloat(x)
	case []any:
		id, ok := identityID(x)
		if !ok {
			return nil, errors.New("value is an array: map a field holding a string, number or bool")
		}
		if id == nil {
			return nil, nil
		}
		return attributeValue(id)
	}
	if v == nil {
		return nil, nil
	}
	if err := checkValue(v); err != nil {
		return nil, fmt.Errorf("value is a %s: map a field holding a string, number or bool", jsonKind(v))
	}
	return v, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, json.Number:
		return "number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// DecodeProfile decodes one JSON profile line with numbers kept as
// json.Number (no precision loss for long ids).
//
// Text is never altered: invalid UTF-8 anywhere in the line (field names
// and values, at any depth), and a \u escape of half a UTF-16 surrogate
// pair, are a *RecordError matching ErrInvalidUTF8 whose Field is the path
// of the string holding it (for example identityMap.contactKey[0].id),
// where encoding/json alone would replace them by U+FFFD.
func DecodeProfile(line []byte) (map[string]any, error) {
	if err := checkProfileText(line); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("profile is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the profile object")
	}
	return m, nil
}
