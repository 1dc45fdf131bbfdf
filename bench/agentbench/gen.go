package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
)

// Pieces of the generated nginx "combined" lines.
var (
	genMethods = []string{"GET", "GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"}
	genPaths   = []string{
		"/", "/index.html", "/api/v1/items", "/api/v1/orders", "/api/v2/users/profile",
		"/static/js/app.bundle.js", "/static/css/site.min.css", "/images/products/thumb.jpg",
		"/search", "/checkout/cart", "/account/login", "/health",
	}
	genStatus    = []int{200, 200, 200, 200, 200, 200, 301, 302, 304, 400, 403, 404, 500, 503}
	genReferrers = []string{
		"-", "https://www.example.com/", "https://www.example.com/search?q=shoes",
		"https://shop.example.org/cart", "https://news.example.net/article/2026/11/best-deals",
	}
	genAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"curl/8.10.1",
		"Go-http-client/1.1",
	}
	genMonths = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

const genLetters = "abcdefghijklmnopqrstuvwxyz0123456789"

// genLine appends one nginx-like line (no newline) of about target bytes:
// the query string is padded to reach it.
func genLine(dst []byte, r *rand.Rand, i int) []byte {
	target := 172 + r.IntN(31) // 172..202; with the fixed parts' overshoot the mean is ~200
	ip := [4]int{10 + r.IntN(200), r.IntN(256), r.IntN(256), 1 + r.IntN(254)}
	sec := i / 50 // ~50 lines per second of log time
	day := 1 + (sec/86400)%28
	head := fmt.Appendf(nil, "%d.%d.%d.%d - - [%02d/%s/2026:%02d:%02d:%02d +0000] \"%s %s?id=%d&q=",
		ip[0], ip[1], ip[2], ip[3], day, genMonths[10], (sec/3600)%24, (sec/60)%60, sec%60,
		genMethods[r.IntN(len(genMethods))], genPaths[r.IntN(len(genPaths))], r.IntN(100000))
	tail := fmt.Appendf(nil, " HTTP/1.1\" %d %d \"%s\" \"%s\"",
		genStatus[r.IntN(len(genStatus))], r.IntN(50000), genReferrers[r.IntN(len(genReferrers))], genAgents[r.IntN(len(genAgents))])
	pad := max(1, target-len(head)-len(tail))
	dst = append(dst, head...)
	for range pad {
		dst = append(dst, genLetters[r.IntN(len(genLetters))])
	}
	return append(dst, tail...)
}

// writeLogFile writes n deterministic lines and returns the file's size.
func writeLogFile(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(20261101, 42))
	var line []byte
	var size int64
	for i := range n {
		line = append(genLine(line[:0], r, i), '\n')
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
