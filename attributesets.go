package sfmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

const attributeSetDefinitionsPath = "/contacts/v1/attributeSetDefinitions"

// Well-known attribute sets and the attributes the destination maps.
const (
	// SetEmailDemographics is the system attribute set holding profile
	// attributes; every attribute in it is a mappable target, and segment
	// Mapping IDs name Text attributes in it.
	SetEmailDemographics = "Email Demographics"
	// SetEmailAddresses is the system attribute set holding the email
	// channel address.
	SetEmailAddresses = "Email Addresses"
	// AttrEmailAddress is the email address attribute of SetEmailAddresses,
	// a mappable target (and the one the destination makes mandatory).
	AttrEmailAddress = "Email Address"
	// AttrHTMLEnabled is the Boolean attribute of SetEmailAddresses saying
	// whether the contact receives HTML email, a mappable target. SFMC's
	// contact-creation documentation requires it together with the email
	// address; a mapping usually sets it with a constant.
	AttrHTMLEnabled = "HTML Enabled"
)

// CatalogPageSize is the page size FirstPage asks for (the destination
// reads one page of 2000) and the default page size of All and Catalog.
const CatalogPageSize = 2000

// AttributeSetDefinition is the definition of one attribute set, as
// returned by /contacts/v1/attributeSetDefinitions.
//
// The set-level flags are reported as SFMC sends them; they do not decide
// what a contact write may set (real tenants mark Email Addresses
// read-only, yet contact writes set its Email Address and HTML Enabled):
// see Catalog.Targets.
type AttributeSetDefinition struct {
	ID                 string // UUID
	Key                string // e.g. "MobileSubscriptions"
	Name               string // display name (name.value), e.g. "Email Demographics"
	FullyQualifiedName string
	StorageLogicalType string // e.g. "DataExtension"
	CategoryID         int64
	IsRoot             bool
	IsSendable         bool
	IsShared           bool
	IsEvent            bool
	IsSystemDefined    bool // isSystemDefined: a set SFMC defines
	IsReadOnly         bool // isReadOnly
	IsHidden           bool // isHidden
	CanAddValues       bool // canAddValues
	CanChangeValues    bool // canChangeValues
	CanModify          bool // canModify
	CanRemove          bool // canRemove
	ApplicationID      string
	ApplicationKey     string
	Attributes         []*AttributeDefinition
	// AttributesOmitted is true when the list answer carried no attributes
	// array for this set (some tenants list sets without them, while GET
	// by id has them). FirstPage, All and Catalog then read the set by id
	// and return it with its attributes; List returns it as listed.
	AttributesOmitted bool
}

// Attribute returns the attribute named name (exact, case-sensitive).
func (d *AttributeSetDefinition) Attribute(name string) (*AttributeDefinition, bool) {
	for _, a := range d.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return nil, false
}

// AttributeDefinition is the definition of one attribute of a set.
//
// DataType is SFMC's name of the type; real tenants show Text, Number,
// LongNumber, Decimal, Boolean, Date, EmailAddress, Phone and Byte. Values
// are checked against it before they are sent (see CheckValue).
//
// Length is the maximum length as SFMC sends it: for Text the number of
// characters, for Decimal the precision (total digits, e.g. 18). -1 means
// unlimited (SFMC sends -1 for Text without limit); 0 means SFMC sent no
// length (EmailAddress, Boolean, Date, ... have none). Only a positive
// Length limits a value. Scale is the number of digits after the decimal
// point of a Decimal (0 when SFMC sends none).
type AttributeDefinition struct {
	ID                 string // UUID
	Key                string
	Name               string // display name (name.value), e.g. "First Name"
	FullyQualifiedName string // e.g. "Email Demographics.First Name"
	DataType           string // e.g. "Text", "Number", "Decimal", "Date", "Boolean", "EmailAddress"
	StorageName        string
	Description        string
	Length             int  // maximum length or Decimal precision; -1 unlimited, 0 none given
	Scale              int  // digits after the point of a Decimal; 0 when none given
	IsHidden           bool // isHidden: not shown, and not written by contact writes
	IsReadOnly         bool // isReadOnly: not written by contact writes
	IsUpdateable       bool // isUpdateable (reported; real tenants mark Email Address false, yet it is written)
	IsNullable         bool // isNullable
	IsPrimaryKey       bool // isPrimaryKey: part of the set's key
	IsSystemDefined    bool // isSystemDefined: defined by SFMC, not by the tenant
	IsIdentityValue    bool // isIdentityValue
	DisplayOrder       int
}

