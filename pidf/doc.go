// Package pidf reads, writes and merges PIDF presence documents
// (application/pidf+xml): RFC 3863, with the RFC 4479 data model (person,
// device) and RFC 4480 RPID activities and mood. Unknown elements are kept
// as XML fragments so that a merge of publications (OpenSIPS presence_xml,
// reference section 7.3) loses nothing.
//
// Parse refuses hostile input: DOCTYPE and entity declarations, deep
// nesting, too many elements, oversize bodies. The package has no state and
// starts no goroutines; its functions are safe for concurrent use.
package pidf
