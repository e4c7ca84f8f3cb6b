package sfmctest

import (
	"fmt"
	"strings"
)

// Attribute defines one attribute of an attribute set.
type Attribute struct {
	// Name is the attribute's name, e.g. "First Name".
	Name string
	// DataType is the SFMC data type: "Text", "Number", "LongNumber",
	// "Decimal", "Boolean", "Date", "EmailAddress", "Phone", "Byte". Empty
	// means "Text". Contact writes are checked against it (see the package
	// documentation).
	DataType string
	// Length is the maximum length of a Text value, or the precision
	// (total digits) of a Decimal. -1 means unlimited and is reported as
	// -1, as real tenants do; 0 means none (the definition carries no
	// length) and no limit. Values below -1 are taken as -1.
	Length int
	// Scale is the number of digits after the point of a Decimal.
	Scale int
	// IsPrimaryKey, IsSystemDefined, IsHidden and IsReadOnly are reported
	// in the definitions (isNullable is reported as !IsPrimaryKey,
	// isUpdateable as neither IsPrimaryKey nor IsReadOnly). They are not
	// enforced on contact writes.
	IsPrimaryKey, IsSystemDefined, IsHidden, IsReadOnly bool
}

// attrDef is an attribute as stored by the server.
type attrDef struct {
	Attribute
	id    string
	order int
}

// setDef is an attribute set as stored by the server.
type setDef struct {
	id     string
	name   string
	system bool
	flags  setFlags
	attrs  []*attrDef
	byName map[string]*attrDef
}

// setFlags are the set-level flags reported in the definitions.
type setFlags struct {
	readOnly, hidden, canAddValues, canChangeValues bool
}

func keyOf(name string) string {
	return strings.ReplaceAll(name, " ", "")
}

// catalog is the set of attribute-set definitions. It is guarded by
// Server.defMu.
type catalog struct {
	sets   []*setDef
	byName map[string]*setDef
	byID   map[string]*setDef
	ids    *idGen
}

func newCatalog(ids *idGen, leading int) *catalog {
	c := &catalog{byName: map[string]*setDef{}, byID: map[string]*setDef{}, ids: ids}
	for i := 1; i <= leading; i++ {
		name := fmt.Sprintf("Filler Set %04d", i)
		c.add(name, false, Attribute{Name: "Filler Code", DataType: "Text", Length: 50},
			Attribute{Name: "Filler Value", DataType: "Text", Length: 100})
	}
	// As real tenants define them: Email Addresses is read-only at set
	// level and keyed by the hidden List ID and Member ID and by Email
	// Address; Email Demographics is keyed by the system Contacts ID.
	c.add("Email Addresses", true,
		Attribute{Name: "List ID", DataType: "Number", IsPrimaryKey: true, IsHidden: true, IsReadOnly: true, IsSystemDefined: true},
		Attribute{Name: "Member ID", DataType: "Number", IsPrimaryKey: true, IsHidden: true, IsReadOnly: true, IsSystemDefined: true},
		Attribute{Name: "Email Address", DataType: "EmailAddress", IsPrimaryKey: true, IsSystemDefined: true},
		Attribute{Name: "HTML Enabled", DataType: "Boolean", IsSystemDefined: true})
	c.byName["Email Addresses"].flags = setFlags{readOnly: true, canChangeValues: true}
	c.add("Email Demographics", true,
		Attribute{Name: "Contacts ID", DataType: "LongNumber", IsPrimaryKey: true, IsSystemDefined: true},
		Attribute{Name: "First Name", DataType: "Text", Length: 100},
		Attribute{Name: "Last Name", DataType: "Text", Length: 100})
	c.byName["Email Demographics"].flags = setFlags{canAddValues: true, canChangeValues: true}
	return c
}

// add adds attributes to the set named name, creating it at the end when
// needed. An existing attribute of the same name is replaced in place.
func (c *catalog) add(name string, system bool, attrs ...Attribute) {
	s := c.byName[name]
	if s == nil {
		s = &setDef{id: c.ids.uuid(), name: name, system: system, byName: map[string]*attrDef{},
			flags: setFlags{canAddValues: !system, canChangeValues: true}}
		c.sets = append(c.sets, s)
		c.byName[name] = s
		c.byID[strings.ToLower(s.id)] = s
	}
	for _, a := range attrs {
		if a.DataType == "" {
			a.DataType = "Text"
		}
		if a.Length < -1 {
			a.Length = -1
		}
		if old := s.byName[a.Name]; old != nil {
			old.Attribute = a
			continue
		}
		d := &attrDef{Attribute: a, id: c.ids.uuid(), order: len(s.attrs) + 1}
		s.attrs = append(s.attrs, d)
		s.byName[a.Name] = d
	}
}

