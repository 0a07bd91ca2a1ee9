package xmpp

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Presence types (RFC 6121 section 4.7.1); "" is available.
const (
	Available    = ""
	Unavailable  = "unavailable"
	Subscribe    = "subscribe"
	Subscribed   = "subscribed"
	Unsubscribe  = "unsubscribe"
	Unsubscribed = "unsubscribed"
	Probe        = "probe"
	TypeError    = "error"
)

// Show values (RFC 6121 section 4.7.2.1).
const (
	ShowAway = "away"
	ShowChat = "chat"
	ShowDND  = "dnd"
	ShowXA   = "xa"
)

// Stanza is a presence or a message the gateway sends.
type Stanza interface {
	addrs() (from, to string)
	kind() string
}

// Presence is a <presence/> stanza.
type Presence struct {
	From, To string // JIDs
	ID       string
	Type     string // Available (""), Unavailable, Subscribe, ...
	Show     string // "", away, chat, dnd, xa
	Status   string
	Priority int  // -128..127
	HasPrio  bool // Priority was given
	Error    *StanzaError
}

func (p Presence) addrs() (string, string) { return p.From, p.To }
func (Presence) kind() string              { return "presence" }

// Message is a <message/> stanza.
type Message struct {
	From, To string
	ID       string
	Type     string // chat, normal, headline, groupchat, error
	Body     string
	Thread   string
	Error    *StanzaError
}

func (m Message) addrs() (string, string) { return m.From, m.To }
func (Message) kind() string              { return "message" }

// StanzaError is a stanza error (RFC 6120 section 8.3).
type StanzaError struct {
	Type      string // cancel, continue, modify, auth, wait
	Condition string // e.g. item-not-found
	Text      string
}

func (e *StanzaError) Error() string {
	if e.Text != "" {
		return e.Condition + ": " + e.Text
	}
	return e.Condition
}

// nsStanzas is the namespace of stanza error conditions.
const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// wire forms. Element names carry no namespace: on the way in they match
// the stream's (jabber:component:accept), on the way out they inherit it.

type presenceXML struct {
	XMLName  xml.Name   `xml:"presence"`
	From     string     `xml:"from,attr,omitempty"`
	To       string     `xml:"to,attr,omitempty"`
	ID       string     `xml:"id,attr,omitempty"`
	Type     string     `xml:"type,attr,omitempty"`
	Show     string     `xml:"show,omitempty"`
	Status   []langText `xml:"status,omitempty"`
	Priority string     `xml:"priority,omitempty"`
	Error    *errorXML  `xml:"error,omitempty"`
}

type messageXML struct {
	XMLName xml.Name   `xml:"message"`
	From    string     `xml:"from,attr,omitempty"`
	To      string     `xml:"to,attr,omitempty"`
	ID      string     `xml:"id,attr,omitempty"`
	Type    string     `xml:"type,attr,omitempty"`
	Body    []langText `xml:"body,omitempty"`
	Thread  string     `xml:"thread,omitempty"`
	Error   *errorXML  `xml:"error,omitempty"`
}

type langText struct {
	Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
	Text string `xml:",chardata"`
}

type errorXML struct {
	Type      string
	Condition string
	Text      string
}

func (e *errorXML) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Local == "type" {
			e.Type = a.Value
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "text":
				var s string
				if err := d.DecodeElement(&s, &t); err != nil {
					return err
				}
				e.Text = s
				continue
			case t.Name.Space == nsStanzas && e.Condition == "":
				e.Condition = t.Name.Local
			}
			if err := d.Skip(); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

