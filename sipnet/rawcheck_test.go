package sipnet

import "testing"

func TestRawChecks(t *testing.T) {
	tests := []struct {
		name, msg, repeated, method string
	}{
		{"clean", "OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: a\r\n\r\n", "", "OPTIONS"},
		{"two Call-IDs apart", "OPTIONS sip:x@h SIP/2.0\r\nCall-ID: a\r\nX: 1\r\nCall-ID: b\r\n\r\n", "Call-ID", "OPTIONS"},
		{"compact and long From", "OPTIONS sip:x@h SIP/2.0\r\nf: <sip:a@h>\r\nFrom: <sip:b@h>\r\n\r\n", "From", "OPTIONS"},
		{"two CSeq", "OPTIONS sip:x@h SIP/2.0\r\nCSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\n\r\n", "CSeq", "OPTIONS"},
		{"body not scanned", "OPTIONS sip:x@h SIP/2.0\r\nCall-ID: a\r\n\r\nCall-ID: b\r\n", "", "OPTIONS"},
		{"folded line", "OPTIONS sip:x@h SIP/2.0\r\nSubject: a\r\n Call-ID: b\r\nCall-ID: c\r\n\r\n", "", "OPTIONS"},
		{"lower-case method", "options sip:x@h SIP/2.0\r\n\r\n", "", "options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := repeatedRawHeader([]byte(tt.msg)); got != tt.repeated {
				t.Errorf("repeated: got %q, want %q", got, tt.repeated)
			}
			if got := rawMethod([]byte(tt.msg)); got != tt.method {
				t.Errorf("method: got %q, want %q", got, tt.method)
			}
		})
	}
}
