package proc

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcLinesAndExit(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := Start("sh", log, Options{Lines: true, Env: []string{"PROC_X=x"}}, "/bin/sh", "-c", `echo one; echo "$PROC_X"; echo oops >&2`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range p.Lines {
		got = append(got, l)
	}
	if err := p.Stop(0, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "one,x" {
		t.Errorf("stdout lines %q, want one, x", got)
	}
	if tail := Tail(log, 100); tail != "oops\n" {
		t.Errorf("log tail %q, want stderr", tail)
	}
	if cpu, rss, err := p.Rusage(); err != nil || cpu < 0 || rss <= 0 {
		t.Errorf("rusage %v %d %v", cpu, rss, err)
	}
}

func TestProcStopKillsAfterGrace(t *testing.T) {
	// The shell ignores SIGTERM: Stop must kill its process group.
	p, err := Start("sh", filepath.Join(t.TempDir(), "sh.log"), Options{Lines: true}, "/bin/sh", "-c", `trap "" TERM; echo ready; sleep 30`)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Lines // the trap is set
	if _, err := p.CPUSoFar(); err != nil {
		t.Errorf("CPUSoFar of a running child: %v", err)
	}
	t0 := time.Now()
	if err := p.Stop(syscall.SIGTERM, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop = %v, want a killed error", err)
	}
	if !p.Exited() || time.Since(t0) > 10*time.Second {
		t.Errorf("exited %v after %v", p.Exited(), time.Since(t0))
	}
}
