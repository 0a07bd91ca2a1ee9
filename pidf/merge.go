package pidf

// Merge combines the documents published for one presentity into the
// document its watchers get, as OpenSIPS presence_xml does (reference
// section 7.3). docs are oldest first, the order the presence server keeps
// publications in; nil entries are skipped.
//
// Documents are taken newest first: within each kind the newest
// document's elements come first, and a tuple, person or device whose id
// a newer document (or an earlier element of the same document) already
// has is dropped, so the newest wins per id. Ids are compared per kind: a
// person may share its tuple's id, as OpenSIPS pua makes it. Elements
// without an id are all kept. Root notes are kept except exact
// duplicates; other top-level elements are all kept. The root entity is
// entity, the presentity, whatever the documents said.
func Merge(entity string, docs []*Document) []byte {
	m := merge(entity, docs)
	return Marshal(&m)
}

func merge(entity string, docs []*Document) Document {
	var nt, nn, np, nd, no int
	for _, d := range docs {
		if d != nil {
			nt, nn, np, nd, no = nt+len(d.Tuples), nn+len(d.Notes), np+len(d.Persons), nd+len(d.Devices), no+len(d.Others)
		}
	}
	m := Document{Entity: entity}
	if nt > 0 {
		m.Tuples = make([]Tuple, 0, nt)
	}
	if nn > 0 {
		m.Notes = make([]Note, 0, nn)
	}
	if np > 0 {
		m.Persons = make([]Person, 0, np)
	}
	if nd > 0 {
		m.Devices = make([]Device, 0, nd)
	}
	if no > 0 {
		m.Others = make([]Element, 0, no)
	}
	var tuples, persons, devices set[string]
	var notes set[Note]
	for i := len(docs) - 1; i >= 0; i-- {
		d := docs[i]
		if d == nil {
			continue
		}
		for _, t := range d.Tuples {
			if t.ID == "" || tuples.add(t.ID) {
				m.Tuples = append(m.Tuples, t)
			}
		}
		for _, n := range d.Notes {
			if notes.add(n) {
				m.Notes = append(m.Notes, n)
			}
		}
		for _, p := range d.Persons {
			if p.ID == "" || persons.add(p.ID) {
				m.Persons = append(m.Persons, p)
			}
		}
		for _, dv := range d.Devices {
			if dv.ID == "" || devices.add(dv.ID) {
				m.Devices = append(m.Devices, dv)
			}
		}
		m.Others = append(m.Others, d.Others...)
	}
	return m
}

// set remembers what was taken: a slice while small, a map beyond, so
// that a hostile number of elements cannot make a merge quadratic.
type set[K comparable] struct {
	small []K
	m     map[K]struct{}
}

const setSmall = 16

// add records k and reports whether it was new.
func (s *set[K]) add(k K) bool {
	if s.m != nil {
		if _, ok := s.m[k]; ok {
			return false
		}
		s.m[k] = struct{}{}
		return true
	}
	for _, x := range s.small {
		if x == k {
			return false
		}
	}
	if len(s.small) < setSmall {
		s.small = append(s.small, k)
		return true
	}
	s.m = make(map[K]struct{}, 4*setSmall)
	for _, x := range s.small {
		s.m[x] = struct{}{}
	}
	s.m[k] = struct{}{}
	s.small = nil
	return true
}
