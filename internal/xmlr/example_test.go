package xmlr_test

import (
	"encoding/xml"
	"fmt"

	"github.com/presenced/presenced/internal/xmlr"
)

func ExampleReader() {
	lim := xmlr.Limits{Size: 1 << 20, Depth: 32, Elements: 10000}
	body := []byte(`<?xml version="1.0"?>
<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo">
  <watcher id="1">sip:bob@example.com</watcher>
  <other/>
  <watcher id="2">sip:carol@example.com</watcher>
</watcherinfo>`)
	r, err := xmlr.NewReader(body, lim)
	if err != nil {
		fmt.Println(err)
		return
	}
	root, err := r.Root()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(root.Name.Local)
	err = r.Children(func(s xml.StartElement) error {
		if s.Name.Local != "watcher" {
			return r.Skip()
		}
		uri, err := r.Text()
		fmt.Println(uri)
		return err
	})
	if err == nil {
		err = r.Trailer()
	}
	fmt.Println(err)

	hostile, _ := xmlr.NewReader([]byte(`<!DOCTYPE r [<!ENTITY a "a">]><r>&a;</r>`), lim)
	_, err = hostile.Root()
	fmt.Println(err)
	// Output:
	// watcherinfo
	// sip:bob@example.com
	// sip:carol@example.com
	// <nil>
	// DOCTYPE and other directives are not allowed
}
