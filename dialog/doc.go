// Package dialog tracks the INVITE dialogs the proxy forwards (RFC 3261
// section 12, states as RFC 4235 names them): one dialog per branch of a
// forked call, each with its own id (Call-ID "." branch index), so that a
// cancelled branch never hides the answered one.
//
// The proxy feeds it: NewCall for an initial INVITE, Call.Branch for
// each target it forwards to, Branch.Progress / Confirm / End for the
// responses and outcomes of the branch, InDialog for requests within a
// dialog (BYE ends it, re-INVITE and UPDATE refresh it) and Refreshed
// for their 2xx. A branch only moves forward: trying, proceeding, early,
// confirmed, terminated; nothing leaves terminated, so an "early" can
// never follow a "terminated".
//
// Calls are spread over shards by Call-ID (internal/shard): one goroutine
// per shard applies every change of its calls in order and delivers the
// events, so the events of one call reach subscribers in order, on that
// goroutine. Each branch has one timer in its shard's heap: its maximum
// lifetime, after which a confirmed dialog is ended (Terminated, reason
// timeout) and the hangup hook (the proxy) sends a BYE to both parties.
//
// Confirmed dialogs are persisted through Store (group commit, see
// internal/commit) with what a BYE needs: Call-ID, tags, both targets,
// both route sets and CSeqs. After a restart a BYE for a call set up
// before it still finds its dialog and ends it with a Terminated event;
// dialogs whose lifetime passed while the daemon was down are ended at
// Start.
//
// # Locks
//
// Service.mu guards the subscriber and hook lists only; shard state needs
// no lock. The peers index (shard.Index) has its own bucket locks and is
// never held while taking another lock.
package dialog
