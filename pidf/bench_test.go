package pidf

import "testing"

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"minimal", "polycom", "bria"} {
		body := sample(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMerge3 merges three parsed publications into one NOTIFY body.
func BenchmarkMerge3(b *testing.B) {
	docs := mergeInputs(b)
	b.ReportAllocs()
	for b.Loop() {
		Merge("sip:alice@example.com", docs)
	}
}

func BenchmarkBasic(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Basic(true, "sip:alice@example.com", "a8f3c2", "")
	}
}

func BenchmarkMarshal(b *testing.B) {
	d := mustParse(b, sample(b, "bria"))
	b.ReportAllocs()
	for b.Loop() {
		Marshal(d)
	}
}
