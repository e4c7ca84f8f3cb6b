package sfmc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SegmentStatus is a profile's status in a segment, written as text into the
// segment's Mapping ID attribute.
type SegmentStatus string

// Segment statuses, as Adobe Experience Platform reports them.
const (
	// StatusRealized: the profile entered the segment.
	StatusRealized SegmentStatus = "realized"
	// StatusExisting: the profile stays in the segment.
	StatusExisting SegmentStatus = "existing"
	// StatusExited: the profile left the segment.
	StatusExited SegmentStatus = "exited"
)

// minStatusLength is the length a Mapping ID attribute needs to hold every
// status ("realized" and "existing" have 8 characters).
const minStatusLength = 8

// rank orders statuses by strength: realized > existing > exited.
func (s SegmentStatus) rank() int {
	switch s {
	case StatusRealized:
		return 3
	case StatusExisting:
		return 2
	case StatusExited:
		return 1
	}
	return 0
}

// ParseSegmentStatus returns the status named s: exactly "realized",
// "existing" or "exited". Any other value is an error naming it.
func ParseSegmentStatus(s string) (SegmentStatus, error) {
	switch st := SegmentStatus(s); st {
	case StatusRealized, StatusExisting, StatusExited:
		return st, nil
	}
	return "", fmt.Errorf("sfmc: unknown segment status %q (want realized, existing or exited)", s)
}

// SegmentMapping maps a segment to the Email Demographics attribute (its
// Mapping ID) that receives the segment status.
//
// In a mapping file (Mapping.Segments) it is {"id": ..., "mappingId": ...}.
type SegmentMapping struct {
	SegmentID string `json:"id"`
	MappingID string `json:"mappingId"`
}

// SegmentMapper turns segment memberships into attribute values. It is
// read-only after NewSegmentMapper and safe for concurrent use.
type SegmentMapper struct {
	mappings   []SegmentMapping
	mappingIDs []string       // distinct Mapping IDs, in order of first appearance
	slot       map[string]int // segment ID -> index in mappingIDs
}

// NewSegmentMapper checks mappings (no empty ids, no segment mapped twice)
// and returns a mapper for them. Several segments may share a Mapping ID.
func NewSegmentMapper(mappings []SegmentMapping) (*SegmentMapper, error) {
	m := &SegmentMapper{mappings: append([]SegmentMapping(nil), mappings...), slot: make(map[string]int, len(mappings))}
	var problems []error
	idSlot := make(map[string]int)
	for i, sm := range mappings {
		if sm.SegmentID == "" || sm.MappingID == "" {
			problems = append(problems, fmt.Errorf("segment mapping %d (segment %q, Mapping ID %q): segment id and Mapping ID must both be set", i, sm.SegmentID, sm.MappingID))
			continue
		}
		if _, dup := m.slot[sm.SegmentID]; dup {
			problems = append(problems, fmt.Errorf("segment %q is mapped more than once; map each segment to one Mapping ID", sm.SegmentID))
			continue
		}
		k, ok := idSlot[sm.MappingID]
		if !ok {
			k = len(m.mappingIDs)
			idSlot[sm.MappingID] = k
			m.mappingIDs = append(m.mappingIDs, sm.MappingID)
		}
		m.slot[sm.SegmentID] = k
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMapping, errors.Join(problems...))
	}
	return m, nil
}

// Mappings returns the mappings the mapper was built from.
func (m *SegmentMapper) Mappings() []SegmentMapping {
	return append([]SegmentMapping(nil), m.mappings...)
}

