package collect

import (
	"strings"
	"testing"
)

func paths(merged []Sourced) string {
	var out []string
	for _, s := range merged {
		out = append(out, s.Layer.String()+":"+s.Path+"->"+s.Topic)
	}
	return strings.Join(out, " ")
}

func mustParse(t *testing.T, v string) []Entry {
	t.Helper()
	e, err := ParseCollectConfig([]byte(v))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestMergeMostSpecificLast: a later layer's entry with the same path
// replaces the earlier one in its place, disabled removes it, new paths are
// appended, and disabled entries never reach the result.
func TestMergeMostSpecificLast(t *testing.T) {
	layers := LayersOf("web-1", []string{"web", "eu"})
	merged := Merge(layers, [][]Entry{
		mustParse(t, `[{"path":"/var/log/a.log","topic":"a"},{"path":"/var/log/b.log","topic":"b"},{"path":"/var/log/c.log","topic":"c"}]`),
		mustParse(t, `[{"path":"/var/log/b.log","topic":"b-web"},{"path":"/var/log/w.log","topic":"w"}]`),
		mustParse(t, `[{"path":"/var/log/b.log","topic":"b-eu"},{"path":"/var/log/x.log","disabled":true}]`),
		mustParse(t, `[{"path":"/var/log/c.log","disabled":true},{"path":"/var/log/h.log","topic":"h"}]`),
	})
	want := "_common:/var/log/a.log->a _groups/eu:/var/log/b.log->b-eu _groups/web:/var/log/w.log->w web-1:/var/log/h.log->h"
	if got := paths(merged); got != want {
		t.Fatalf("merged =\n%s\nwant\n%s", got, want)
	}
}

// TestCheckMergedRefusesADeadEntry: a literal path after a glob that takes
// it could never read its file.
func TestCheckMergedRefusesADeadEntry(t *testing.T) {
	layers := LayersOf("web-1", nil)
	dead := Merge(layers, [][]Entry{
		mustParse(t, `[{"path":"/var/log/*.log","topic":"all"}]`),
		mustParse(t, `[{"path":"/var/log/app.log","topic":"app"}]`),
	})
	err := CheckMerged(dead)
	if err == nil || !strings.Contains(err.Error(), `entry "/var/log/app.log" (layer web-1) is never read`) || !strings.Contains(err.Error(), "_common") {
		t.Fatalf("CheckMerged = %v, want the dead entry named with both layers", err)
	}
	// Excluded from the glob, or before it, the literal path is fine.
	for _, ok := range [][][]Entry{
		{mustParse(t, `[{"path":"/var/log/*.log","topic":"all","exclude":["app.log"]}]`), mustParse(t, `[{"path":"/var/log/app.log","topic":"app"}]`)},
		{mustParse(t, `[{"path":"/var/log/app.log","topic":"app"},{"path":"/var/log/*.log","topic":"all"}]`), nil},
	} {
		if err := CheckMerged(Merge(layers, ok)); err != nil {
			t.Errorf("CheckMerged = %v, want nil", err)
		}
	}
}

// TestStackKeepsTheLastGoodVersionOfEachLayer: a layer that fails is
// rejected with its reason while the others apply; a merge that fails
// rejects the most specific of the new versions.
func TestStackKeepsTheLastGoodVersionOfEachLayer(t *testing.T) {
	common, web, host := CommonLayer(), GroupLayer("web"), HostLayer("web-1")
	s := NewStack(LayersOf("web-1", []string{"web"}))
	if s.Known() {
		t.Fatal("a new stack knows a config")
	}
	if r := s.Apply([]Version{
		{Layer: common, Revision: 2, Raw: []byte(`[{"path":"/var/log/*.log","topic":"all"}]`)},
		{Layer: web, Revision: 3, Raw: []byte(`[{"path":"/srv/web.log","topic":"web"}]`)},
		{Layer: HostLayer("other"), Revision: 4, Raw: []byte(`not even JSON`)}, // not this stack's
	}); len(r) != 0 {
		t.Fatalf("rejected %+v", r)
	}
	if got, want := paths(s.Effective()), "_common:/var/log/*.log->all _groups/web:/srv/web.log->web"; got != want {
		t.Fatalf("effective = %s, want %s", got, want)
	}

	// A bad group layer and a good host layer together: the host's applies.
	r := s.Apply([]Version{
		{Layer: web, Revision: 5, Raw: []byte(`[{"path":"relative.log","topic":"web"}]`)},
		{Layer: host, Revision: 6, Raw: []byte(`[{"path":"/srv/own.log","topic":"own"}]`)},
	})
	if len(r) != 1 || r[0].Layer != web || r[0].Revision != 5 || !strings.Contains(r[0].Reason, "must be absolute") {
		t.Fatalf("rejected %+v, want the group layer at 5", r)
	}
	if got, want := paths(s.Effective()), "_common:/var/log/*.log->all _groups/web:/srv/web.log->web web-1:/srv/own.log->own"; got != want {
		t.Fatalf("effective = %s, want %s", got, want)
	}

	// A common change and a host change whose merge fails: the host's is
	// rejected, the common one applies.
	r = s.Apply([]Version{
		{Layer: common, Revision: 7, Raw: []byte(`[{"path":"/var/log/*.log","topic":"all"},{"path":"/srv/extra.log","topic":"extra"}]`)},
		{Layer: host, Revision: 8, Raw: []byte(`[{"path":"/var/log/app.log","topic":"app"}]`)},
	})
	if len(r) != 1 || r[0].Layer != host || r[0].Revision != 8 || !strings.Contains(r[0].Reason, "merged with the other layers") {
		t.Fatalf("rejected %+v, want the host layer at 8", r)
	}
	st := s.Status()
	if st[0].AppliedRevision != 7 || st[0].RejectedRevision != 0 {
		t.Errorf("common layer status %+v, want applied 7", st[0])
	}
	if st[1].AppliedRevision != 3 || st[1].RejectedRevision != 5 {
		t.Errorf("group layer status %+v, want applied 3, rejected 5", st[1])
	}
	if st[2].AppliedRevision != 6 || st[2].RejectedRevision != 8 || !strings.Contains(st[2].RejectReason, "never read") {
		t.Errorf("host layer status %+v, want applied 6, rejected 8 as never read", st[2])
	}

	// A common change that would leave other layers' entries dead is
	// rejected itself.
	if r := s.Apply([]Version{{Layer: common, Revision: 9, Raw: []byte(`[{"path":"/srv/*.log","topic":"srv"}]`)}}); len(r) != 1 || r[0].Layer != common {
		t.Fatalf("rejected %+v, want the common layer at 9", r)
	}

	// A missing key is an empty layer, not an error.
	if r := s.Apply([]Version{{Layer: host, Revision: 0}}); len(r) != 0 {
		t.Fatalf("rejected %+v", r)
	}
	if st := s.Status(); !st[2].Applied || st[2].AppliedRevision != 0 || st[2].RejectReason != "" {
		t.Errorf("host layer after delete %+v, want applied 0, nothing rejected", st[2])
	}
}
