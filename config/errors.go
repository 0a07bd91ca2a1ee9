package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration: where it is and what is wrong.
type Error struct {
	// Path is the key path, "presence.dialog.force_single_dialog" or
	// "sip.listen[1]"; empty for the document as a whole.
	Path string
	// Line is the 1-based line in the file, 0 when unknown (a default
	// value, or a Config not read from a file).
	Line int
	// Msg says what is wrong: `want integer, got "abc"`.
	Msg string
	// Hint is an optional suggestion: "did you mean force_single_dialog?".
	Hint string
	// Err is the section's own error for a validation problem, else nil.
	Err error
}

// Error returns "path: msg (line N), hint", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	if e.Hint != "" {
		b.WriteString(", ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the section's own error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in a configuration: those of the file in
// document order, then those of validation in section order.
type Errors struct {
	List []*Error
}

// Error returns one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, err := range e.List {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, err := range e.List {
		errs[i] = err
	}
	return errs
}

func (e *Errors) add(path string, line int, format string, a ...any) *Error {
	err := &Error{Path: path, Line: line, Msg: fmt.Sprintf(format, a...)}
	e.List = append(e.List, err)
	return err
}

// err returns e, or nil when it holds nothing (never a typed nil).
func (e *Errors) err() error {
	if len(e.List) == 0 {
		return nil
	}
	return e
}