// Wire shapes of the definitions (sfmc-api.md §7.1).

type localized struct {
	Value string `json:"value"`
}

type wireAttr struct {
	ID                 string    `json:"id"`
	Key                string    `json:"key"`
	Name               localized `json:"name"`
	StorageName        string    `json:"storageName"`
	DataType           string    `json:"dataType"`
	Length             int       `json:"length,omitempty"`
	Scale              int       `json:"scale,omitempty"`
	IsPrimaryKey       bool      `json:"isPrimaryKey"`
	IsNullable         bool      `json:"isNullable"`
	IsReadOnly         bool      `json:"isReadOnly"`
	DisplayOrder       int       `json:"displayOrder"`
	Description        string    `json:"description"`
	FullyQualifiedName string    `json:"fullyQualifiedName"`
	ParentID           string    `json:"parentId"`
	IsSystemDefined    bool      `json:"isSystemDefined"`
	IsIdentityValue    bool      `json:"isIdentityValue"`
	IsHidden           bool      `json:"isHidden"`
	IsUpdateable       bool      `json:"isUpdateable"`
	ParentType         string    `json:"parentType"`
	ObjectState        string    `json:"objectState"`
}

type wireSet struct {
	ID                 string      `json:"id"`
	Key                string      `json:"key"`
	Name               localized   `json:"name"`
	FullyQualifiedName string      `json:"fullyQualifiedName"`
	StorageLogicalType string      `json:"storageLogicalType"`
	IsRoot             bool        `json:"isRoot"`
	IsSendable         bool        `json:"isSendable"`
	IsShared           bool        `json:"isShared"`
	IsEvent            bool        `json:"isEvent"`
	Relationships      []struct{}  `json:"relationships"`
	Attributes         *[]wireAttr `json:"attributes,omitempty"` // nil: omitted (WithListWithoutAttributes)
	CanAddValues       bool        `json:"canAddValues"`
	CanChangeValues    bool        `json:"canChangeValues"`
	IsSystemDefined    bool        `json:"isSystemDefined"`
	CanRemove          bool        `json:"canRemove"`
	CanModify          bool        `json:"canModify"`
	IsReadOnly         bool        `json:"isReadOnly"`
	IsHidden           bool        `json:"isHidden"`
	ObjectState        string      `json:"objectState"`
}

// wire returns the set's definition; withAttrs false omits the attributes
// array.
func (s *setDef) wire(withAttrs bool) wireSet {
	w := wireSet{
		ID:                 s.id,
		Key:                keyOf(s.name),
		Name:               localized{s.name},
		FullyQualifiedName: s.name,
		StorageLogicalType: "ExactTargetSchema",
		Relationships:      []struct{}{},
		CanAddValues:       s.flags.canAddValues,
		CanChangeValues:    s.flags.canChangeValues,
		IsSystemDefined:    s.system,
		CanModify:          !s.system,
		CanRemove:          !s.system,
		IsReadOnly:         s.flags.readOnly,
		IsHidden:           s.flags.hidden,
		ObjectState:        "Created",
	}
	if !withAttrs {
		return w
	}
	attrs := make([]wireAttr, 0, len(s.attrs))
	w.Attributes = &attrs
	for _, a := range s.attrs {
		attrs = append(attrs, wireAttr{
			ID:                 a.id,
			Key:                keyOf(a.Name),
			Name:               localized{a.Name},
			StorageName:        keyOf(a.Name),
			DataType:           a.DataType,
			Length:             a.Length,
			Scale:              a.Scale,
			IsPrimaryKey:       a.IsPrimaryKey,
			IsNullable:         !a.IsPrimaryKey,
			IsReadOnly:         a.IsReadOnly,
			DisplayOrder:       a.order,
			FullyQualifiedName: s.name + "." + a.Name,
			ParentID:           s.id,
			IsSystemDefined:    a.IsSystemDefined,
			IsHidden:           a.IsHidden,
			IsUpdateable:       !a.IsReadOnly && !a.IsPrimaryKey,
			ParentType:         "Set",
			ObjectState:        "Created",
		})
	}
	return w
}
