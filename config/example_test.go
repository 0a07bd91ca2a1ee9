package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

const examplePath = "../presenced.example.yaml"

// TestExampleConfig keeps presenced.example.yaml valid, equal to the
// defaults, complete (every key of every section) and documented (a
// comment on every key).
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("got errors:\n%v\nwant none", err)
	}
	if diff := cmp.Diff(Default(), got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("example differs from Default() (-want +got):\n%s", diff)
	}

	// Every key path of Config is set in the file; the keys of list
	// items (authorization rules) are at least shown in a comment.
	errs := &Errors{}
	d := newDecoder(errs)
	d.document(data, reflect.ValueOf(Default()).Elem())
	for _, p := range keyPaths("", reflect.TypeFor[Config]()) {
		if item, key, ok := strings.Cut(p, "[]."); ok {
			if _, set := d.lines[item]; !set || !strings.Contains(string(data), key+":") {
				t.Errorf("%s: got no %s list with a commented %s: key, want one", examplePath, item, key)
			}
			continue
		}
		if _, set := d.lines[p]; !set {
			t.Errorf("%s: got no key %s, want it with its default", examplePath, p)
		}
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checkCommented(t, "", doc.Content[0])
}

// keyPaths lists the leaf key paths of type ty, a list of structs as
// "path[].key" for each of the item's keys.
func keyPaths(path string, ty reflect.Type) []string {
	switch ty.Kind() {
	case reflect.Pointer:
		return keyPaths(path, ty.Elem())
	case reflect.Struct:
		var out []string
		fs := fieldsOf(ty)
		for _, name := range fs.names {
			out = append(out, keyPaths(join(path, name), ty.FieldByIndex(fs.byName[name]).Type)...)
		}
		return out
	case reflect.Slice:
		if e := ty.Elem(); e.Kind() == reflect.Struct {
			var out []string
			for _, k := range keyPaths("", e) {
				out = append(out, path+"[]."+k)
			}
			return out
		}
	}
	return []string{path}
}

// checkCommented fails for each key of n, a mapping, without a comment.
func checkCommented(t *testing.T, path string, n *yaml.Node) {
	t.Helper()
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := join(path, k.Value)
		if strings.TrimSpace(k.HeadComment+k.LineComment) == "" {
			t.Errorf("%s:%d: key %s has no comment, want its meaning", examplePath, k.Line, p)
		}
		checkCommented(t, p, n.Content[i+1])
	}
}
