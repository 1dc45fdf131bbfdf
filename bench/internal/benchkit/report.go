package benchkit

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"
)

// Machine is the report's line on where it ran: the CPUs, which other work
// may share, and the Go version.
func Machine() string {
	return fmt.Sprintf("machine: %d CPUs (shared), %s; each run is a separate child process; CPU and RSS are the child's",
		runtime.NumCPU(), runtime.Version())
}

// Command is how the bench was invoked, as `go run ./bench/PROG ARGS`.
func (p Prog) Command() string {
	return strings.Join(append([]string{"go run ./bench/" + string(p)}, os.Args[1:]...), " ")
}

// NameWidth is the width of a table's first column, "run" and the rows'
// names (in runes: fmt pads in runes).
func NameWidth[R any](rows []R, name func(R) string) int {
	width := len("run")
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(name(r)))
	}
	return width
}

// MicrosEach is CPU time per item (line, document) in µs.
func MicrosEach(cpu time.Duration, n int64) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(n)
}

// RSS is a peak RSS column: MiB with one decimal, then the note in
// parentheses if any.
func RSS(kib int64, note string) string {
	s := fmt.Sprintf("%.1f", float64(kib)/1024)
	if note != "" {
		s += " (" + note + ")"
	}
	return s
}

// Verdict is how a report marks a target: "met" or "MISSED".
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// DepVersion is the version of the module at path that this binary was
// built with ("?" if unknown), for the report's description of the setup.
func DepVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "?"
}
