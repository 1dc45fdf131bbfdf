package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"github.com/logagent/logagent/bench/internal/benchkit"
)

// writeLogFile writes n deterministic nginx lines and returns the file's
// size.
func writeLogFile(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen := benchkit.NewNginxLines()
	var line []byte
	var size int64
	for range n {
		line = append(gen.Append(line[:0]), '\n')
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

// readLines reads a file of newline-terminated lines into memory, without
// their newlines (one backing array).
func readLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%s: last line has no newline", path)
		}
		lines = append(lines, data[:i:i])
		data = data[i+1:]
	}
	return lines, nil
}
