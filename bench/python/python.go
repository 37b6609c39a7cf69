// Package python ships the Python selectors echo server, so that echobench can write it
// out next to the Go servers it builds, whatever directory it runs from.
package python

import _ "embed"

// SelectorsEcho is selectors_echo.py.
//
//go:embed selectors_echo.py
var SelectorsEcho []byte
