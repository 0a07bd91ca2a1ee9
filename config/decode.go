package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The nodes walked, aliases expanded, are bounded by a base plus a
// multiple of the document's size, so that aliases cannot make the walk
// of a small document expensive ("billion laughs"), while a document
// without aliases, which has fewer nodes than bytes, never reaches it.
const (
	baseSteps    = 1 << 16
	stepsPerByte = 4
)

// decoder overlays a YAML document on a Go value by reflection over its
// yaml tags, collecting every problem instead of stopping at the first.
type decoder struct {
	errs *Errors
	// lines maps each key path the document sets, and each list item,
	// to its line, so that validation errors can point at the file.
	lines map[string]int
	// failed holds the paths whose value was rejected, so that
	// validation does not report them again.
	failed map[string]bool
	// expanding holds the anchors being expanded, against alias cycles.
	expanding map[*yaml.Node]bool
	steps     int
	maxSteps  int
}

func newDecoder(errs *Errors) *decoder {
	return &decoder{
		errs:      errs,
		lines:     map[string]int{},
		failed:    map[string]bool{},
		expanding: map[*yaml.Node]bool{},
	}
}

// fail records that the value at path is rejected.
func (d *decoder) fail(path string, n *yaml.Node, format string, a ...any) {
	d.failed[path] = true
	d.errs.add(path, n.Line, format, a...)
}

// document decodes data, one YAML document holding a mapping, onto v. It
// returns false when the document could not be walked at all (a syntax
// error, or no mapping at the top).
func (d *decoder) document(data []byte, v reflect.Value) bool {
	d.maxSteps = baseSteps + stepsPerByte*len(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntax(err)
			return false
		}
		return true
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errs.add("", next.Line, "a config is one yaml document, found another")
		return false
	case !errors.Is(err, io.EOF):
		d.syntax(err)
		return false
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return true
	}
	root := doc.Content[0]
	if resolved(root).Kind != yaml.MappingNode {
		d.errs.add("", root.Line, "want a mapping of sections, got %s", describe(root))
		return false
	}
	d.value("", root, v)
	return true
}

// syntax records a YAML syntax error, taking the line out of the
// parser's "yaml: line N: msg" text (the parser has no typed error).
func (d *decoder) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, m, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, m
			}
		}
	}
	d.errs.add("", line, "invalid yaml: %s", msg)
}

// value overlays node n on v. A null node keeps v as it is.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	d.steps++
	if d.steps > d.maxSteps {
		if d.steps == d.maxSteps+1 {
			d.fail(path, n, "document too complex: over %d nodes with aliases expanded", d.maxSteps)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		a := n.Alias
		if a == nil {
			d.fail(path, n, "unknown alias *%s", n.Value)
			return
		}
		if d.expanding[a] {
			d.fail(path, n, "alias *%s contains itself", n.Value)
			return
		}
		d.expanding[a] = true
		d.value(path, a, v)
		delete(d.expanding, a)
		return
	}
	if isNull(n) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct {
			d.fail(path, n, "unsupported field type %s", v.Type())
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(path, n, v.Elem())
	case reflect.Struct:
		d.structure(path, n, v)
	case reflect.Map:
		d.mapping(path, n, v)
	case reflect.Slice:
		d.sequence(path, n, v)
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		d.scalar(path, n, v)
	default:
		d.fail(path, n, "unsupported field type %s", v.Type())
	}
}

// structure overlays a mapping on a struct, field by yaml tag.
func (d *decoder) structure(path string, n *yaml.Node, v reflect.Value) {
	fields := fieldsOf(v.Type())
	d.entries(path, n, v, func(key, val *yaml.Node) {
		p := join(path, key.Value)
		f, ok := fields.byName[key.Value]
		if !ok {
			e := d.errs.add(p, key.Line, "unknown key")
			if s := suggest(key.Value, fields.names); s != "" {
				e.Hint = "did you mean " + s + "?"
			}
			return
		}
		d.lines[p] = key.Line
		d.value(p, val, v.FieldByIndex(f))
	})
}

