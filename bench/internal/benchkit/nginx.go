package benchkit

import (
	"fmt"
	"math/rand/v2"
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

// NginxLines generates nginx-like access-log lines ("combined" format, about
// 200 bytes each). Every generator yields the same sequence, so every bench
// and every run loads the same lines.
type NginxLines struct {
	r *rand.Rand
	i int // lines generated so far: the log time advances with it
}

// NewNginxLines returns a generator at the start of the sequence.
func NewNginxLines() *NginxLines {
	return &NginxLines{r: rand.New(rand.NewPCG(20261101, 42))}
}

// Append appends the next line (no newline) to dst. Its query string is
// padded to a target of 172..202 bytes; with the fixed parts' overshoot the
// mean is ~200.
func (g *NginxLines) Append(dst []byte) []byte {
	r := g.r
	target := 172 + r.IntN(31)
	ip := [4]int{10 + r.IntN(200), r.IntN(256), r.IntN(256), 1 + r.IntN(254)}
	sec := g.i / 50 // ~50 lines per second of log time
	g.i++
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
