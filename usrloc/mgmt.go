package usrloc

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/mi"
)

// AORInfo describes an address of record and its bindings.
type AORInfo struct {
	AOR      string        `json:"aor"`
	Bindings []BindingInfo `json:"contacts"`
}

// BindingInfo describes one binding for the management API.
type BindingInfo struct {
	Contact   string   `json:"contact"`
	Expires   int      `json:"expires"` // seconds left
	Q         string   `json:"q,omitempty"`
	CallID    string   `json:"call_id"`
	CSeq      uint32   `json:"cseq"`
	Received  string   `json:"received,omitempty"`
	Transport string   `json:"transport,omitempty"`
	UserAgent string   `json:"user_agent,omitempty"`
	Instance  string   `json:"instance,omitempty"`
	RegID     int      `json:"reg_id,omitempty"`
	Path      []string `json:"path,omitempty"`
}

// List returns the AORs matching pattern ("" or "*" for all) with their
// bindings, sorted.
func (s *Service) List(ctx context.Context, pattern string) ([]AORInfo, error) {
	if pattern == "" {
		pattern = "*"
	}
	ch := make(chan []AORInfo, s.group.Len())
	err := s.group.Each(ctx, func(g *shard.Shard) {
		sh := s.shards[g.Index]
		now := time.Now()
		var out []AORInfo
		for name, a := range sh.aors {
			if !sipaddr.Match(pattern, name) {
				continue
			}
			info := AORInfo{AOR: name}
			for _, b := range a.bindings {
				if !b.Expires.After(now) {
					continue
				}
				info.Bindings = append(info.Bindings, bindingInfo(b.Binding, now))
			}
			if len(info.Bindings) > 0 {
				out = append(out, info)
			}
		}
		ch <- out
	})
	if err != nil {
		return nil, err
	}
	all := []AORInfo{}
	for range s.group.Len() {
		all = append(all, <-ch...)
	}
	slices.SortFunc(all, func(a, b AORInfo) int { return strings.Compare(a.AOR, b.AOR) })
	return all, nil
}

func bindingInfo(b Binding, now time.Time) BindingInfo {
	bi := BindingInfo{
		Contact: b.Contact, Expires: max(0, int((b.Expires.Sub(now)+time.Second-1)/time.Second)),
		CallID: b.CallID, CSeq: b.CSeq, Received: b.Received, Transport: b.Transport,
		UserAgent: b.UserAgent, Instance: b.Instance, RegID: b.RegID, Path: b.Path,
	}
	if b.Q >= 0 {
		bi.Q = FormatQ(b.Q)
	}
	return bi
}

// FormatQ writes a q-value in thousandths as RFC 3261 writes it ("0.5").
func FormatQ(q int) string {
	return strconv.FormatFloat(float64(min(max(q, 0), 1000))/1000, 'f', -1, 64)
}

// Remove deletes the bindings of an AOR whose contact is contact ("" for
// all of them) and reports how many went. Delete events follow.
func (s *Service) Remove(ctx context.Context, aorName, contact string) (int, error) {
	n := 0
	_, err := s.Update(ctx, aorName, nil, func(_ time.Time, current []Binding) ([]Change, error) {
		var cs []Change
		for _, b := range current {
			if contact == "" || b.Contact == contact {
				cs = append(cs, Change{Remove: true, Binding: b})
			}
		}
		n = len(cs)
		return cs, nil
	})
	return n, err
}

// Commands returns the location service's management commands, with
// OpenSIPS's names.
func (s *Service) Commands() []mi.Command {
	return []mi.Command{
		{
			Name: "ul_dump", Aliases: []string{"ul.dump", "usrloc_list"},
			Help:   "list every registered AOR with its contacts",
			Params: []mi.Param{{Name: "filter", Help: "AOR pattern, * and ? wildcards (default all)"}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				f, err := a.OptString("filter")
				if err != nil {
					return nil, err
				}
				return s.List(ctx, f)
			},
		},
		{
			Name: "ul_show_contact", Aliases: []string{"ul.lookup"},
			Help:   "the contacts of one AOR",
			Params: []mi.Param{{Name: "aor", Required: true}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				v, err := a.String("aor")
				if err != nil {
					return nil, err
				}
				aorName, err := sipaddr.ParseAOR(v)
				if err != nil {
					return nil, mi.Errorf(400, "bad aor %q: %v", v, err)
				}
				list, err := s.List(ctx, aorName)
				if err != nil {
					return nil, err
				}
				if len(list) == 0 {
					return nil, mi.Errorf(404, "AOR %s not found", aorName)
				}
				return list[0], nil
			},
		},
		{
			Name: "ul_rm_contact", Aliases: []string{"ul.rm_contact", "ul_rm"},
			Help:   "remove one contact of an AOR, or all of them when contact is absent",
			Params: []mi.Param{{Name: "aor", Required: true}, {Name: "contact"}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				v, err := a.String("aor")
				if err != nil {
					return nil, err
				}
				c, err := a.OptString("contact")
				if err != nil {
					return nil, err
				}
				aorName, err := sipaddr.ParseAOR(v)
				if err != nil {
					return nil, mi.Errorf(400, "bad aor %q: %v", v, err)
				}
				n, err := s.Remove(ctx, aorName, c)
				if err != nil {
					return nil, err
				}
				if n == 0 {
					return nil, mi.Errorf(404, "no such contact")
				}
				return map[string]int{"removed": n}, nil
			},
		},
	}
}
