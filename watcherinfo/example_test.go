package watcherinfo_test

import (
	"fmt"

	"github.com/presenced/presenced/watcherinfo"
)

func ExampleWrite() {
	doc := &watcherinfo.Document{State: watcherinfo.Partial, Lists: []watcherinfo.WatcherList{{
		Resource: "sip:alice@example.com", Package: "presence",
		Watchers: []watcherinfo.Watcher{{
			ID: "7f3k2j", Status: watcherinfo.StatusPending, Event: watcherinfo.EventSubscribe,
			URI: "sip:bob@example.com",
		}},
	}}}
	data, at := watcherinfo.Write(doc, true)
	fmt.Print(string(data[:at]) + "3" + string(data[at:]))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="3" state="partial">
	// <watcher-list resource="sip:alice@example.com" package="presence">
	// <watcher id="7f3k2j" status="pending" event="subscribe">sip:bob@example.com</watcher>
	// </watcher-list>
	// </watcherinfo>
}

func ExampleParse() {
	doc, err := watcherinfo.Parse([]byte(`<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full">
<watcher-list resource="sip:alice@example.com" package="presence">
<watcher status="pending" id="q9" event="subscribe" display-name="Carol">sip:carol@example.net</watcher>
</watcher-list></watcherinfo>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range doc.Lists[0].Watchers {
		fmt.Println(w.URI, w.Status, w.DisplayName)
	}
	// Output:
	// sip:carol@example.net pending Carol
}
