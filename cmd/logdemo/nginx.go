package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"
)

// nginxTimeLocal is nginx's $time_local, which the collect entry's
// "timestamp": "nginx" parses into @timestamp.
const nginxTimeLocal = "02/Jan/2006:15:04:05 -0700"

// lineGen makes plausible nginx "combined" access log lines:
// $remote_addr - $remote_user [$time_local] "$request" $status
// $body_bytes_sent "$http_referer" "$http_user_agent"
type lineGen struct {
	rng *rand.Rand
}

func newLineGen() *lineGen {
	return &lineGen{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

var (
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"curl/8.8.0",
		"python-requests/2.32.3",
		"Prometheus/2.53.0",
	}
	referers = []string{
		"-", "-", "-",
		"https://www.google.com/",
		"https://shop.example.com/",
		"https://shop.example.com/products",
		"https://news.ycombinator.com/",
	}
	searchTerms = []string{"shoes", "red+dress", "laptop", "coffee", "usb-c+cable", "tent"}
)

// request picks a method, a path and the status the path tends to get.
func (g *lineGen) request() (method, path string, status int) {
	r := g.rng
	method, status = "GET", 200
	switch n := r.IntN(100); {
	case n < 25:
		path = fmt.Sprintf("/products/%d", 1000+r.IntN(9000))
	case n < 40:
		path = fmt.Sprintf("/static/%s.%08x.%s", []string{"app", "vendor", "styles"}[r.IntN(3)], r.Uint32(), []string{"js", "css"}[r.IntN(2)])
		if r.IntN(3) == 0 {
			status = 304
		}
	case n < 55:
		path = fmt.Sprintf("/api/v1/users/%d/cart", 1+r.IntN(50000))
		if r.IntN(4) == 0 {
			method = "POST"
			status = 201
		}
	case n < 65:
		path = "/search?q=" + searchTerms[r.IntN(len(searchTerms))]
	case n < 72:
		path = "/"
	case n < 77:
		path, method = "/login", "POST"
		if r.IntN(5) == 0 {
			status = 401
		} else {
			status = 302
		}
	case n < 82:
		path = "/favicon.ico"
	case n < 85:
		path = "/healthz"
	case n < 90:
		path = []string{"/wp-login.php", "/.env", "/admin/config.php", "/phpmyadmin/"}[r.IntN(4)]
		status = 404
	default:
		path = fmt.Sprintf("/api/v1/orders/%d", 1+r.IntN(100000))
		if r.IntN(5) == 0 {
			method = "PUT"
		}
	}
	// A small share of server errors, whatever the path.
	if status < 300 && r.IntN(50) == 0 {
		status = []int{500, 502, 503, 504}[r.IntN(4)]
	}
	return method, path, status
}

// ip returns a random address outside the private and reserved blocks
// that would look odd in a public access log.
func (g *lineGen) ip() string {
	for {
		a := 1 + g.rng.IntN(223)
		if a == 10 || a == 127 || a == 169 || a == 172 || a == 192 {
			continue
		}
		return fmt.Sprintf("%d.%d.%d.%d", a, g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
	}
}

// appendLine appends one line, newline included, to b.
func (g *lineGen) appendLine(b []byte, now time.Time) []byte {
	r := g.rng
	method, path, status := g.request()
	user := "-"
	if r.IntN(20) == 0 {
		user = []string{"alice", "bob", "carol"}[r.IntN(3)]
	}
	proto := "HTTP/1.1"
	if r.IntN(3) == 0 {
		proto = "HTTP/2.0"
	}
	size := 0
	if status != 304 && method != "HEAD" {
		size = 200 + r.IntN(4000)
		if r.IntN(10) == 0 {
			size += r.IntN(500000) // the odd large image or bundle
		}
	}
	return fmt.Appendf(b, "%s - %s [%s] \"%s %s %s\" %d %d \"%s\" \"%s\"\n",
		g.ip(), user, now.Format(nginxTimeLocal), method, path, proto, status, size,
		referers[r.IntN(len(referers))], userAgents[r.IntN(len(userAgents))])
}

// logWriter appends lines to the sample log at a steady rate.
type logWriter struct {
	path    string
	rate    float64
	gen     *lineGen
	written atomic.Int64 // complete lines on disk
}

// run appends until ctx is done. Each tick writes whatever the rate owes
// since the start, in one write, so a slow tick is made up by the next one
// and the file never holds a partial line between ticks.
func (w *logWriter) run(ctx context.Context) error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open sample log: %w", err)
	}
	defer f.Close()
	interval := min(100*time.Millisecond, max(time.Millisecond, time.Duration(float64(time.Second)/w.rate)))
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			owed := int64(w.rate*now.Sub(start).Seconds()) - w.written.Load()
			if owed <= 0 {
				continue
			}
			buf = buf[:0]
			for range owed {
				buf = w.gen.appendLine(buf, now)
			}
			if _, err := f.Write(buf); err != nil {
				return fmt.Errorf("append to sample log %s: %w", w.path, err)
			}
			w.written.Add(owed)
		}
	}
}
