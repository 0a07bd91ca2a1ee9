package pidf_test

import (
	"fmt"

	"github.com/presenced/presenced/pidf"
)

func ExampleParse() {
	body := []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf"
	  xmlns:pdm="urn:ietf:params:xml:ns:pidf:data-model"
	  xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">
	  <tuple id="t1"><status><basic>open</basic></status></tuple>
	  <pdm:person id="p1"><r:activities><r:away/></r:activities><pdm:note>Gone to lunch</pdm:note></pdm:person>
	</presence>`)
	doc, err := pidf.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	open, activities, note := pidf.Summary(doc)
	fmt.Println(open, activities, note)

	_, err = pidf.Parse([]byte(`<foo/>`))
	fmt.Println(err)
	// Output:
	// true [away] Gone to lunch
	// pidf: root element is <foo>, want presence in urn:ietf:params:xml:ns:pidf
}

func ExampleMerge() {
	phone, _ := pidf.Parse(pidf.Basic(true, "sip:alice@192.0.2.1", "phone", ""))
	client, _ := pidf.Parse(pidf.Rich(pidf.RichStatus{TupleID: "client", Open: true, Activities: []string{pidf.ActivityBusy}}))
	fmt.Printf("%s", pidf.Merge("sip:alice@example.com", []*pidf.Document{phone, client}))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">
	// <tuple id="client"><status><basic>open</basic></status></tuple>
	// <tuple id="phone"><status><basic>open</basic></status></tuple>
	// <dm:person id="person"><rpid:activities><rpid:busy/></rpid:activities></dm:person>
	// </presence>
}
