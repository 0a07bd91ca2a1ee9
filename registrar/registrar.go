// Package registrar processes REGISTER requests (RFC 3261 section 10.3)
// into the location service: bindings added, refreshed and removed,
// Contact: * with Expires 0, q-values, Call-ID/CSeq ordering, 423 with
// Min-Expires, a cap on contacts per AOR, +sip.instance and reg-id (RFC
// 5626) and Path (RFC 3327). The 200 lists every current binding with its
// remaining expires.
package registrar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/usrloc"
)

// Locations is what the registrar needs from the location service.
type Locations interface {
	Update(ctx context.Context, aor string, req *sip.Request, f func(now time.Time, current []usrloc.Binding) ([]usrloc.Change, error)) ([]usrloc.Binding, error)
}

var _ Locations = (*usrloc.Service)(nil)

// SIP is what the registrar needs from the SIP layer.
type SIP interface {
	Handle(method sip.RequestMethod, h sipnet.Handler)
}

// Deps are the registrar's collaborators.
type Deps struct {
	SIP       SIP
	Locations Locations
	Domains   *sipaddr.Domains
	Logger    *slog.Logger
}

// Registrar is the REGISTER handler.
type Registrar struct {
	cfg     Config
	log     *slog.Logger
	loc     Locations
	domains *sipaddr.Domains
}

// New builds the registrar and registers its REGISTER handler; call it
// before the SIP stack starts.
func New(cfg Config, deps Deps) (*Registrar, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("registrar config: %w", errors.Join(errs...))
	}
	if deps.SIP == nil || deps.Locations == nil {
		return nil, errors.New("registrar: SIP and Locations are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registrar{cfg: cfg, log: log.With("module", "registrar"), loc: deps.Locations, domains: deps.Domains}
	deps.SIP.Handle(sip.REGISTER, r.handle)
	return r, nil
}

// regError is a REGISTER refused: the status, its reason phrase, and
// headers to add.
type regError struct {
	code   int
	reason string
	hdrs   []sip.Header
}

func (e *regError) Error() string { return strconv.Itoa(e.code) + " " + e.reason }

func refuse(code int, reason string, hdrs ...sip.Header) *regError {
	return &regError{code, reason, hdrs}
}

// contact is one Contact of a REGISTER, checked.
type contact struct {
	uri      string
	expires  int
	q        int
	instance string
	regID    int
}

// handle runs on a SIP worker; the location update is answered from its
// own goroutine since it waits for the store.
func (r *Registrar) handle(tx *sipnet.ServerTx) {
	if tx.RejectUnsupported("path", "outbound") {
		return
	}
	req := tx.Request()
	aor, contacts, wildcard, err := r.check(req)
	if err != nil {
		r.refuse(tx, err)
		return
	}
	go r.register(tx, req, aor, contacts, wildcard)
}

func (r *Registrar) refuse(tx *sipnet.ServerTx, err error) {
	var re *regError
	if errors.As(err, &re) {
		_ = tx.Reply(re.code, re.reason, re.hdrs...)
		return
	}
	r.log.Error("register failed", "err", err)
	_ = tx.Reply(500, "Server Internal Error")
}

// check validates a REGISTER and parses its AOR and Contacts (RFC 3261
// 10.3 steps 1 to 5).
func (r *Registrar) check(req *sip.Request) (string, []contact, bool, error) {
	to := req.To()
	if to == nil {
		return "", nil, false, refuse(400, "Bad Request (missing To)")
	}
	u := to.Address
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return "", nil, false, refuse(400, "Bad Request (To is not a SIP URI)")
	}
	user, host := u.User, u.Host
	if user == "" {
		// "sip:1001": an AOR written without its domain.
		if r.cfg.DefaultDomain == "" {
			return "", nil, false, refuse(400, "Bad Request (AOR without a domain and no default_domain)")
		}
		user, host = host, r.cfg.DefaultDomain
	}
	if host == "" || user == "" {
		return "", nil, false, refuse(400, "Bad Request (malformed To URI)")
	}
	if !r.domains.Serves(host) {
		return "", nil, false, refuse(r.cfg.ForeignDomainCode, "Domain Not Served")
	}
	aor := sipaddr.Make(user, host)

	defExp := r.cfg.DefaultExpires
	if v, ok := header(req, "Expires"); ok {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return "", nil, false, refuse(400, "Bad Request (malformed Expires)")
		}
		defExp = int(min(n, 1<<31-1))
	}
	var contacts []contact
	wildcard := false
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return "", nil, false, refuse(400, "Bad Request (malformed Contact)")
		}
		if c.Address.Wildcard {
			wildcard = true
			continue
		}
		if c.Address.Host == "" || (c.Address.Scheme != "sip" && c.Address.Scheme != "sips") {
			return "", nil, false, refuse(400, "Bad Request (malformed Contact URI)")
		}
		ct := contact{uri: c.Address.String(), expires: defExp, q: -1}
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return "", nil, false, refuse(400, "Bad Request (malformed Contact expires)")
			}
			ct.expires = int(min(n, 1<<31-1))
		}
		if v, ok := c.Params.Get("q"); ok {
			q, err := parseQ(v)
			if err != nil {
				return "", nil, false, refuse(400, "Bad Request (malformed q-value)")
			}
			ct.q = q
		}
		if v, ok := c.Params.Get("+sip.instance"); ok {
			ct.instance = strings.Trim(v, `"`)
		}
		if v, ok := c.Params.Get("reg-id"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return "", nil, false, refuse(400, "Bad Request (malformed reg-id)")
			}
			ct.regID = n
		}
		if ct.expires != 0 && ct.expires < r.cfg.MinExpires {
			return "", nil, false, refuse(423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(r.cfg.MinExpires)))
		}
		ct.expires = min(ct.expires, r.cfg.MaxExpires)
		contacts = append(contacts, ct)
	}
	if wildcard && (len(contacts) > 0 || defExp != 0) {
		// RFC 3261 10.3 step 6: "*" only alone and with Expires: 0.
		return "", nil, false, refuse(400, "Bad Request (Contact: * needs Expires: 0 and no other Contact)")
	}
	return aor, contacts, wildcard, nil
}

