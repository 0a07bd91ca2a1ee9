// Package sqlcol converts field values to and from the column values the
// SQL backends store, the same way on SQLite and PostgreSQL: times as
// BIGINT unix nanoseconds (NULL for the zero time), string lists as a
// TEXT JSON array, bodies as bytes; and it builds the statements both
// accept.
package sqlcol

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Time is the column value of t: NULL for the zero time, else unix
// nanoseconds. t must have passed check.Time.
func Time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// FromTime is the time a Time column holds, in UTC, the zero time for
// NULL.
func FromTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

// Strings is the column value of a string list: a JSON array, "[]" when
// empty.
func Strings(s []string) (string, error) {
	if len(s) == 0 {
		return "[]", nil
	}
	// Without HTML escaping, so that "<sip:p1;lr>" stays readable in the
	// database.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", fmt.Errorf("encode string list: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// FromStrings is the list a Strings column holds, nil when empty.
func FromStrings(v string) ([]string, error) {
	if v == "[]" || v == "" {
		return nil, nil
	}
	if s, ok := plainStrings(v); ok {
		return s, nil
	}
	var s []string
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(s) == 0 {
		return nil, nil
	}
	return s, nil
}

// plainStrings decodes without encoding/json (a sixth of the time of a
// load of bindings) what Strings writes for a list of plain strings: no
// escape, no control character, no quote, valid UTF-8. ok is false for
// any other value, which is left to encoding/json; when ok, s is what
// json.Unmarshal gives.
func plainStrings(v string) (s []string, ok bool) {
	if len(v) < 4 || !strings.HasPrefix(v, `["`) || !strings.HasSuffix(v, `"]`) {
		return nil, false
	}
	inner := v[2 : len(v)-2]
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c < 0x20 || c == '\\' {
			return nil, false
		}
	}
	if !utf8.ValidString(inner) {
		return nil, false
	}
	s = strings.Split(inner, `","`)
	for _, e := range s {
		if strings.IndexByte(e, '"') >= 0 {
			return nil, false
		}
	}
	return s, true
}

// Bytes is the column value of a body: NULL when empty.
func Bytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// FromBytes is the body a Bytes column holds, nil when empty. b must be
// the caller's (database/sql copies into a *[]byte, not into sql.RawBytes).
func FromBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Uint32 is the value a BIGINT column holding a uint32 has, or an error
// when it is out of range.
func Uint32(name string, v int64) (uint32, error) {
	if v < 0 || v > math.MaxUint32 {
		return 0, fmt.Errorf("%s %d out of range", name, v)
	}
	return uint32(v), nil
}

// Int is the value a BIGINT column holding a Go int has, or an error when
// it does not fit in an int (on a 32-bit platform).
func Int(name string, v int64) (int, error) {
	if int64(int(v)) != v {
		return 0, fmt.Errorf("%s %d out of range", name, v)
	}
	return int(v), nil
}