// ListOptions selects a page of attribute-set definitions. Page is 1-based;
// zero values leave the choice to SFMC (List) or to the SDK defaults (All).
type ListOptions struct {
	Page     int
	PageSize int
}

// AttributeSetPage is one page of attribute-set definitions.
type AttributeSetPage struct {
	Page     int // page number SFMC answered
	PageSize int // page size SFMC answered
	Count    int // total number of sets SFMC reports
	Items    []*AttributeSetDefinition
}

// localized decodes {"value": "..."} and, leniently, a plain string.
type localized string

func (l *localized) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = localized(s)
		return nil
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = localized(v.Value)
	return nil
}

type wireAttributeSet struct {
	ID                 string    `json:"id"`
	Key                string    `json:"key"`
	Name               localized `json:"name"`
	FullyQualifiedName string    `json:"fullyQualifiedName"`
	StorageLogicalType string    `json:"storageLogicalType"`
	CategoryID         int64     `json:"categoryID"`
	IsRoot             bool      `json:"isRoot"`
	IsSendable         bool      `json:"isSendable"`
	IsShared           bool      `json:"isShared"`
	IsEvent            bool      `json:"isEvent"`
	IsSystemDefined    bool      `json:"isSystemDefined"`
	IsReadOnly         bool      `json:"isReadOnly"`
	IsHidden           bool      `json:"isHidden"`
	CanAddValues       bool      `json:"canAddValues"`
	CanChangeValues    bool      `json:"canChangeValues"`
	CanModify          bool      `json:"canModify"`
	CanRemove          bool      `json:"canRemove"`
	ApplicationID      string    `json:"applicationID"`
	ApplicationKey     string    `json:"applicationKey"`
	Attributes         jsonArray `json:"attributes"`
}

type wireAttribute struct {
	ID                 string    `json:"id"`
	Key                string    `json:"key"`
	Name               localized `json:"name"`
	FullyQualifiedName string    `json:"fullyQualifiedName"`
	DataType           string    `json:"dataType"`
	StorageName        string    `json:"storageName"`
	Description        string    `json:"description"`
	Length             int       `json:"length"`
	Scale              int       `json:"scale"`
	IsHidden           bool      `json:"isHidden"`
	IsReadOnly         bool      `json:"isReadOnly"`
	IsUpdateable       bool      `json:"isUpdateable"`
	IsNullable         bool      `json:"isNullable"`
	IsPrimaryKey       bool      `json:"isPrimaryKey"`
	IsSystemDefined    bool      `json:"isSystemDefined"`
	IsIdentityValue    bool      `json:"isIdentityValue"`
	DisplayOrder       int       `json:"displayOrder"`
}

