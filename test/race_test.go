//go:build race

package test

// raceEnabled reports whether the tests run with -race; the restart tests
// then build the daemon with -race too.
const raceEnabled = true
