package presence

import "github.com/presenced/presenced/dialoginfo"

// DialogState summarises a presentity's dialog publications for "on the
// phone" presence (mix_dialog_presence): "confirmed" when a call is up,
// "early" when one is being set up or rings, "" otherwise. The presence
// event package calls it while it builds a document, which happens on the
// presentity's shard goroutine only: it must not be called from elsewhere.
func (s *Server) DialogState(presentity string) string {
	sh := s.shardOf(presentity)
	p := sh.pres[presentity]
	if p == nil {
		return ""
	}
	es := p.event("dialog")
	if es == nil {
		return ""
	}
	state := ""
	for _, ps := range es.pubs {
		v, err := ps.Parsed(func(b []byte) (any, error) { return dialoginfo.Parse(b) })
		if err != nil {
			continue
		}
		for _, d := range v.(*dialoginfo.Document).Dialogs {
			switch d.State {
			case dialoginfo.Confirmed:
				return "confirmed"
			case dialoginfo.Early, dialoginfo.Trying, dialoginfo.Proceeding:
				state = "early"
			}
		}
	}
	return state
}