func (e *errorXML) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Local: "error"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: e.Type}}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	cond := xml.StartElement{Name: xml.Name{Space: nsStanzas, Local: e.Condition}}
	if err := enc.EncodeToken(cond); err != nil {
		return err
	}
	if err := enc.EncodeToken(cond.End()); err != nil {
		return err
	}
	if e.Text != "" {
		text := xml.StartElement{Name: xml.Name{Space: nsStanzas, Local: "text"}}
		if err := enc.EncodeElement(e.Text, text); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

func errorToXML(e *StanzaError) *errorXML {
	if e == nil {
		return nil
	}
	t := e.Type
	if t == "" {
		t = errorType(e.Condition)
	}
	return &errorXML{Type: t, Condition: e.Condition, Text: e.Text}
}

func errorFromXML(e *errorXML) *StanzaError {
	if e == nil {
		return nil
	}
	return &StanzaError{Type: e.Type, Condition: e.Condition, Text: e.Text}
}

// pickText returns the text without xml:lang or else the first one.
func pickText(ts []langText) string {
	for _, t := range ts {
		if t.Lang == "" {
			return t.Text
		}
	}
	if len(ts) > 0 {
		return ts[0].Text
	}
	return ""
}

// marshalable returns the wire form of a stanza.
func marshalable(s Stanza) any {
	switch v := s.(type) {
	case Presence:
		p := presenceXML{From: v.From, To: v.To, ID: v.ID, Type: v.Type, Show: v.Show, Error: errorToXML(v.Error)}
		if v.Status != "" {
			p.Status = []langText{{Text: v.Status}}
		}
		if v.HasPrio {
			p.Priority = strconv.Itoa(v.Priority)
		}
		return &p
	case Message:
		m := messageXML{From: v.From, To: v.To, ID: v.ID, Type: v.Type, Thread: v.Thread, Error: errorToXML(v.Error)}
		if v.Body != "" {
			m.Body = []langText{{Text: v.Body}}
		}
		return &m
	}
	return nil
}

// Decode reads one presence or message stanza from r, whose first token
// is its start element, and checks it as the gateway does. Other
// elements give ErrNotStanza.
func Decode(r xml.TokenReader) (Stanza, error) {
	d := xml.NewTokenDecoder(r)
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, ErrNotStanza
	}
	switch start.Name.Local {
	case "presence":
		var x presenceXML
		if err := d.DecodeElement(&x, &start); err != nil {
			return nil, err
		}
		return decodePresence(&x)
	case "message":
		var x messageXML
		if err := d.DecodeElement(&x, &start); err != nil {
			return nil, err
		}
		return decodeMessage(&x)
	}
	return nil, ErrNotStanza
}

// ErrNotStanza is Decode's error for an element that is not a presence or
// a message.
var ErrNotStanza = errors.New("not a presence or message stanza")

// Encode returns the XML of a stanza, without a namespace: on a stream it
// takes the stream's (jabber:component:accept, jabber:client).
func Encode(s Stanza) ([]byte, error) {
	return xml.Marshal(marshalable(s))
}

// decodePresence checks a decoded presence: a known type, a known show,
// a priority in range.
func decodePresence(x *presenceXML) (Presence, error) {
	p := Presence{From: x.From, To: x.To, ID: x.ID, Type: x.Type, Show: strings.TrimSpace(x.Show), Status: pickText(x.Status), Error: errorFromXML(x.Error)}
	switch p.Type {
	case Available, Unavailable, Subscribe, Subscribed, Unsubscribe, Unsubscribed, Probe, TypeError:
	default:
		return p, fmt.Errorf("unknown presence type %q", p.Type)
	}
	switch p.Show {
	case "", ShowAway, ShowChat, ShowDND, ShowXA:
	default:
		return p, fmt.Errorf("unknown show %q", p.Show)
	}
	if s := strings.TrimSpace(x.Priority); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -128 || n > 127 {
			return p, fmt.Errorf("priority %q is not an integer in -128..127", x.Priority)
		}
		p.Priority, p.HasPrio = n, true
	}
	if p.Type == TypeError && p.Error == nil {
		return p, fmt.Errorf("presence of type error without <error/>")
	}
	return p, nil
}

func decodeMessage(x *messageXML) (Message, error) {
	m := Message{From: x.From, To: x.To, ID: x.ID, Type: x.Type, Body: pickText(x.Body), Thread: x.Thread, Error: errorFromXML(x.Error)}
	switch m.Type {
	case "":
		m.Type = "normal"
	case "chat", "normal", "headline", "groupchat", "error":
	default:
		return m, fmt.Errorf("unknown message type %q", m.Type)
	}
	return m, nil
}

// errorType is the usual error type of a condition (RFC 6120 8.3.3).
func errorType(cond string) string {
	switch cond {
	case "bad-request", "jid-malformed", "not-acceptable", "policy-violation", "redirect", "gone":
		return "modify"
	case "forbidden", "not-authorized", "registration-required", "subscription-required":
		return "auth"
	case "recipient-unavailable", "remote-server-timeout", "resource-constraint", "unexpected-request":
		return "wait"
	}
	return "cancel"
}
