// Package pua is the presence user agent core: it sends PUBLISH (RFC 3903)
// and SUBSCRIBE (RFC 6665) on behalf of the pua_* modules and keeps their
// records: entity-tags, granted and desired expiry, subscription dialogs.
//
// Each record belongs to a source (the owning module) and an owner id, so
// several modules publish for one presentity without clobbering each
// other. One request is in flight per record; later ones wait in the
// record's queue and go out with the newest entity-tag, so two updates
// issued at once never race to a 412. Replies: 2xx keeps the entity-tag
// and the granted expiry; 412 re-publishes the cached body as a new
// initial publication (the server no longer holds the old one, so nothing
// is duplicated); 423 retries with the Min-Expires given; a timeout, 408
// or 5xx retries with backoff (Retry-After honoured) and keeps the record;
// other errors end the record and tell its owner. Records are refreshed at
// a safe fraction before the granted expiry and never withdrawn before the
// owner's desired expiry; "until removed" records are refreshed forever.
//
// Incoming NOTIFYs are matched to their subscription dialog, answered,
// and handed to the owning module's handler; a NOTIFY for no known dialog
// gets 481.
//
// Ordering: records are spread over shards by presentity; one goroutine
// per shard owns them (internal/shard). The dialog index (Call-ID and
// local tag to record) is the only state shared across shards.
// Persistence: records are written behind by one committer goroutine
// (internal/commit); after a restart, refreshes carry on with the stored
// entity-tags and dialogs.
package pua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/commit"
	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// SIP is what the pua core needs from the SIP layer.
type SIP interface {
	Handle(method sip.RequestMethod, h sipnet.Handler)
	Send(req *sip.Request, opts sipnet.SendOptions, done func(*sip.Response, error)) error
	ContactURI(transport, user string) sip.Uri
	Addr(transport string) (netip.AddrPort, bool)
}

var _ SIP = (*sipnet.Stack)(nil)

// Deps are the pua core's collaborators.
type Deps struct {
	SIP        SIP
	Store      Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Handler is what an owning module hears from the pua core. Every func may
// be nil; they run on a shard goroutine and must return promptly.
type Handler struct {
	// Notify is called for each NOTIFY of one of the module's
	// subscriptions; the NOTIFY is answered with the code returned (200
	// when 0). Sub is a copy taken after the NOTIFY was applied.
	Notify func(sub Subscription, n *sip.Request) (code int, reason string)
	// PublicationEnded is called when a publication ends for any reason
	// but the owner's own removal: refused, expired, given up.
	PublicationEnded func(p Publication, r Result)
	// SubscriptionEnded is called when a subscription ends for any reason
	// but the owner's own unsubscribe (refused, terminated by the notifier).
	SubscriptionEnded func(s Subscription, r Result)
}

// Client is the pua core.
type Client struct {
	cfg      Config
	log      *slog.Logger
	sip      SIP
	store    Store
	handlers map[Source]Handler
	group    *shard.Group
	shards   []*pshard
	dialogs  *shard.Index[dialogRef] // Call-ID + ";" + local tag
	commit   *commit.Committer[*Batch]
	m        metrics

	mu      sync.RWMutex
	server  netip.AddrPort // resolved presence server
	srvURI  *sip.Uri
	proxy   string // Route header value, "" without outbound proxy
	started bool
}

// dialogRef locates the subscription owning a dialog.
type dialogRef struct {
	presentity string
	id         string
}

// New builds the pua core and registers its NOTIFY handler; call it
// before the SIP stack starts.
func New(cfg Config, deps Deps) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua config: %w", errors.Join(errs...))
	}
	if deps.SIP == nil || deps.Store == nil {
		return nil, errors.New("pua: SIP and Store are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:      cfg,
		log:      log.With("module", "pua"),
		sip:      deps.SIP,
		store:    deps.Store,
		handlers: map[Source]Handler{},
		dialogs:  shard.NewIndex[dialogRef](),
	}
	n := cfg.Shards
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	c.group = shard.NewGroup(n)
	for _, g := range c.group.Shards() {
		c.shards = append(c.shards, &pshard{Shard: g, c: c, pubs: map[pubKey]*pubRec{}, subs: map[subKey]*subRec{}, subByID: map[string]*subRec{}})
	}
	c.commit = commit.New(func(ctx context.Context, bs []*Batch) error {
		b := mergeBatches(bs)
		if b.Empty() {
			return nil
		}
		return c.store.WritePUA(ctx, b)
	}, 1000, c.log)
	c.m.init(deps.Registerer)
	if cfg.OutboundProxy != "" {
		u, _ := sipaddr.Parse(cfg.OutboundProxy)
		if _, ok := u.UriParams.Get("lr"); !ok {
			u.UriParams.Add("lr", "")
		}
		c.proxy = "<" + u.String() + ">"
	}
	deps.SIP.Handle(sip.NOTIFY, c.handleNotify)
	return c, nil
}

// Register sets the handler of a source's events. Call it before Start.
func (c *Client) Register(src Source, h Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[src] = h
}

func (c *Client) handler(src Source) Handler {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.handlers[src]
}

