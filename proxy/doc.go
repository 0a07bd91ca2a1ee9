// Package proxy is presenced's stateful proxy (RFC 3261 section 16).
//
// A request to a served domain is forwarded to the registered contacts of
// its address of record (usrloc), all of them at once (parallel forking);
// the best final response is relayed upstream per 16.7 (every 2xx as it
// comes, a 6xx cancels the other branches, the lowest class otherwise, a
// 503 as 500), a 2xx CANCELs the other branches, and a CANCEL from
// upstream CANCELs every pending branch (16.10). Timer C (16.8) CANCELs a
// branch that rings too long. The proxy Record-Routes (one entry per
// transport when the request changes transport), loose-routes requests
// carrying a Route to us (ACK, BYE, re-INVITE, UPDATE, PRACK, INFO,
// REFER, NOTIFY, ...) and copes with a strict-routing previous hop
// (16.4). Max-Forwards 0 gets 483, a loop 482 (16.3: a Via of ours on a
// request we are forwarding unchanged), an unknown user 404, a known one
// without a usable contact 480. A binding's Path becomes Route headers
// (RFC 3327); a binding registered from another address than its contact
// reads (NAT) is reached at that address (its Received), over the
// transport it registered on.
//
// Every INVITE is fed to the dialog tracker (package dialog) branch by
// branch; the tracker's hangups (maximum lifetime, dlg_end_dlg) come back
// here as a BYE to each party.
//
// Wrap shares methods with the local modules (presence, pua, OPTIONS):
// see README.md for the rule.
//
// # Goroutines
//
// Handlers and transaction callbacks run on sipnet's workers. Each INVITE
// being forwarded has one goroutine waiting for a CANCEL from upstream; it
// ends once the INVITE has its final response (or Stop). Timer C runs on
// the timer heaps of a few shards (internal/shard). Stop ends them all.
//
// # Locks
//
// Each forwarded request has one mutex (its response context); it is
// never held while sending, calling the dialog tracker or waiting. Shard
// goroutines take it (Timer C); nothing holding it waits for a shard.
package proxy