// Attributes returns the Email Demographics values for memberships
// (segment ID → status): for each Mapping ID, the status as text. Segments
// that are not mapped, and invalid statuses, are ignored. When several
// segments share a Mapping ID the strongest status is written (realized >
// existing > exited). Values come in the order of the mappings.
func (m *SegmentMapper) Attributes(memberships map[string]SegmentStatus) []AttributeValue {
	if len(memberships) == 0 || len(m.mappingIDs) == 0 {
		return nil
	}
	var small [8]SegmentStatus
	var best []SegmentStatus
	if len(m.mappingIDs) <= len(small) {
		best = small[:len(m.mappingIDs)]
	} else {
		best = make([]SegmentStatus, len(m.mappingIDs))
	}
	n := 0
	for seg, st := range memberships {
		k, ok := m.slot[seg]
		if !ok || st.rank() == 0 {
			continue
		}
		if best[k] == "" {
			n++
		}
		if st.rank() > best[k].rank() {
			best[k] = st
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]AttributeValue, 0, n)
	for k, st := range best {
		if st != "" {
			out = append(out, AttributeValue{Set: SetEmailDemographics, Name: m.mappingIDs[k], Value: string(st)})
		}
	}
	return out
}

// ErrInvalidMapping matches every error the mapping and segment validators
// return (ValidateMappings, ValidateTargets, LoadMapping, Mapping.Validate,
// NewSegmentMapper).
var ErrInvalidMapping = errors.New("sfmc: invalid mapping")

// ValidationError lists every problem a validator found; it matches
// ErrInvalidMapping. Each problem names the Mapping ID or target and says
// what to do.
type ValidationError struct {
	Problems []string
}

// Error returns "sfmc: invalid mapping: N problem(s):" followed by one
// problem per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("sfmc: invalid mapping: ")
	b.WriteString(strconv.Itoa(len(e.Problems)))
	if len(e.Problems) == 1 {
		b.WriteString(" problem:")
	} else {
		b.WriteString(" problems:")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}

// Is reports whether target is ErrInvalidMapping.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidMapping }

// problems collects validation problems.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// missingHint completes a "does not exist" problem: a case/spelling hint
// and, for a truncated catalog, the advice to read every page.
func missingHint(cat *Catalog, full string) string {
	var b strings.Builder
	if nm := cat.NearMisses(full); len(nm) > 0 {
		b.WriteString("; did you mean ")
		for i, n := range nm {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(strconv.Quote(n))
		}
		b.WriteString("? (names match exactly, case-sensitive)")
	}
	if cat.Truncated {
		b.WriteString("; the attribute catalog holds only the first page of attribute sets, so it may be on a later page: read all pages (AttributeSetsService.Catalog, or --all)")
	}
	return b.String()
}

// ValidateMappings checks segment mappings against cat before any contact
// is sent: ids are set, no segment is mapped twice, and each Mapping ID is
// a Text attribute of Email Demographics (exact name) that a contact write
// may set (not a primary key, hidden or read-only) and long enough for
// "realized"/"existing" (8 characters; a Text attribute of length -1 or
// without length is taken as unlimited). It returns every problem at once as a
// *ValidationError, or nil.
func ValidateMappings(cat *Catalog, mappings []SegmentMapping) error {
	var p problems
	validateMappings(&p, cat, mappings)
	return p.err()
}