// definition converts a decoded set, decoding its attributes; budget is
// how many attributes may still be decoded for the answer being read.
func (w *wireAttributeSet) definition(budget *int) (*AttributeSetDefinition, error) {
	d := &AttributeSetDefinition{
		ID: w.ID, Key: w.Key, Name: string(w.Name), FullyQualifiedName: w.FullyQualifiedName,
		StorageLogicalType: w.StorageLogicalType, CategoryID: w.CategoryID,
		IsRoot: w.IsRoot, IsSendable: w.IsSendable, IsShared: w.IsShared, IsEvent: w.IsEvent,
		IsSystemDefined: w.IsSystemDefined, IsReadOnly: w.IsReadOnly, IsHidden: w.IsHidden,
		CanAddValues: w.CanAddValues, CanChangeValues: w.CanChangeValues,
		CanModify: w.CanModify, CanRemove: w.CanRemove,
		ApplicationID: w.ApplicationID, ApplicationKey: w.ApplicationKey,
		AttributesOmitted: w.Attributes == nil,
	}
	if d.Name == "" {
		d.Name = d.FullyQualifiedName
	}
	n, err := w.Attributes.each(*budget, func(raw []byte) error {
		var a wireAttribute
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		d.Attributes = append(d.Attributes, &AttributeDefinition{
			ID: a.ID, Key: a.Key, Name: string(a.Name), FullyQualifiedName: a.FullyQualifiedName,
			DataType: a.DataType, StorageName: a.StorageName, Description: a.Description, Length: a.Length, Scale: a.Scale,
			IsHidden: a.IsHidden, IsReadOnly: a.IsReadOnly, IsUpdateable: a.IsUpdateable, IsNullable: a.IsNullable,
			IsPrimaryKey: a.IsPrimaryKey, IsSystemDefined: a.IsSystemDefined, IsIdentityValue: a.IsIdentityValue,
			DisplayOrder: a.DisplayOrder,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("attribute set %q: %w", d.Name, err)
	}
	if n > *budget {
		return nil, fmt.Errorf("attribute set %q: more than %d attributes in one answer; the client refuses to decode them", d.Name, maxPageAttributes)
	}
	*budget -= n
	return d, nil
}

// List reads one page of attribute-set definitions (GET
// /contacts/v1/attributeSetDefinitions?$page=&$pageSize=). With nil opts,
// or zero fields, SFMC's defaults apply (page 1, page size 50). Negative
// values are an error and send nothing. A set listed without an attributes
// array is returned as listed, with AttributesOmitted true (FirstPage, All
// and Catalog read such sets by id).
func (s *AttributeSetsService) List(ctx context.Context, opts *ListOptions) (*AttributeSetPage, error) {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	if o.Page < 0 || o.PageSize < 0 {
		return nil, fmt.Errorf("sfmc: List: negative page (%d) or page size (%d)", o.Page, o.PageSize)
	}
	q := url.Values{}
	if o.Page > 0 {
		q.Set("$page", strconv.Itoa(o.Page))
	}
	if o.PageSize > 0 {
		q.Set("$pageSize", strconv.Itoa(o.PageSize))
	}
	resp, err := s.c.do(ctx, request{method: http.MethodGet, path: attributeSetDefinitionsPath, query: q})
	if err != nil {
		return nil, err
	}
	var w struct {
		Page     int       `json:"page"`
		PageSize int       `json:"pageSize"`
		Count    int       `json:"count"`
		Items    jsonArray `json:"items"`
	}
	if err := json.Unmarshal(resp, &w); err != nil {
		return nil, fmt.Errorf("sfmc: List: decoding attribute set definitions: %w", err)
	}
	// Count first: a page beyond the cap is refused before anything of it
	// is decoded.
	if n, _ := w.Items.each(0, nil); n > maxPageItems {
		return nil, fmt.Errorf("sfmc: List: the page holds %d attribute sets, more than the %d the client decodes", n, maxPageItems)
	}
	p := &AttributeSetPage{Page: w.Page, PageSize: w.PageSize, Count: w.Count}
	budget := maxPageAttributes
	_, err = w.Items.each(maxPageItems, func(raw []byte) error {
		var ws wireAttributeSet
		if err := json.Unmarshal(raw, &ws); err != nil {
			return err
		}
		d, err := ws.definition(&budget)
		if err != nil {
			return err
		}
		p.Items = append(p.Items, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sfmc: List: decoding attribute set definitions: %w", err)
	}
	return p, nil
}

// Get reads one attribute-set definition by its id (GET
// /contacts/v1/attributeSetDefinitions/{id}). An empty id is an error.
func (s *AttributeSetsService) Get(ctx context.Context, id string) (*AttributeSetDefinition, error) {
	if id == "" {
		return nil, errors.New("sfmc: Get: empty attribute set id")
	}
	resp, err := s.c.do(ctx, request{method: http.MethodGet, path: attributeSetDefinitionsPath + "/" + url.PathEscape(id),
		route: attributeSetDefinitionsPath + "/{id}"})
	if err != nil {
		return nil, err
	}
	var w struct {
		Item *wireAttributeSet `json:"item"`
	}
	if err := json.Unmarshal(resp, &w); err != nil {
		return nil, fmt.Errorf("sfmc: Get: decoding attribute set definition: %w", err)
	}
	if w.Item == nil {
		return nil, fmt.Errorf("sfmc: Get: answer for attribute set %q holds no item", id)
	}
	budget := maxPageAttributes
	d, err := w.Item.definition(&budget)
	if err != nil {
		return nil, fmt.Errorf("sfmc: Get: decoding attribute set definition: %w", err)
	}
	return d, nil
}

// All iterates over every attribute-set definition, page by page, from
// opts.Page (default 1) with opts.PageSize (default CatalogPageSize). It
// stops after an empty page, a page shorter than the page size, or when
// page × page size reaches the count SFMC reports. Sets a page lists
// without attributes are read by id (Get; only those, up to
// maxConcurrentGets at a time, each request paced by the client's limiter)
// before the page is yielded. On an error it yields (nil, err) once and
// stops. Breaking out of the loop early sends no further request.
func (s *AttributeSetsService) All(ctx context.Context, opts *ListOptions) iter.Seq2[*AttributeSetDefinition, error] {
	return func(yield func(*AttributeSetDefinition, error) bool) {
		var o ListOptions
		if opts != nil {
			o = *opts
		}
		if o.Page < 0 || o.PageSize < 0 {
			yield(nil, fmt.Errorf("sfmc: All: negative page (%d) or page size (%d)", o.Page, o.PageSize))
			return
		}
		if o.Page == 0 {
			o.Page = 1
		}
		if o.PageSize == 0 {
			o.PageSize = CatalogPageSize
		}
		for page := o.Page; ; page++ {
			p, err := s.List(ctx, &ListOptions{Page: page, PageSize: o.PageSize})
			if err != nil {
				yield(nil, err)
				return
			}
			if p.Page > 0 && p.Page != page {
				yield(nil, fmt.Errorf("sfmc: All: asked for page %d of attribute set definitions, got page %d", page, p.Page))
				return
			}
			if err := s.fillAttributes(ctx, p.Items); err != nil {
				yield(nil, err)
				return
			}
			for _, d := range p.Items {
				if !yield(d, nil) {
					return
				}
			}
			size := o.PageSize
			if p.PageSize > 0 && p.PageSize < size {
				size = p.PageSize // SFMC capped the page size
			}
			if len(p.Items) == 0 || len(p.Items) < size || (p.Count > 0 && page*size >= p.Count) {
				return
			}
		}
	}
}

// FirstPage reads page 1 with page size CatalogPageSize, as the destination
// does, and returns it as a Catalog. Catalog.Truncated is true when more
// pages may exist: SFMC's count exceeds the items read, or the page is
// full. Sets the page lists without attributes are read by id (as in All);
// no further page is read.
func (s *AttributeSetsService) FirstPage(ctx context.Context) (*Catalog, error) {
	p, err := s.List(ctx, &ListOptions{Page: 1, PageSize: CatalogPageSize})
	if err != nil {
		return nil, err
	}
	if err := s.fillAttributes(ctx, p.Items); err != nil {
		return nil, err
	}
	size := CatalogPageSize
	if p.PageSize > 0 && p.PageSize < size {
		size = p.PageSize
	}
	truncated := p.Count > len(p.Items) || len(p.Items) >= size
	return NewCatalog(p.Items, truncated), nil
}

// maxConcurrentGets bounds the Get requests in flight that read the sets a
// page lists without attributes.
const maxConcurrentGets = 4

// fillAttributes replaces each set of sets listed without attributes (and
// with an id) by its definition read with Get, at most maxConcurrentGets at
// a time. The first error cancels the other reads and is returned.
func (s *AttributeSetsService) fillAttributes(ctx context.Context, sets []*AttributeSetDefinition) error {
	var todo []int
	for i, d := range sets {
		if d.AttributesOmitted && d.ID != "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, maxConcurrentGets)
	for _, i := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			d, err := s.Get(ctx, sets[i].ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("sfmc: reading attribute set %q, listed without its attributes, by id: %w", sets[i].Name, err)
					cancel()
				}
				return
			}
			sets[i] = d
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("sfmc: reading attribute sets listed without their attributes: %w", context.Cause(ctx))
	}
	return first
}

// Catalog reads every page of attribute-set definitions (see All) and
// returns them as a complete Catalog.
func (s *AttributeSetsService) Catalog(ctx context.Context) (*Catalog, error) {
	var sets []*AttributeSetDefinition
	for d, err := range s.All(ctx, nil) {
		if err != nil {
			return nil, err
		}
		sets = append(sets, d)
	}
	return NewCatalog(sets, false), nil
}

// Catalog is a set of attribute-set definitions indexed for lookups by
// name. It is read-only after NewCatalog and safe for concurrent use.
type Catalog struct {
	// Truncated is true when the catalog holds only part of the tenant's
	// attribute sets (FirstPage found more pages): a name missing from it
	// may exist on a later page.
	Truncated bool

	sets   []*AttributeSetDefinition
	byName map[string]*AttributeSetDefinition
	attrs  map[*AttributeSetDefinition]map[string]*AttributeDefinition
}

// NewCatalog indexes sets. When two sets share a name, or two attributes of
// a set share a name, the first one wins. Nil entries are ignored.
func NewCatalog(sets []*AttributeSetDefinition, truncated bool) *Catalog {
	c := &Catalog{
		Truncated: truncated,
		byName:    make(map[string]*AttributeSetDefinition, len(sets)),
		attrs:     make(map[*AttributeSetDefinition]map[string]*AttributeDefinition, len(sets)),
	}
	for _, s := range sets {
		if s == nil {
			continue
		}
		c.sets = append(c.sets, s)
		if _, dup := c.byName[s.Name]; dup {
			continue
		}
		c.byName[s.Name] = s
		m := make(map[string]*AttributeDefinition, len(s.Attributes))
		for _, a := range s.Attributes {
			if a == nil {
				continue
			}
			if _, dup := m[a.Name]; !dup {
				m[a.Name] = a
			}
		}
		c.attrs[s] = m
	}
	return c
}

// Sets returns the attribute sets in the order they were given.
func (c *Catalog) Sets() []*AttributeSetDefinition {
	return append([]*AttributeSetDefinition(nil), c.sets...)
}

// Set returns the attribute set named name (exact, case-sensitive).
func (c *Catalog) Set(name string) (*AttributeSetDefinition, bool) {
	s, ok := c.byName[name]
	return s, ok
}

// splitTarget splits "Set.Attribute" at the first '.' whose prefix is a
// known set name. Set names never contain '.' in practice, attribute names
// may.
func (c *Catalog) splitTarget(target string) (set *AttributeSetDefinition, attr string, ok bool) {
	for i := 0; i < len(target); i++ {
		if target[i] != '.' {
			continue
		}
		if s, found := c.byName[target[:i]]; found {
			return s, target[i+1:], true
		}
	}
	return nil, "", false
}

// Lookup returns the attribute named by "Set.Attribute", for example
// "Email Demographics.First Name". Names match exactly (case-sensitive).
// The name is split at the first '.' that follows a known set name, so
// attribute names may contain '.'.
func (c *Catalog) Lookup(target string) (*AttributeDefinition, bool) {
	s, attr, ok := c.splitTarget(target)
	if !ok {
		return nil, false
	}
	a, ok := c.attrs[s][attr]
	return a, ok
}

// Target is an attribute contacts may be mapped to.
type Target struct {
	Set      string // attribute set name
	Name     string // attribute name
	DataType string // e.g. "Text"
	Length   int    // maximum length (see AttributeDefinition.Length): -1 unlimited, 0 none given
	Scale    int    // digits after the point of a Decimal
}

// String returns "Set.Name".
func (t Target) String() string { return t.Set + "." + t.Name }

func targetOf(set string, a *AttributeDefinition) Target {
	return Target{Set: set, Name: a.Name, DataType: a.DataType, Length: a.Length, Scale: a.Scale}
}

// Targets returns the mappable targets: Email Addresses.Email Address and
// Email Addresses.HTML Enabled (when present) first, then the attributes
// of Email Demographics a contact write may set, ordered by display order,
// then name.
//
// Left out is what a contact write must not set: primary keys (such as the
// system key Contacts ID of Email Demographics) and attributes flagged
// hidden or read-only. Email Address and HTML Enabled are always listed:
// real tenants flag both system-defined, Email Address a primary key that
// is not updateable, and the whole Email Addresses set read-only, yet the
// destination writes both. So neither set-level flags, isSystemDefined nor
// isUpdateable decide; ValidateTargets gives the reason for a refused
// target.
func (c *Catalog) Targets() []Target {
	var out []Target
	for _, name := range []string{AttrEmailAddress, AttrHTMLEnabled} {
		if a, ok := c.Lookup(SetEmailAddresses + "." + name); ok {
			out = append(out, targetOf(SetEmailAddresses, a))
		}
	}
	if s, ok := c.Set(SetEmailDemographics); ok {
		attrs := make([]*AttributeDefinition, 0, len(s.Attributes))
		for _, a := range s.Attributes {
			if a != nil && c.attrs[s][a.Name] == a && notWritable(s, a) == "" {
				attrs = append(attrs, a)
			}
		}
		sort.SliceStable(attrs, func(i, j int) bool {
			if attrs[i].DisplayOrder != attrs[j].DisplayOrder {
				return attrs[i].DisplayOrder < attrs[j].DisplayOrder
			}
			return attrs[i].Name < attrs[j].Name
		})
		for _, a := range attrs {
			out = append(out, targetOf(SetEmailDemographics, a))
		}
	}
	return out
}

// isMappable reports whether "Set.Name" is in a mappable place: an
// attribute of Email Demographics, or Email Address or HTML Enabled of
// Email Addresses.
func isMappable(set, name string) bool {
	return set == SetEmailDemographics || (set == SetEmailAddresses && (name == AttrEmailAddress || name == AttrHTMLEnabled))
}

// notWritable says why a contact write must not set attribute a of set,
// or returns "" when it may: a primary key ("X is the set's system primary
// key" for a system-defined one), a hidden or a read-only attribute. Email
// Addresses.Email Address and HTML Enabled are always writable (see
// Catalog.Targets).
func notWritable(set *AttributeSetDefinition, a *AttributeDefinition) string {
	if set.Name == SetEmailAddresses && (a.Name == AttrEmailAddress || a.Name == AttrHTMLEnabled) {
		return ""
	}
	full := set.Name + "." + a.Name
	switch {
	case a.IsPrimaryKey && a.IsSystemDefined:
		return full + " is the set's system primary key, which SFMC assigns itself"
	case a.IsPrimaryKey:
		return full + " is the set's primary key"
	case a.IsHidden:
		return full + " is hidden"
	case a.IsReadOnly:
		return full + " is read-only"
	}
	return ""
}

// NearMisses returns the "Set.Attribute" names of the catalog that differ
// from target only in letter case, spaces, '_' or '-', sorted; use them
// for "did you mean" hints. The exact target itself is never returned.
func (c *Catalog) NearMisses(target string) []string {
	want := foldName(target)
	var out []string
	for _, s := range c.sets {
		for _, a := range s.Attributes {
			if a == nil {
				continue
			}
			full := s.Name + "." + a.Name
			if full != target && foldName(full) == want {
				out = append(out, full)
			}
		}
	}
	sort.Strings(out)
	return out
}

func foldName(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-':
			return -1
		}
		return r
	}, s)
}
