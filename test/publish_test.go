package test

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

// TestPublishLifecycle walks one publication through RFC 3903: initial,
// refresh, modify, remove, and a refresh of the removed ETag.
func TestPublishLifecycle(t *testing.T) {
	d := startDaemon(t, baseConfig)
	ua := siptest.New(t, siptest.Options{})
	ctx := ctxT(t)
	pres := "sip:alice@127.0.0.1"
	publish := func(etag, expires string, body []byte) *sip.Response {
		t.Helper()
		h := map[string]string{"Event": "presence"}
		if etag != "" {
			h["SIP-If-Match"] = etag
		}
		if expires != "" {
			h["Expires"] = expires
		}
		res, _, err := ua.Send(ctx, d.UDP, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: h, ContentType: "application/pidf+xml", Body: body})
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		return res
	}

	res := publish("", "3600", pidfDoc(pres, "open", "hello"))
	if res.StatusCode != 200 {
		t.Fatalf("initial: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	etag1 := siptest.Header(res, "SIP-ETag")
	if etag1 == "" || siptest.Header(res, "Expires") != "3600" {
		t.Fatalf("initial: got SIP-ETag %q Expires %q, want an ETag and 3600", etag1, siptest.Header(res, "Expires"))
	}

	res = publish(etag1, "3600", nil)
	etag2 := siptest.Header(res, "SIP-ETag")
	if res.StatusCode != 200 || etag2 == "" || etag2 == etag1 {
		t.Fatalf("refresh: got %d ETag %q (old %q), want 200 and a new ETag", res.StatusCode, etag2, etag1)
	}
	if res := publish(etag1, "3600", nil); res.StatusCode != 412 {
		t.Fatalf("refresh with the replaced ETag: got %d, want 412", res.StatusCode)
	}

	res = publish(etag2, "", pidfDoc(pres, "closed", "bye"))
	etag3 := siptest.Header(res, "SIP-ETag")
	if res.StatusCode != 200 || etag3 == "" || etag3 == etag2 {
		t.Fatalf("modify: got %d ETag %q, want 200 and a new ETag", res.StatusCode, etag3)
	}
	var list []struct {
		URI          string
		Publications []struct{ ETag, Body string }
	}
	if err := d.mi("presence_list", nil, &list); err != nil {
		t.Fatalf("presence_list: %v", err)
	}
	if len(list) != 1 || len(list[0].Publications) != 1 || !strings.Contains(list[0].Publications[0].Body, "bye") || list[0].Publications[0].ETag != etag3 {
		t.Fatalf("presence_list after modify: got %+v, want one publication with the new body and ETag %s", list, etag3)
	}

	res = publish(etag3, "0", nil)
	if res.StatusCode != 200 || siptest.Header(res, "Expires") != "0" {
		t.Fatalf("remove: got %d Expires %q, want 200 and 0", res.StatusCode, siptest.Header(res, "Expires"))
	}
	if res := publish(etag3, "3600", nil); res.StatusCode != 412 {
		t.Fatalf("refresh after remove: got %d, want 412", res.StatusCode)
	}
	if err := d.mi("presence_list", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("presence_list after remove: got %+v, want nothing", list)
	}
}

// TestPublishErrors checks every refusal RFC 3903 and the issue ask for.
func TestPublishErrors(t *testing.T) {
	d := startDaemon(t, baseConfig+`
presence:
  min_expires_publish: 30
  max_expires_publish: 1800
  default_expires_publish: 1800
  max_body_size: 2048
`)
	ua := siptest.New(t, siptest.Options{})
	ctx := ctxT(t)
	pres := "sip:bob@127.0.0.1"
	good := pidfDoc(pres, "open", "x")
	tests := []struct {
		name       string
		headers    map[string]string
		ctype      string
		body       []byte
		wantCode   int
		wantHeader string // header that must be present
		wantValue  string // its value (substring)
		wantReason string // substring of the reason phrase
	}{
		{"missing event", map[string]string{}, "application/pidf+xml", good, 489, "Allow-Events", "presence", ""},
		{"unknown event", map[string]string{"Event": "weather"}, "application/pidf+xml", good, 489, "Allow-Events", "dialog", ""},
		{"compact event form", map[string]string{"o": "presence"}, "application/pidf+xml", good, 200, "SIP-ETag", "", ""},
		{"expires too brief", map[string]string{"Event": "presence", "Expires": "10"}, "application/pidf+xml", good, 423, "Min-Expires", "30", ""},
		{"expires capped", map[string]string{"Event": "presence", "Expires": "7200"}, "application/pidf+xml", good, 200, "Expires", "1800", ""},
		{"malformed expires", map[string]string{"Event": "presence", "Expires": "soon"}, "application/pidf+xml", good, 400, "", "", "Expires"},
		{"wrong content type", map[string]string{"Event": "presence"}, "text/plain", []byte("hello"), 415, "Accept", "application/pidf+xml", ""},
		{"malformed xml", map[string]string{"Event": "presence"}, "application/pidf+xml", []byte("<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple>"), 400, "", "", "invalid body"},
		{"wrong root", map[string]string{"Event": "presence"}, "application/pidf+xml", []byte(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"/>`), 400, "", "", "presence"},
		{"entity expansion", map[string]string{"Event": "presence"}, "application/pidf+xml", []byte(`<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x">&b;</presence>`), 400, "", "", ""},
		{"deep nesting", map[string]string{"Event": "presence"}, "application/pidf+xml", []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</presence>`), 400, "", "", ""},
		{"oversized body", map[string]string{"Event": "presence"}, "application/pidf+xml", []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"><note>` + strings.Repeat("x", 4000) + `</note></presence>`), 413, "", "", ""},
		{"initial without body", map[string]string{"Event": "presence"}, "", nil, 400, "", "", "body"},
		{"unknown etag", map[string]string{"Event": "presence", "SIP-If-Match": "nope"}, "", nil, 412, "", "", ""},
		{"dialog body on presence", map[string]string{"Event": "presence"}, "application/dialog-info+xml", []byte(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="x"/>`), 415, "Accept", "pidf", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := ua.Send(ctx, d.UDP, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: tt.headers, ContentType: tt.ctype, Body: tt.body})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			if res.StatusCode != tt.wantCode {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tt.wantCode)
			}
			if tt.wantHeader != "" {
				v := siptest.Header(res, tt.wantHeader)
				if v == "" || !strings.Contains(v, tt.wantValue) {
					t.Errorf("%s: got %q, want it to contain %q", tt.wantHeader, v, tt.wantValue)
				}
			}
			if !strings.Contains(res.Reason, tt.wantReason) {
				t.Errorf("reason: got %q, want it to contain %q", res.Reason, tt.wantReason)
			}
		})
	}
}

// TestPublishDomains checks that a restricted daemon refuses other domains.
func TestPublishDomains(t *testing.T) {
	d := startDaemon(t, baseConfig+`
domains: ["example.com"]
`)
	ua := siptest.New(t, siptest.Options{})
	ctx := ctxT(t)
	for uri, want := range map[string]int{"sip:alice@example.com": 200, "sip:alice@example.org": 404} {
		res, _, err := ua.Send(ctx, d.UDP, siptest.Request{Method: sip.PUBLISH, URI: uri, Headers: map[string]string{"Event": "presence"}, ContentType: "application/pidf+xml", Body: pidfDoc(uri, "open", "")})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != want {
			t.Errorf("%s: got %d, want %d", uri, res.StatusCode, want)
		}
	}
}
