package main

import (
	"bufio"
	"os"
	"path/filepath"

	"github.com/logagent/logagent/bench/internal/benchkit"
)

// writeLogFile writes n deterministic nginx lines, each after prefix, and
// returns the file's size. Files of many-files runs need a prefix of their
// own: files that begin with the same bytes are copies to the agent (copy
// detection by fingerprint), whose acknowledged lines it does not send again.
func writeLogFile(path string, n int, prefix string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen := benchkit.NewNginxLines()
	var line []byte
	var size int64
	for range n {
		line = append(gen.Append(append(line[:0], prefix...)), '\n')
		size += int64(len(line))
		if _, err := w.Write(line); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return size, nil
}