// mapping overlays a mapping on a map with string keys, entry by entry.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(path, n, "unsupported field type %s", t)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	d.entries(path, n, v, func(key, val *yaml.Node) {
		p := join(path, key.Value)
		d.lines[p] = key.Line
		k := reflect.ValueOf(key.Value).Convert(t.Key())
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(k); old.IsValid() {
			elem.Set(old)
		}
		d.value(p, val, elem)
		v.SetMapIndex(k, elem)
	})
}

// entries checks that n is a mapping, applies its merge keys ("<<") to v
// first so that the mapping's own keys win, and calls set for each of its
// own keys, reporting keys that are not plain names or are repeated.
func (d *decoder) entries(path string, n *yaml.Node, v reflect.Value, set func(key, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "want a mapping, got %s", describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if key, val := n.Content[i], n.Content[i+1]; isMerge(key) {
			d.merge(path, val, v)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if isMerge(key) {
			continue
		}
		if key.Kind != yaml.ScalarNode {
			d.errs.add(path, key.Line, "want a key name, got %s", describe(key))
			continue
		}
		if first, dup := seen[key.Value]; dup {
			d.errs.add(join(path, key.Value), key.Line, "duplicate key, first at line %d", first)
			continue
		}
		seen[key.Value] = key.Line
		set(key, val)
	}
}

// merge applies the value of a merge key: a mapping, or a list of them
// of which the first wins.
func (d *decoder) merge(path string, n *yaml.Node, v reflect.Value) {
	r := resolved(n)
	if r.Kind != yaml.SequenceNode {
		d.value(path, n, v)
		return
	}
	for i := len(r.Content) - 1; i >= 0; i-- {
		item := r.Content[i]
		if k := resolved(item).Kind; k != yaml.MappingNode {
			d.fail(path, item, "merge: want a mapping, got %s", describe(item))
			continue
		}
		d.value(path, item, v)
	}
}

// sequence replaces a slice by the items of a list.
func (d *decoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.value(p, item, s.Index(i))
	}
	v.Set(s)
}

// scalar sets a string, bool or number. A string takes any plain scalar
// but true, false and null, so that "contact_user: 1000" works; a bool
// takes only true or false (not yes/no/on/off); a number takes only an
// integer (or a float, for a float field) in range.
func (d *decoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	want := wantOf(v.Type())
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n, "want %s, got %s", want, describe(n))
		return
	}
	bad := func() { d.fail(path, n, "want %s, got %s", want, describe(n)) }
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!timestamp":
			v.SetString(n.Value)
		default:
			bad()
		}
	case reflect.Bool:
		if tag != "!!bool" {
			bad()
			return
		}
		switch strings.ToLower(n.Value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			bad()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			bad()
			return
		}
		if v.OverflowInt(i) {
			d.fail(path, n, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if tag != "!!int" || n.Decode(&u) != nil {
			bad()
			return
		}
		if v.OverflowUint(u) {
			d.fail(path, n, "%d is out of range", u)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!float" && tag != "!!int") || n.Decode(&f) != nil {
			bad()
			return
		}
		v.SetFloat(f)
	}
}

// fields maps a struct's yaml key names to field indexes.
type fields struct {
	names  []string // in declaration order, for suggestions
	byName map[string][]int
}

// fieldsOf lists the exported fields of struct type t by yaml key: the
// tag's name, or the lowercased field name when the tag has none (as
// yaml.v3 does); tag "-" skips a field.
func fieldsOf(t reflect.Type) fields {
	fs := fields{byName: map[string][]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.names = append(fs.names, name)
		fs.byName[name] = f.Index
	}
	return fs
}

// wantOf names what a field of type t takes, for error messages.
func wantOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "a list"
	}
	return "a mapping"
}

// describe names what a node holds, for error messages: a quoted string,
// a plain scalar as written, "a mapping" or "a list".
func describe(n *yaml.Node) string {
	n = resolved(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		s := n.Value
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return strconv.Quote(s)
		case "!!null":
			return "null"
		}
		return s
	}
	return "nothing"
}

// resolved follows aliases to the node they name; a broken or cyclic
// chain stops at the last alias.
func resolved(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
