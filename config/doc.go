// Package config loads and validates the presenced configuration.
//
// The configuration is one YAML document with one section per module
// (sip, store, mi, presence, ...). Each module package owns its section's
// struct, its defaults and its validation; this package assembles them
// into Config, overlays a file on the defaults and reports every problem
// at once, each with its key path and line.
//
// Loading is strict: the YAML is decoded into a yaml.Node tree and walked
// against Config by reflection over the yaml struct tags, so an unknown
// key, a value of the wrong type, a duplicate key or a list where a
// mapping is wanted is an error rather than silently ignored. A key that
// is absent, or present with no value (null), keeps its default; a list
// that is given replaces the default list. Durations are integers in
// seconds unless the key says otherwise (t1_ms).
//
// Adding a section is a field in Config with its yaml tag and a line in
// Default; the loader and validation find it by reflection, and the
// section's Validate() []error, if it has one, is called with its errors
// prefixed by the section name.
package config
