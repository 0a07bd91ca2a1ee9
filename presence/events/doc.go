// Package events holds the presence server's event packages: presence
// (PIDF merge, RFC 3863/4479/4480), presence.winfo (RFC 3857/3858), dialog
// (RFC 4235 aggregation) and dialog;sla (draft-anil-sipping-bla-03). Each
// implements presence.EventPackage or presence.WatcherInfoPackage; the
// presence core decides when to call them, they only build documents.
package events