// parseQ parses a q-value ("0.5", "1", "1.000") into thousandths.
func parseQ(v string) (int, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 1 {
		return 0, errors.New("q-value out of range")
	}
	return int(f*1000 + 0.5), nil
}

// register applies a checked REGISTER to the location service and answers
// with the bindings that result (RFC 3261 10.3 steps 6 to 8).
func (r *Registrar) register(tx *sipnet.ServerTx, req *sip.Request, aor string, contacts []contact, wildcard bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callID := string(*req.CallID())
	cseq := req.CSeq().SeqNo
	var path []string
	for _, h := range req.GetHeaders("Path") {
		path = append(path, h.Value())
	}
	ua, _ := header(req, "User-Agent")
	list, err := r.loc.Update(ctx, aor, req, func(now time.Time, current []usrloc.Binding) ([]usrloc.Change, error) {
		if len(contacts) == 0 && !wildcard {
			return nil, nil // a query: the 200 lists the bindings
		}
		var changes []usrloc.Change
		if wildcard {
			for _, b := range current {
				if b.CallID == callID && cseq <= b.CSeq {
					return nil, refuse(500, "Server Internal Error (CSeq out of order)")
				}
				changes = append(changes, usrloc.Change{Remove: true, Binding: b})
			}
			return changes, nil
		}
		count := len(current)
		for _, c := range contacts {
			i := match(current, c)
			if i >= 0 {
				b := current[i]
				if b.CallID == callID && cseq <= b.CSeq {
					return nil, refuse(500, "Server Internal Error (CSeq out of order)")
				}
				if c.expires == 0 {
					changes = append(changes, usrloc.Change{Remove: true, Binding: b})
					count--
					continue
				}
				b.Contact = c.uri
				changes = append(changes, usrloc.Change{Binding: r.fill(b, c, now, callID, cseq, path, ua, tx)})
				continue
			}
			if c.expires == 0 {
				continue // removing what is not there
			}
			count++
			changes = append(changes, usrloc.Change{Binding: r.fill(usrloc.Binding{Contact: c.uri}, c, now, callID, cseq, path, ua, tx)})
		}
		if r.cfg.MaxContacts > 0 && count > r.cfg.MaxContacts {
			return nil, refuse(403, "Forbidden (too many contacts, at most "+strconv.Itoa(r.cfg.MaxContacts)+")")
		}
		return changes, nil
	})
	if err != nil {
		r.refuse(tx, err)
		return
	}
	res := tx.NewResponse(200, "OK")
	now := time.Now()
	for _, b := range list {
		u, err := sipaddr.Parse(b.Contact)
		if err != nil {
			continue
		}
		ch := &sip.ContactHeader{Address: u, Params: sip.NewParams()}
		ch.Params.Add("expires", strconv.Itoa(max(0, int((b.Expires.Sub(now)+time.Second-1)/time.Second))))
		if b.Q >= 0 {
			ch.Params.Add("q", usrloc.FormatQ(b.Q))
		}
		if b.Instance != "" {
			ch.Params.Add("+sip.instance", `"`+b.Instance+`"`)
		}
		if b.RegID > 0 {
			ch.Params.Add("reg-id", strconv.Itoa(b.RegID))
		}
		res.AppendHeader(ch)
	}
	for _, p := range path {
		res.AppendHeader(sip.NewHeader("Path", p))
	}
	if len(path) > 0 {
		res.AppendHeader(sip.NewHeader("Supported", "path"))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	_ = tx.Respond(res)
}

// match finds the binding a contact refers to: by instance and reg-id
// when the contact has an instance (RFC 5626), else by URI.
func match(current []usrloc.Binding, c contact) int {
	for i, b := range current {
		if c.instance != "" {
			if b.Instance == c.instance && b.RegID == c.regID {
				return i
			}
			continue
		}
		if b.Instance == "" && sameURI(b.Contact, c.uri) {
			return i
		}
	}
	return -1
}

// sameURI compares contact URIs as RFC 3261 19.1.4 does in the cases that
// matter here: scheme, user, host (case-insensitive), port, transport.
func sameURI(a, b string) bool {
	if a == b {
		return true
	}
	ua, err1 := sipaddr.Parse(a)
	ub, err2 := sipaddr.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ta, _ := ua.UriParams.Get("transport")
	tb, _ := ub.UriParams.Get("transport")
	return ua.Scheme == ub.Scheme && ua.User == ub.User && strings.EqualFold(ua.Host, ub.Host) &&
		ua.Port == ub.Port && strings.EqualFold(ta, tb)
}

func (r *Registrar) fill(b usrloc.Binding, c contact, now time.Time, callID string, cseq uint32, path []string, ua string, tx *sipnet.ServerTx) usrloc.Binding {
	// The strings that come from the REGISTER are copied: as parsed they
	// share memory with its header lines, which the binding would keep
	// alive for as long as it lives.
	b.Expires = now.Add(time.Duration(c.expires) * time.Second)
	b.Q = c.q
	b.Contact = strings.Clone(b.Contact)
	b.CallID, b.CSeq = strings.Clone(callID), cseq
	b.Instance, b.RegID = strings.Clone(c.instance), c.regID
	if len(path) > 0 {
		b.Path = make([]string, len(path))
		for i, p := range path {
			b.Path[i] = strings.Clone(p)
		}
	}
	b.Received = tx.Source().String()
	b.Transport = tx.Transport()
	b.UserAgent = strings.Clone(ua)
	return b
}

func header(m interface{ Headers() []sip.Header }, name string) (string, bool) {
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h.Value(), true
		}
	}
	return "", false
}
