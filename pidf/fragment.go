package pidf

import "strconv"

// capture copies the element start and its content into the fragment
// buffer. With names set, the local names of its RPID children are
// appended to it (activities, mood).
func (p *parser) capture(start token, where uint8, i, j int, names *[]string) (Element, error) {
	el := Element{Space: start.space, Local: start.local}
	from := p.w.Len()
	base := len(p.stack)
	p.gen = 0
	if err := p.emitStart(start); err != nil {
		return el, err
	}
	for len(p.stack) > base {
		tok, err := p.next()
		if err != nil {
			return el, err
		}
		switch tok.kind {
		case tokStart:
			p.stack[len(p.stack)-1].children = true
			p.ws = p.ws[:0]
			if names != nil && len(p.stack) == base+1 && tok.space == NSRPID && tok.local != "note" {
				*names = append(*names, tok.local)
			}
			if err := p.emitStart(tok); err != nil {
				return el, err
			}
		case tokText:
			if isSpace(tok.text) {
				p.ws = append(p.ws, tok.text...)
				continue
			}
			if len(p.ws) > 0 {
				writeText(&p.w, string(p.ws))
				p.ws = p.ws[:0]
			}
			writeText(&p.w, string(tok.text))
		case tokEnd:
			top := p.stack[len(p.stack)-1]
			if !top.children && len(p.ws) > 0 {
				writeText(&p.w, string(p.ws))
			}
			p.ws = p.ws[:0]
			p.w.End(top.qname)
			p.out = p.out[:top.mark]
			p.stack = p.stack[:len(p.stack)-1]
		}
	}
	p.fix = append(p.fix, fixup{where: where, i: i, j: j, start: from, end: p.w.Len()})
	return el, nil
}

// emitStart writes a start tag to the fragment buffer. It declares again
// the namespaces the input declared on the element, unless the output
// scope has them, then chooses prefixes for the names and declares the
// namespaces still lacking (those the input declared outside the
// fragment).
func (p *parser) emitStart(tok token) error {
	mark := len(p.out)
	for _, b := range tok.decls {
		if b.uri != "" && b.uri != nsXML {
			p.outPrefix(b.uri, b.prefix, b.prefix != "")
		}
	}
	prefix := p.outPrefix(tok.space, tok.prefix, false)
	apfx := p.apfx[:0]
	for _, a := range tok.attrs {
		apfx = append(apfx, p.outPrefix(a.space, a.prefix, true))
	}
	p.apfx = apfx
	qname := qualify(prefix, tok.local)
	p.w.Start(qname)
	for _, b := range p.out[mark:] {
		if b.prefix == "" {
			p.w.Attr("xmlns", b.uri)
		} else {
			p.w.Attr("xmlns:"+b.prefix, b.uri)
		}
		p.declared += len(b.prefix) + len(b.uri) + 10
	}
	for k, a := range tok.attrs {
		p.w.Attr(qualify(apfx[k], a.local), a.value)
	}
	p.stack = append(p.stack, outElem{qname: qname, mark: mark})
	if p.declared > p.budget {
		return p.errorf("namespace declarations repeated in elements take more than %d bytes", p.budget)
	}
	return nil
}

// outPrefix returns the prefix to write a name in namespace uri with,
// adding a binding to p.out when the output scope has none; src is the
// prefix the input used.
func (p *parser) outPrefix(uri, src string, isAttr bool) string {
	switch {
	case uri == nsXML:
		return "xml"
	case uri == "" && isAttr:
		return ""
	case uri == "":
		if p.outLookup("") != "" {
			p.out = append(p.out, binding{"", ""})
		}
		return ""
	case !isAttr && p.outLookup("") == uri:
		return ""
	}
	for k := len(p.out) - 1; k >= 0; k-- {
		if b := p.out[k]; b.prefix != "" && b.uri == uri && p.outLookup(b.prefix) == uri {
			return b.prefix
		}
	}
	if src == "" && !isAttr {
		p.out = append(p.out, binding{"", uri})
		return ""
	}
	if src == "" || src == "xml" || src == "xmlns" || p.outBound(src) {
		for {
			p.gen++
			if src = "ns" + strconv.Itoa(p.gen); !p.outBound(src) {
				break
			}
		}
	}
	p.out = append(p.out, binding{src, uri})
	return src
}

func (p *parser) outLookup(prefix string) string {
	for k := len(p.out) - 1; k >= 0; k-- {
		if p.out[k].prefix == prefix {
			return p.out[k].uri
		}
	}
	return ""
}

// outBound reports whether prefix is bound anywhere in the output scope;
// fragments never shadow a prefix, so every name keeps its meaning.
func (p *parser) outBound(prefix string) bool {
	for _, b := range p.out {
		if b.prefix == prefix {
			return true
		}
	}
	return false
}

// fixups points the kept Elements into the final fragment buffer.
func (p *parser) fixups() {
	if len(p.fix) == 0 {
		return
	}
	buf := p.w.Bytes()
	d := p.doc
	for _, f := range p.fix {
		b := buf[f.start:f.end:f.end]
		switch f.where {
		case fixOther:
			d.Others[f.j].XML = b
		case fixStatus:
			d.Tuples[f.i].StatusExtra[f.j].XML = b
		case fixTuple:
			d.Tuples[f.i].Extra[f.j].XML = b
		case fixPerson:
			d.Persons[f.i].Extra[f.j].XML = b
		case fixDevice:
			d.Devices[f.i].Extra[f.j].XML = b
		}
	}
}
