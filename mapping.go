package sfmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mapping is a mapping file (design §5): how a profile record becomes a
// contact. It mirrors the destination's mapping and scheduling steps.
//
//	{
//	  "identity": "identityMap.contactKey",
//	  "attributes": [{"source": "person.name.firstName", "target": "Email Demographics.First Name"}],
//	  "segments": [{"id": "seg-1", "mappingId": "salesforce_mc_segment_1"}]
//	}
type Mapping struct {
	// Identity is the dot path of the contact key in a profile.
	Identity string `json:"identity"`
	// Attributes map profile fields to attribute targets.
	Attributes []AttributeMapping `json:"attributes"`
	// Segments map segment ids to Mapping IDs.
	Segments []SegmentSpec `json:"segments"`
}

// AttributeMapping maps the profile field at the dot path Source to the
// attribute Target ("Set.Attribute").
type AttributeMapping struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// SegmentSpec maps the segment ID to the Email Demographics attribute
// MappingID that receives its status.
type SegmentSpec struct {
	ID        string `json:"id"`
	MappingID string `json:"mappingId"`
}

// LoadMapping decodes a mapping file. Unknown fields, trailing data, an
// empty identity, and entries with an empty source, target, id or
// mappingId are errors (matching ErrInvalidMapping for the latter).
func LoadMapping(r io.Reader) (*Mapping, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
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
		if s.ID == "" || s.MappingID == "" {
			p.addf("segments[%d] (id %q, mappingId %q): id and mappingId must both be set", i, s.ID, s.MappingID)
		}
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

// segmentMappings returns the segments as SegmentMapping values.
func (m *Mapping) segmentMappings() []SegmentMapping {
	out := make([]SegmentMapping, len(m.Segments))
	for i, s := range m.Segments {
		out[i] = SegmentMapping{SegmentID: s.ID, MappingID: s.MappingID}
	}
	return out
}

// Validate checks the mapping against cat and returns every problem at once
// as a *ValidationError (nil when none): the identity is set, the targets
// exist and are mappable (ValidateTargets), an Email Addresses.Email
// Address target is present (SFMC requires the email address), the segment
// mappings are valid (ValidateMappings), and no Mapping ID is also an
// attribute target.
func (m *Mapping) Validate(cat *Catalog) error {
	var p problems
	if strings.TrimSpace(m.Identity) == "" {
		p.addf("identity is empty: set it to the dot path of the contact key, e.g. %q", "identityMap.contactKey")
	}
	targets := make([]string, len(m.Attributes))
	hasEmail := false
	emailTarget := SetEmailAddresses + "." + AttrEmailAddress
	for i, a := range m.Attributes {
		targets[i] = a.Target
		if a.Target == emailTarget {
			hasEmail = true
		}
		if a.Source == "" && a.Target != "" {
			p.addf("target %q has an empty source: set the dot path of the profile field", a.Target)
		}
	}
	validateTargets(&p, cat, targets)
	if !hasEmail {
		p.addf("no attribute is mapped to %q: map the profile's email address to it (SFMC requires it)", emailTarget)
	}
	sms := m.segmentMappings()
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
	}
	return p.err()
}

// compiledAttr is one attribute mapping ready to apply.
type compiledAttr struct {
	source string
	path   []string
	set    string
	name   string
	length int
}

// ProfileMapper maps decoded profile records to contacts. It is read-only
// after Compile and safe for concurrent use.
type ProfileMapper struct {
	identity     string
	identityPath []string
	attrs        []compiledAttr
	segments     *SegmentMapper
	segmentIDs   []string
}

// Compile validates the mapping against cat (see Validate) and returns a
// mapper that knows the target lengths.
func (m *Mapping) Compile(cat *Catalog) (*ProfileMapper, error) {
	if err := m.Validate(cat); err != nil {
		return nil, err
	}
	sm, err := NewSegmentMapper(m.segmentMappings())
	if err != nil {
		return nil, err
	}
	pm := &ProfileMapper{identity: m.Identity, identityPath: strings.Split(m.Identity, "."), segments: sm}
	for _, a := range m.Attributes {
		set, name, _ := cat.splitTarget(a.Target)
		def := cat.attrs[set][name]
		pm.attrs = append(pm.attrs, compiledAttr{
			source: a.Source, path: strings.Split(a.Source, "."),
			set: set.Name, name: name, length: def.Length,
		})
	}
	for _, s := range m.Segments {
		pm.segmentIDs = append(pm.segmentIDs, s.ID)
	}
	return pm, nil
}

// ErrMissingIdentity matches a *RecordError for a profile without contact
// key.
var ErrMissingIdentity = errors.New("sfmc: profile has no contact key")

// ErrValueTooLong matches a *RecordError for a text value longer than its
// target attribute.
var ErrValueTooLong = errors.New("sfmc: value longer than the target attribute")

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
// are written as such. A string longer than its target's length, a
// missing or empty identity, an unsupported value (object, other array)
// or an unknown segment status is a *RecordError. Segment statuses are
// read from segmentMembership.ups.<segment id>.status for mapped segments
// only, and the contact includes their Mapping ID attributes.
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

	c.Attributes = make([]AttributeValue, 0, len(pm.attrs)+len(segAttrs))
	for i := range pm.attrs {
		a := &pm.attrs[i]
		v, ok := lookupPath(profile, a.path)
		if !ok || v == nil {
			continue
		}
		val, err := attributeValue(v)
		if err != nil {
			return Contact{}, nil, &RecordError{Field: a.source, Target: a.set + "." + a.name, Err: err}
		}
		if val == nil {
			continue
		}
		if s, isString := val.(string); isString && a.length > 0 {
			if n := utf8.RuneCountInString(s); n > a.length {
				return Contact{}, nil, &RecordError{Field: a.source, Target: a.set + "." + a.name,
					Err: fmt.Errorf("%w: %d characters, the attribute holds %d", ErrValueTooLong, n, a.length)}
			}
		}
		c.Attributes = append(c.Attributes, AttributeValue{Set: a.set, Name: a.name, Value: val})
	}
	c.Attributes = append(c.Attributes, segAttrs...)
	return c, statuses, nil
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