// Start resolves the presence server, loads the stored records, and
// starts refreshing them. The SIP stack must be started.
func (c *Client) Start(ctx context.Context) error {
	if err := c.resolveServer(ctx); err != nil {
		return err
	}
	pubs, subs, err := c.store.LoadPUA(ctx)
	if err != nil {
		return fmt.Errorf("pua: load records: %w", err)
	}
	c.commit.Start()
	c.group.Start()
	c.restore(pubs, subs)
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	return nil
}

// Stop stops refreshing and flushes the records to the store. Requests in
// flight are abandoned; their records are refreshed after a restart.
func (c *Client) Stop(ctx context.Context) error {
	if err := c.group.Stop(ctx); err != nil {
		return fmt.Errorf("pua: %w", err)
	}
	return c.commit.Stop(ctx)
}

// resolveServer finds where PUBLISHes and initial SUBSCRIBEs go.
func (c *Client) resolveServer(ctx context.Context) error {
	if c.cfg.PresenceServer == "" {
		a, ok := c.sip.Addr("udp")
		if !ok {
			return errors.New("pua: no presence_server configured and no UDP listener to publish to")
		}
		if a.Addr().IsUnspecified() {
			if a.Addr().Is4() {
				a = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port())
			} else {
				a = netip.AddrPortFrom(netip.IPv6Loopback(), a.Port())
			}
		}
		c.mu.Lock()
		c.server = a
		c.mu.Unlock()
		return nil
	}
	u, err := sipaddr.Parse(c.cfg.PresenceServer)
	if err != nil {
		return fmt.Errorf("pua: presence_server: %w", err)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	host := strings.Trim(u.Host, "[]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("pua: presence_server %s: cannot resolve %s: %v", c.cfg.PresenceServer, host, err)
		}
		ip = addrs[0]
	}
	c.mu.Lock()
	c.server = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	c.srvURI = &u
	c.mu.Unlock()
	return nil
}

// serverOptions are the send options of requests to the presence server.
func (c *Client) serverOptions() sipnet.SendOptions {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o := sipnet.SendOptions{Destination: c.server}
	if c.srvURI != nil {
		if tr, ok := c.srvURI.UriParams.Get("transport"); ok {
			o.Transport = strings.ToLower(tr)
		}
	}
	if c.proxy != "" {
		o.Destination = netip.AddrPort{} // the Route header decides
	}
	return o
}

// transport is the transport of requests to the presence server.
func (c *Client) transport() string {
	if t := c.serverOptions().Transport; t != "" {
		return t
	}
	return "udp"
}

// pshard is a shard with the records it owns.
type pshard struct {
	*shard.Shard
	c       *Client
	pubs    map[pubKey]*pubRec
	subs    map[subKey]*subRec
	subByID map[string]*subRec
}

func (c *Client) shardOf(presentity string) *pshard {
	return c.shards[c.group.Of(presentity).Index]
}

// retryDelay is the backoff before attempt n (1, 2, ...): doubling from
// one second, capped, with jitter; a Retry-After wins when given.
func (c *Client) retryDelay(n int, res *sip.Response) time.Duration {
	limit := time.Duration(c.cfg.RetryMaxInterval) * time.Second
	if res != nil {
		if v := header(res, "Retry-After"); v != "" {
			v, _, _ = strings.Cut(v, ";")
			v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
			if s, err := strconv.Atoi(v); err == nil && s >= 0 {
				return min(time.Duration(s)*time.Second, time.Hour)
			}
		}
	}
	d := time.Second << min(n-1, 16)
	d = min(d, limit)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// refreshAt is when a record granted until expires should be refreshed:
// a third of the interval before, at most ten minutes before, at least
// two seconds before (or halfway for very short intervals).
func refreshAt(now, expires time.Time) time.Time {
	left := expires.Sub(now)
	lead := min(left/3, 10*time.Minute)
	if lead < 2*time.Second {
		lead = min(2*time.Second, left/2)
	}
	return expires.Add(-lead)
}

func header(m interface{ Headers() []sip.Header }, names ...string) string {
	for _, h := range m.Headers() {
		for _, n := range names {
			if strings.EqualFold(h.Name(), n) {
				return h.Value()
			}
		}
	}
	return ""
}

func newID() string {
	return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}

func newTag() string { return strconv.FormatUint(rand.Uint64(), 36) }

// Events the pua core can publish or subscribe to, with the body type
// of each.
var eventTypes = map[string]string{
	"presence":        "application/pidf+xml",
	"presence.winfo":  "application/watcherinfo+xml",
	"dialog":          "application/dialog-info+xml",
	"dialog;sla":      "application/dialog-info+xml",
	"message-summary": "application/simple-message-summary",
	"reg":             "application/reginfo+xml",
}

// NormalizeEvent returns the canonical name of an event package, accepting
// OpenSIPS's "presence;winfo" spelling, or ErrUnknownEvent.
func NormalizeEvent(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	if e == "presence;winfo" {
		e = "presence.winfo"
	}
	if _, ok := eventTypes[e]; !ok {
		return "", fmt.Errorf("%w %q (known: presence, presence.winfo, dialog, dialog;sla, message-summary, reg)", ErrUnknownEvent, e)
	}
	return e, nil
}

// ContentType returns the body type of an event package.
func ContentType(event string) string { return eventTypes[event] }
