package agent

import (
	"testing"
	"time"
)

func TestTimestampParsers(t *testing.T) {
	now := time.Date(2026, 1, 3, 12, 0, 0, 0, time.Local)
	cases := []struct {
		parser string
		line   string
		want   time.Time
		ok     bool
	}{
		{"nginx", `10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 2326`, time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC), true},
		{"nginx", `10.0.0.1 - - [not a time] "GET /"`, time.Time{}, false},
		{"nginx", `no bracket`, time.Time{}, false},
		{"iso8601", `2026-11-26T10:00:00.123Z level=info`, time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.UTC), true},
		{"iso8601", `2026-11-26 10:00:00,5+01:00 INFO x`, time.Date(2026, 11, 26, 9, 0, 0, 5e8, time.UTC), true},
		{"iso8601", `[2026-11-26T10:00:00] x`, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), true},
		{"iso8601", `2026/11/26 10:00:00 x`, time.Time{}, false},
		{"syslog", `<34>1 2026-11-26T10:00:00Z host app - - msg`, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), true},
		{"syslog", `Jan  2 15:04:05 host sshd[1]: x`, time.Date(2026, 1, 2, 15, 4, 5, 0, time.Local), true},
		{"syslog", `Dec 31 23:59:59 host x`, time.Date(2025, 12, 31, 23, 59, 59, 0, time.Local), true},
		{"syslog", `hello`, time.Time{}, false},
		{"syslog", `Feb 29 00:00:00 host x`, time.Time{}, false}, // 2025 and 2026 have none
	}
	for _, c := range cases {
		got, ok := timestampParsers[c.parser]([]byte(c.line), now)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("%s(%q) = %v, %v; want %v, %v", c.parser, c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestLayoutParser: a custom layout at the start of the line (after an
// optional "["), in the entry's zone unless the stamp has one, with
// fractions and names of varying length; a line without it keeps the read
// time.
func TestLayoutParser(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		layout string
		loc    *time.Location
		line   string
		want   time.Time
		ok     bool
	}{
		{"2006-01-02 15:04:05.000", berlin, "2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed", time.Date(2026, 12, 2, 9, 1, 2, 123e6, time.UTC), true},
		{"2006-01-02 15:04:05.000", time.UTC, "[2026-07-02 10:01:02.123] x", time.Date(2026, 7, 2, 10, 1, 2, 123e6, time.UTC), true},
		{"2006-01-02 15:04:05.999", time.UTC, "2026-07-02 10:01:02.5 x", time.Date(2026, 7, 2, 10, 1, 2, 5e8, time.UTC), true},
		{"02 January 2006 15:04 -0700", berlin, "04 May 2026 08:30 +0000 up", time.Date(2026, 5, 4, 8, 30, 0, 0, time.UTC), true},
		{"Jan _2 2006 15:04:05", time.UTC, "Dec  4 2026 01:02:03 x", time.Date(2026, 12, 4, 1, 2, 3, 0, time.UTC), true},
		{"2006-01-02 15:04:05.000", time.UTC, "INFO 2026-12-02 10:01:02.123", time.Time{}, false},
		{"2006-01-02 15:04:05.000", time.UTC, "2026-12", time.Time{}, false},
	}
	for _, c := range cases {
		got, ok := layoutParser(c.layout, c.loc)([]byte(c.line), time.Now())
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("%q on %q = %v, %v; want %v, %v", c.layout, c.line, got, ok, c.want, c.ok)
		}
	}
}
