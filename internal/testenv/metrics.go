package testenv

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metric scrapes one series (name with its labels, as /metrics prints it)
// from a daemon's /metrics on addr (host:port). A labelled series that is
// not there yet is 0; any other missing series fails the test.
func Metric(t testing.TB, addr, name string) float64 {
	t.Helper()
	hc := http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	if strings.Contains(name, "{") {
		return 0 // a labelled series appears with its first value
	}
	t.Fatalf("testenv: metric %s not found on %s", name, addr)
	return 0
}
