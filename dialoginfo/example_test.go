package dialoginfo_test

import (
	"fmt"
	"strconv"

	"github.com/presenced/presenced/dialoginfo"
)

func ExampleParse() {
	body := []byte(`<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:sa="urn:ietf:params:xml:ns:sa-dialog-info"
    version="4" state="full" entity="sip:line1@example.com">
  <dialog id="d1" direction="recipient"><sa:exclusive>false</sa:exclusive><state>confirmed</state></dialog>
</dialog-info>`)
	doc, err := dialoginfo.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range doc.Dialogs {
		fmt.Println(d.ID, d.Direction, d.State, d.Leading[0].Local, d.Leading[0].Text)
	}
	_, err = dialoginfo.Parse([]byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`))
	fmt.Println(err)
	// Output:
	// d1 recipient confirmed exclusive false
	// dialoginfo: root element is <presence>, want dialog-info in urn:ietf:params:xml:ns:dialog-info
}

func ExampleWrite() {
	doc := dialoginfo.Build(dialoginfo.Publication{
		Entity:    "sip:alice@example.com",
		ID:        dialoginfo.BranchID("a84b4c76e66710", 1),
		CallID:    "a84b4c76e66710",
		Direction: dialoginfo.Initiator,
		State:     dialoginfo.Early,
		Remote:    &dialoginfo.Party{URI: "sip:bob@example.com", Display: "Bob"},
	})
	doc.State = dialoginfo.Full
	data, at := dialoginfo.Write(doc, true)
	// The presence server inserts each watcher's version at the offset.
	fmt.Print(string(data[:at]) + strconv.Itoa(7) + string(data[at:]))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="7" state="full" entity="sip:alice@example.com">
	// <dialog id="a84b4c76e66710.1" call-id="a84b4c76e66710" direction="initiator"><state>early</state><remote><identity display="Bob">sip:bob@example.com</identity><target uri="sip:bob@example.com"/></remote></dialog>
	// </dialog-info>
}
