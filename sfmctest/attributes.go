package sfmctest

import (
	"fmt"
	"strings"
)

// Attribute defines one attribute of an attribute set.
type Attribute struct {
	// Name is the attribute's name, e.g. "First Name".
	Name string
	// DataType is the SFMC data type: "Text", "Number", "Boolean", "Date",
	// "EmailAddress", "Phone", ... Empty means "Text".
	DataType string
	// Length is the maximum length of a text value; 0 means no limit.
	Length int
	// IsHidden and IsReadOnly are reported in the definitions.
	IsHidden, IsReadOnly bool
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
	attrs  []*attrDef
	byName map[string]*attrDef
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
	c.add("Email Addresses", true,
		Attribute{Name: "Email Address", DataType: "EmailAddress", Length: 254},
		Attribute{Name: "HTML Enabled", DataType: "Boolean"})
	c.add("Email Demographics", true,
		Attribute{Name: "First Name", DataType: "Text", Length: 100},
		Attribute{Name: "Last Name", DataType: "Text", Length: 100})
	return c
}

// add adds attributes to the set named name, creating it at the end when
// needed. An existing attribute of the same name is replaced in place.
func (c *catalog) add(name string, system bool, attrs ...Attribute) {
	s := c.byName[name]
	if s == nil {
		s = &setDef{id: c.ids.uuid(), name: name, system: system, byName: map[string]*attrDef{}}
		c.sets = append(c.sets, s)
		c.byName[name] = s
		c.byID[strings.ToLower(s.id)] = s
	}
	for _, a := range attrs {
		if a.DataType == "" {
			a.DataType = "Text"
		}
		if a.Length < 0 {
			a.Length = 0
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
	ID                 string     `json:"id"`
	Key                string     `json:"key"`
	Name               localized  `json:"name"`
	FullyQualifiedName string     `json:"fullyQualifiedName"`
	StorageLogicalType string     `json:"storageLogicalType"`
	IsRoot             bool       `json:"isRoot"`
	IsSendable         bool       `json:"isSendable"`
	IsShared           bool       `json:"isShared"`
	IsEvent            bool       `json:"isEvent"`
	Relationships      []struct{} `json:"relationships"`
	Attributes         []wireAttr `json:"attributes"`
	CanAddValues       bool       `json:"canAddValues"`
	IsSystemDefined    bool       `json:"isSystemDefined"`
	CanRemove          bool       `json:"canRemove"`
	CanModify          bool       `json:"canModify"`
	IsReadOnly         bool       `json:"isReadOnly"`
	ObjectState        string     `json:"objectState"`
}

func (s *setDef) wire() wireSet {
	w := wireSet{
		ID:                 s.id,
		Key:                keyOf(s.name),
		Name:               localized{s.name},
		FullyQualifiedName: s.name,
		StorageLogicalType: "ExactTargetSchema",
		Relationships:      []struct{}{},
		Attributes:         make([]wireAttr, 0, len(s.attrs)),
		CanAddValues:       true,
		IsSystemDefined:    s.system,
		CanModify:          !s.system,
		CanRemove:          !s.system,
		ObjectState:        "Created",
	}
	for _, a := range s.attrs {
		w.Attributes = append(w.Attributes, wireAttr{
			ID:                 a.id,
			Key:                keyOf(a.Name),
			Name:               localized{a.Name},
			StorageName:        keyOf(a.Name),
			DataType:           a.DataType,
			Length:             a.Length,
			IsNullable:         true,
			IsReadOnly:         a.IsReadOnly,
			DisplayOrder:       a.order,
			FullyQualifiedName: s.name + "." + a.Name,
			ParentID:           s.id,
			IsSystemDefined:    s.system,
			IsHidden:           a.IsHidden,
			IsUpdateable:       !a.IsReadOnly,
			ParentType:         "Set",
			ObjectState:        "Created",
		})
	}
	return w
}
