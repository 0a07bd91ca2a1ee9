package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kinds holds every kind of field the decoder supports, including those
// no section uses yet.
type kinds struct {
	Name    string            `yaml:"name"`
	On      bool              `yaml:"on"`
	Count   int               `yaml:"count"`
	Small   int8              `yaml:"small"`
	Size    uint32            `yaml:"size"`
	Ratio   float64           `yaml:"ratio"`
	Tags    []string          `yaml:"tags"`
	Inner   inner             `yaml:"inner"`
	Items   []inner           `yaml:"items"`
	Ptr     *inner            `yaml:"ptr"`
	Labels  map[string]string `yaml:"labels"`
	Groups  map[string]inner  `yaml:"groups"`
	Skipped string            `yaml:"-"`
	NoTag   string
	hidden  string
}

type inner struct {
	A int    `yaml:"a"`
	B string `yaml:"b"`
}

// decodeInto overlays doc on v the way Parse does, without validation.
func decodeInto(doc string, v any) []string {
	errs := &Errors{}
	newDecoder(errs).document([]byte(doc), reflect.ValueOf(v).Elem())
	var out []string
	for _, e := range errs.List {
		out = append(out, e.Error())
	}
	return out
}

func TestDecodeKinds(t *testing.T) {
	start := func() kinds {
		return kinds{
			Name: "def", Count: 7, Tags: []string{"x"}, Ptr: &inner{A: 1, B: "keep"},
			Labels: map[string]string{"keep": "yes"}, Skipped: "s", hidden: "h",
		}
	}
	for _, tc := range []struct {
		name string
		doc  string
		want func(k *kinds)
		errs []string
	}{
		{
			name: "all kinds",
			doc: `name: n
on: true
count: -3
small: 127
size: 4000000000
ratio: 0.5
tags: [a, b]
inner: {a: 1, b: x}
items: [{a: 2}, {b: y}]
ptr: {a: 5}
labels: {k: v}
groups: {g: {a: 9}}
notag: plain
`,
			want: func(k *kinds) {
				k.Name, k.On, k.Count, k.Small, k.Size, k.Ratio = "n", true, -3, 127, 4000000000, 0.5
				k.Tags = []string{"a", "b"}
				k.Inner = inner{A: 1, B: "x"}
				k.Items = []inner{{A: 2}, {B: "y"}}
				k.Ptr = &inner{A: 5, B: "keep"}
				k.Labels = map[string]string{"keep": "yes", "k": "v"}
				k.Groups = map[string]inner{"g": {A: 9}}
				k.NoTag = "plain"
			},
		},
		{
			name: "integer forms",
			doc:  "count: 0x10\nsize: 0o17\nratio: 3\n",
			want: func(k *kinds) { k.Count, k.Size, k.Ratio = 16, 15, 3 },
		},
		{
			name: "null pointer keeps it",
			doc:  "ptr:\ntags: ~\n",
			want: func(*kinds) {},
		},
		{
			name: "range errors",
			doc:  "small: 128\nsize: -1\nratio: x\n",
			want: func(*kinds) {},
			errs: []string{
				"small: 128 is out of range (line 1)",
				"size: want non-negative integer, got -1 (line 2)",
				`ratio: want number, got "x" (line 3)`,
			},
		},
		{
			name: "skipped and unexported fields are unknown keys",
			doc:  "skipped: x\nhidden: y\n",
			want: func(*kinds) {},
			errs: []string{"skipped: unknown key (line 1)", "hidden: unknown key (line 2)"},
		},
		{
			name: "map values are checked",
			doc:  "groups: {g: {a: x, c: 1}}\nlabels: {k: [1]}\n",
			want: func(k *kinds) { k.Groups = map[string]inner{"g": {}}; k.Labels["k"] = "" },
			errs: []string{
				`groups.g.a: want integer, got "x" (line 1)`,
				"groups.g.c: unknown key (line 1)",
				"labels.k: want string, got a list (line 2)",
			},
		},
		{
			name: "merge key values",
			doc:  "inner:\n  <<: [{a: 1, b: one}, {a: 2, b: two}]\n  b: own\nitems:\n  - <<: 5\n",
			want: func(k *kinds) { k.Inner = inner{A: 1, B: "own"}; k.Items = []inner{{}} },
			errs: []string{"items[0]: want a mapping, got 5 (line 5)"},
		},
		{
			name: "merge of a list item that is not a mapping",
			doc:  "inner:\n  <<: [{a: 1}, [2]]\n",
			want: func(k *kinds) { k.Inner = inner{A: 1} },
			errs: []string{"inner: merge: want a mapping, got a list (line 2)"},
		},
		{
			name: "alias to a scalar and to a list",
			doc:  "name: &n hello\nnotag: *n\ntags: &t [p, q]\nitems: *t\n",
			want: func(k *kinds) {
				k.Name, k.NoTag, k.Tags = "hello", "hello", []string{"p", "q"}
				k.Items = []inner{{}, {}}
			},
			errs: []string{
				`items[0]: want a mapping, got "p" (line 3)`,
				`items[1]: want a mapping, got "q" (line 3)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := start()
			errs := decodeInto(tc.doc, &got)
			want := start()
			tc.want(&want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(kinds{})); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// tree nests without bound, as a future section might through lists.
type tree struct {
	Kids []tree `yaml:"kids"`
}

// TestAliasExpansion checks that a small document whose aliases expand
// to a huge tree ("billion laughs") is cut short, and that an alias
// inside its own anchor is reported, not followed forever.
func TestAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 {kids: []}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {kids: [%s*l%d]}\n", i, i, strings.Repeat(fmt.Sprintf("*l%d,", i-1), 9), i-1)
	}
	b.WriteString("kids: [*l9]\n")
	var v tree
	errs := decodeInto(b.String(), &v)
	want := fmt.Sprintf(": document too complex: over %d nodes with aliases expanded", baseSteps+stepsPerByte*b.Len())
	if n := len(errs); n == 0 || !strings.Contains(errs[n-1], want) {
		t.Errorf("got errors %q, want the last one containing %q", errs, want)
	}

	errs = decodeInto("kids: &k [{kids: *k}]\n", &v)
	if diff := cmp.Diff([]string{"kids[0].kids[0].kids: alias *k contains itself (line 1)"}, errs); diff != "" {
		t.Errorf("cycle (-want +got):\n%s", diff)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"enabled", "listen", "min_expires_publish", "max_expires_publish", "force_single_dialog", "t1_ms", "a"}
	for _, tc := range []struct{ key, want string }{
		{"enabeld", "enabled"},
		{"Enabled", "enabled"},
		{"listn", "listen"},
		{"min-expires-publish", "min_expires_publish"},
		{"max_expire_publish", "max_expires_publish"},
		{"force_single", "force_single_dialog"},
		{"t1", "t1_ms"},
		{"e", ""},
		{"t1_msec", "t1_ms"},
		{"b", ""},
		{"ab", ""},
		{"frobnicate", ""},
		{"expires", ""},
	} {
		if got := suggest(tc.key, known); got != tc.want {
			t.Errorf("suggest(%q): got %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestSupportedTypes checks that every field of Config, down to the
// leaves, has a yaml tag and a type the decoder handles, so that a new
// section fails here rather than at a user's first config.
func TestSupportedTypes(t *testing.T) {
	var check func(path string, ty reflect.Type)
	check = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.String, reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
		case reflect.Slice:
			check(path+"[]", ty.Elem())
		case reflect.Map:
			if ty.Key().Kind() != reflect.String {
				t.Errorf("%s: got map key %s, want string", path, ty.Key())
			}
			check(path+".*", ty.Elem())
		case reflect.Pointer:
			if ty.Elem().Kind() != reflect.Struct {
				t.Errorf("%s: got pointer to %s, want pointer to struct", path, ty.Elem())
			}
			check(path, ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				f := ty.Field(i)
				if !f.IsExported() {
					continue
				}
				tag := f.Tag.Get("yaml")
				name, opts, _ := strings.Cut(tag, ",")
				if name == "" || opts != "" {
					t.Errorf("%s: field %s has yaml tag %q, want a plain key name", path, f.Name, tag)
				}
				if name != "-" {
					check(join(path, name), f.Type)
				}
			}
		default:
			t.Errorf("%s: got unsupported type %s", path, ty)
		}
	}
	check("", reflect.TypeFor[Config]())
}
