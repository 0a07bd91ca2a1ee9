package sipaddr

import "testing"

func TestParseAOR(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"sip:alice@Example.COM:5060;transport=tcp", "sip:alice@example.com", false},
		{"Alice <sip:alice@127.0.0.1:5070>;tag=abc", "sip:alice@127.0.0.1", false},
		{"sips:Bob@example.com", "sip:Bob@example.com", false},
		{"sip:example.com", "sip:example.com", false},
		{"<sip:alice@example.com", "", true},
		{"tel:+123", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAOR(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err %v, want error %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDomains(t *testing.T) {
	d := NewDomains([]string{"Example.com", "127.0.0.1", "[::1]"})
	for host, want := range map[string]bool{
		"example.com": true, "EXAMPLE.COM.": true, "other.com": false,
		"127.0.0.1": true, "::1": true, "[::1]": true, "10.0.0.1": false,
	} {
		if got := d.Serves(host); got != want {
			t.Errorf("Serves(%q) = %v, want %v", host, got, want)
		}
	}
	if !NewDomains(nil).Serves("anything.example") {
		t.Error("an empty list must serve every domain")
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "sip:a@b", true},
		{"sip:*@example.com", "sip:alice@example.com", true},
		{"sip:*@example.com", "sip:alice@example.org", false},
		{"sip:a?ice@*", "sip:alice@x", true},
		{"sip:1*", "sip:100@x", true},
		{"", "", true},
		{"", "a", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	}
	for _, tt := range tests {
		if got := Match(tt.p, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestUserDomain(t *testing.T) {
	if got := User("sip:alice@example.com"); got != "alice" {
		t.Errorf("got %q, want alice", got)
	}
	if got := Domain("sip:alice@example.com"); got != "example.com" {
		t.Errorf("got %q, want example.com", got)
	}
}