func validateMappings(p *problems, cat *Catalog, mappings []SegmentMapping) {
	seen := make(map[string]bool)
	checked := make(map[string]bool)
	for i, sm := range mappings {
		if sm.SegmentID == "" {
			p.addf("segment mapping %d (Mapping ID %q) has no segment id: set the segment id", i, sm.MappingID)
			continue
		}
		if sm.MappingID == "" {
			p.addf("segment %q has no Mapping ID: set it to the name of a Text attribute in Email Demographics", sm.SegmentID)
			continue
		}
		if seen[sm.SegmentID] {
			p.addf("segment %q is mapped more than once: map each segment to one Mapping ID", sm.SegmentID)
			continue
		}
		seen[sm.SegmentID] = true
		if checked[sm.MappingID] {
			continue
		}
		checked[sm.MappingID] = true
		full := SetEmailDemographics + "." + sm.MappingID
		a, ok := cat.Lookup(full)
		if !ok {
			p.addf("Mapping ID %q (segment %q) does not exist in attribute set %q: create a Text attribute named %q of length %d or more in Contact Builder under %s%s",
				sm.MappingID, sm.SegmentID, SetEmailDemographics, sm.MappingID, minStatusLength, SetEmailDemographics, missingHint(cat, full))
			continue
		}
		if !strings.EqualFold(a.DataType, "Text") {
			p.addf("Mapping ID %q (segment %q) is a %s attribute, but segment statuses are text: use a Text attribute in %s",
				sm.MappingID, sm.SegmentID, dataTypeName(a.DataType), SetEmailDemographics)
			continue
		}
		if set, _ := cat.Set(SetEmailDemographics); set != nil {
			if why := notWritable(set, a); why != "" {
				p.addf("Mapping ID %q (segment %q) cannot receive segment statuses: %s; use another Text attribute in %s",
					sm.MappingID, sm.SegmentID, why, SetEmailDemographics)
				continue
			}
		}
		if a.Length > 0 && a.Length < minStatusLength {
			p.addf("Mapping ID %q (segment %q) has length %d, too short for the status %q: set its length in Contact Builder to %d or more",
				sm.MappingID, sm.SegmentID, a.Length, string(StatusRealized), minStatusLength)
		}
	}
}

func dataTypeName(t string) string {
	if t == "" {
		return "untyped"
	}
	return t
}

// ValidateTargets checks attribute targets ("Set.Attribute") against cat:
// each exists (exact name), is mappable (an attribute of Email
// Demographics, or Email Address or HTML Enabled of Email Addresses), is
// one a contact write may set (see Catalog.Targets: not a primary key such
// as Email Demographics.Contacts ID, not hidden, not read-only; the
// problem gives the reason), and no target appears twice. It returns every problem at once as a *ValidationError, or nil.
func ValidateTargets(cat *Catalog, targets []string) error {
	var p problems
	validateTargets(&p, cat, targets)
	return p.err()
}

// mappableText completes "only ...": what can be mapped.
const mappableText = SetEmailDemographics + " attributes, " + SetEmailAddresses + "." + AttrEmailAddress +
	" and " + SetEmailAddresses + "." + AttrHTMLEnabled + " can be mapped"

func validateTargets(p *problems, cat *Catalog, targets []string) {
	seen := make(map[string]bool)
	for _, t := range targets {
		if t == "" {
			p.addf("empty target: name it as \"Set.Attribute\", e.g. %q", SetEmailDemographics+".First Name")
			continue
		}
		if seen[t] {
			p.addf("target %q is mapped more than once: map each target from one source", t)
			continue
		}
		seen[t] = true
		set, attr, ok := cat.splitTarget(t)
		if !ok {
			if !strings.Contains(t, ".") {
				p.addf("target %q is not of the form \"Set.Attribute\": write e.g. %q", t, SetEmailDemographics+"."+t)
				continue
			}
			s, _, _ := strings.Cut(t, ".")
			p.addf("target %q: attribute set %q does not exist; only %s%s",
				t, s, mappableText, missingHint(cat, t))
			continue
		}
		a, ok := cat.attrs[set][attr]
		if !ok {
			hint := ""
			if set.Name == SetEmailDemographics {
				hint = fmt.Sprintf(": create the attribute %q in Contact Builder under %s", attr, SetEmailDemographics)
			}
			p.addf("target %q does not exist in attribute set %q%s%s", t, set.Name, hint, missingHint(cat, t))
			continue
		}
		if why := notWritable(set, a); why != "" {
			p.addf("target %q cannot be mapped: %s; contact writes must not set it, so map the field to another attribute", t, why)
			continue
		}
		if !isMappable(set.Name, attr) {
			p.addf("target %q cannot be mapped: only %s", t, mappableText)
		}
	}
}
