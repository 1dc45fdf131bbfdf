// Command tailcompare records why logagent has its own tailer: it runs one
// rename-rotation scenario against github.com/hpcloud/tail (v1.0.0 and its
// untagged master, inotify and polling) and against the agent's Manager, and
// prints how many lines each lost, duplicated or garbled.
//
// Every tailer runs in a child process of this binary (-child), because
// hpcloud/tail calls os.Exit on some errors; the hpcloud/tail master child is
// this same source built with -modfile=master.mod. See README.md.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// tailerSpec is one row of the table.
type tailerSpec struct {
	name   string // the -tailers value
	label  string // the table's label
	child  string // -child kind
	master bool   // run the binary built against hpcloud/tail master
}

var allTailers = []tailerSpec{
	{"hpcloud", "hpcloud/tail v1.0.0 inotify", "hpcloud", false},
	{"hpcloud-poll", "hpcloud/tail v1.0.0 poll", "hpcloud-poll", false},
	{"hpcloud-master", "hpcloud/tail master inotify", "hpcloud", true},
	{"hpcloud-master-poll", "hpcloud/tail master poll", "hpcloud-poll", true},
	{"logagent", "logagent Manager", "logagent", false},
	// Not in "all": the same Manager with a glob that also matches the
	// rotated names, so a file renamed away before discovery is still read.
	{"logagent-glob", "logagent Manager app.log*", "logagent-glob", false},
}

// defaultTailers is what -tailers all runs.
var defaultTailers = allTailers[:5]

type config struct {
	rate               float64
	rotations, perFile int
	late               int
	tailers            []tailerSpec
	settle, quiet      time.Duration
	maxWait            time.Duration
	keep, verbose      bool
	src                string
}

func main() {
	child := flag.String("child", "", "internal: run one tailer (hpcloud, hpcloud-poll, logagent) and report to the parent")
	path := flag.String("path", "", "internal: the file a child tails")
	state := flag.String("state", "", "internal: the logagent child's registry directory")
	var cfg config
	flag.Float64Var(&cfg.rate, "rate", 50000, "lines written per second (0: as fast as possible)")
	flag.IntVar(&cfg.rotations, "rotations", 10, "rename rotations per run")
	flag.IntVar(&cfg.perFile, "lines", 10000, "lines written to each app.log before it is rotated")
	flag.IntVar(&cfg.late, "late", 300, "lines written through the old descriptor after each rename")
	tailers := flag.String("tailers", "all", "comma-separated tailers to run: all (all but logagent-glob), or any of "+tailerNames())
	flag.DurationVar(&cfg.settle, "settle", 300*time.Millisecond, "pause between a tailer's start and the first write")
	flag.DurationVar(&cfg.quiet, "quiet", 3*time.Second, "after the writer is done, stop a tailer once it delivered nothing for this long")
	flag.DurationVar(&cfg.maxWait, "max-wait", 20*time.Second, "longest wait for a tailer after the writer is done")
	flag.BoolVar(&cfg.keep, "keep", false, "keep each run's temp directory (logs, child stderr)")
	flag.BoolVar(&cfg.verbose, "v", false, "print each child's stderr tail")
	flag.StringVar(&cfg.src, "src", "", "this program's source directory, to build the hpcloud/tail master child (default: found from the build)")
	flag.Parse()

	if *child != "" {
		os.Exit(runChild(*child, *path, *state))
	}
	var err error
	if cfg.tailers, err = parseTailers(*tailers); err != nil {
		fatalf("%v", err)
	}
	if cfg.rotations < 0 || cfg.perFile < 1 || cfg.late < 0 || cfg.rotations > 9999 {
		fatalf("need -rotations in [0,9999], -lines >= 1, -late >= 0")
	}
	if p := newPlanSize(cfg); p >= 1e9 {
		fatalf("%d lines is too many for the 9-digit line numbers", p)
	}
	os.Exit(runParent(cfg))
}

func newPlanSize(cfg config) int {
	return (cfg.rotations+1)*cfg.perFile + cfg.rotations*cfg.late
}

func tailerNames() string {
	var names []string
	for _, t := range allTailers {
		names = append(names, t.name)
	}
	return strings.Join(names, ", ")
}

func parseTailers(s string) ([]tailerSpec, error) {
	if s == "all" {
		return defaultTailers, nil
	}
	var out []tailerSpec
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, t := range allTailers {
			if t.name == name {
				out = append(out, t)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown tailer %q (have %s)", name, tailerNames())
		}
	}
	return out, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tailcompare: "+format+"\n", args...)
	os.Exit(2)
}

// result is one tailer's row.
type result struct {
	spec      tailerSpec
	version   string
	written   int
	writeRate float64
	received  int // deliveries of valid lines, duplicates included
	unique    int
	lost      int
	lostLate  int
	dupLines  int // distinct lines delivered more than once
	dupExtra  int // extra deliveries
	garbled   int
	errors    int
	gensSeen  int // file generations with at least one line delivered
	perGen    []int
	lastAt    time.Duration // last delivery, relative to the writer's end
	hasLast   bool
	exit      string
	notes     []string
	samples   []string // garbled samples
	stderr    string   // last lines of the child's stderr
	err       error    // the run could not be done
}

func runParent(cfg config) int {
	start := time.Now()
	exe, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	binFor := map[bool]string{false: exe}
	var buildErr error
	buildDir, err := os.MkdirTemp("", "tailcompare-build-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(buildDir)
	for _, t := range cfg.tailers {
		if t.master {
			binFor[true], buildErr = buildMaster(cfg.src, buildDir)
			break
		}
	}
	buildTime := time.Since(start)

	var results []*result
	for _, t := range cfg.tailers {
		var r *result
		switch bin, ok := binFor[t.master]; {
		case t.master && buildErr != nil:
			r = &result{spec: t, err: fmt.Errorf("building the hpcloud/tail master child: %w", buildErr)}
		case ok:
			fmt.Fprintf(os.Stderr, "running %s ...\n", t.label)
			r = runOne(cfg, t, bin)
		default:
			r = &result{spec: t, err: errors.New("no binary")}
		}
		results = append(results, r)
	}
	printReport(cfg, results, time.Since(start), buildTime)
	return 0
}

// buildMaster builds this program against hpcloud/tail master, with the
// alternate module file master.mod beside go.mod.
func buildMaster(src, dir string) (string, error) {
	if src == "" {
		src = sourceDir()
	}
	if _, err := os.Stat(filepath.Join(src, "master.mod")); err != nil {
		return "", fmt.Errorf("no master.mod in %q (pass -src): %w", src, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "tailcompare-hpcloud-master")
	fmt.Fprintf(os.Stderr, "building the hpcloud/tail master child (go build -modfile=master.mod) ...\n")
	cmd := exec.Command(goBin, "build", "-modfile=master.mod", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// sourceDir is the directory this file was compiled from, or the working
// directory when that is unknown (-trimpath).
func sourceDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	wd, _ := os.Getwd()
	return wd
}

// runOne runs the scenario against one tailer in a child process.
func runOne(cfg config, spec tailerSpec, bin string) *result {
	r := &result{spec: spec}
	dir, err := os.MkdirTemp("", "tailcompare-")
	if err != nil {
		r.err = err
		return r
	}
	if cfg.keep {
		r.notes = append(r.notes, "kept "+dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		r.err = err
		return r
	}
	path := filepath.Join(logDir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // exists before the tailer starts
		r.err = err
		return r
	}
	stderrPath := filepath.Join(dir, "child.stderr")
	stderr, err := os.Create(stderrPath)
	if err != nil {
		r.err = err
		return r
	}
	defer stderr.Close()

	p := newPlan(cfg.rotations, cfg.perFile, cfg.late)
	cmd := exec.Command(bin, "-child", spec.child, "-path", path, "-state", filepath.Join(dir, "state"))
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.err = err
		return r
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	exited := make(chan struct{})
	var waitErr error
	rc := newCollector(p)
	readDone := make(chan struct{})
	go func() { rc.read(stdout); close(readDone) }()
	go func() { <-readDone; waitErr = cmd.Wait(); close(exited) }()

	select {
	case <-rc.ready:
	case <-exited:
	case <-time.After(15 * time.Second):
		r.notes = append(r.notes, "child did not report ready within 15s")
	}
	time.Sleep(cfg.settle)

	wr := runWriter(p, path, cfg.rate)
	writeEnd := time.Now()
	r.written = wr.lines
	r.writeRate = float64(wr.lines) / wr.duration.Seconds()
	if wr.err != nil {
		r.notes = append(r.notes, "writer: "+wr.err.Error())
	}

	// Wait until the tailer has been quiet for cfg.quiet, it exits, or
	// cfg.maxWait passes.
	deadline := writeEnd.Add(cfg.maxWait)
	stoppedBy := "quiet"
wait:
	for {
		last := time.Unix(0, rc.lastRecv.Load())
		if last.Before(writeEnd) {
			last = writeEnd
		}
		switch {
		case time.Since(last) >= cfg.quiet:
			break wait
		case time.Now().After(deadline):
			stoppedBy = "max-wait"
			r.notes = append(r.notes, fmt.Sprintf("still delivering after -max-wait %v; stopped it", cfg.maxWait))
			break wait
		}
		select {
		case <-exited:
			stoppedBy = "exit"
			break wait
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = stdin.Close()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		r.notes = append(r.notes, "child did not stop within 5s; killed")
		<-exited
	}

	switch {
	case stoppedBy == "exit" && waitErr != nil:
		r.exit = "died: " + exitText(waitErr)
	case stoppedBy == "exit":
		r.exit = "exited early"
	case waitErr != nil:
		r.exit = exitText(waitErr)
	default:
		r.exit = "ok"
	}
	rc.fill(r, writeEnd)
	r.stderr = tailOfFile(stderrPath, 3)
	return r
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// collector counts what a child reports.
type collector struct {
	p        *plan
	ready    chan struct{}
	lastRecv atomic.Int64 // unix nanos of the last delivered line

	// Owned by read until it returns.
	counts   []uint32
	lastAt   []int64 // per generation: unix nanos of the last delivery
	garbled  int
	samples  []string
	errors   int
	version  string
	notes    []string
	lastErrs []string
}

func newCollector(p *plan) *collector {
	return &collector{p: p, ready: make(chan struct{}), counts: make([]uint32, p.total), lastAt: make([]int64, p.rotations+1)}
}

func (c *collector) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var scratch []byte
	readyClosed := false
	for sc.Scan() {
		rec := sc.Text()
		if len(rec) < 2 {
			if rec == "R" && !readyClosed {
				close(c.ready)
				readyClosed = true
			}
			continue
		}
		kind, text := rec[0], rec[2:]
		switch kind {
		case 'L':
			now := time.Now().UnixNano()
			c.lastRecv.Store(now)
			var n int
			n, scratch = c.p.classify(text, scratch)
			if n < 0 {
				c.garbled++
				if len(c.samples) < 3 {
					c.samples = append(c.samples, fmt.Sprintf("%q", truncate(text, 120)))
				}
				continue
			}
			c.counts[n]++
			c.lastAt[c.p.gen[n]] = now
		case 'E':
			c.errors++
			if len(c.lastErrs) < 3 {
				c.lastErrs = append(c.lastErrs, truncate(text, 160))
			}
		case 'V':
			c.version = text
		case 'N':
			c.notes = append(c.notes, text)
		case 'R':
			if !readyClosed {
				close(c.ready)
				readyClosed = true
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// fill computes the row once read has returned.
func (c *collector) fill(r *result, writeEnd time.Time) {
	r.version = c.version
	r.garbled, r.samples, r.errors = c.garbled, c.samples, c.errors
	r.notes = append(r.notes, c.notes...)
	for _, e := range c.lastErrs {
		r.notes = append(r.notes, "tailer error: "+e)
	}
	seen := make([]bool, c.p.rotations+1)
	r.perGen = make([]int, c.p.rotations+1)
	for n := 0; n < r.written; n++ {
		k := int(c.counts[n])
		r.received += k
		switch {
		case k == 0:
			r.lost++
			if c.p.isLate[n] {
				r.lostLate++
			}
		default:
			r.unique++
			seen[c.p.gen[n]] = true
			r.perGen[c.p.gen[n]]++
			if k > 1 {
				r.dupLines++
				r.dupExtra += k - 1
			}
		}
	}
	for _, s := range seen {
		if s {
			r.gensSeen++
		}
	}
	if last := c.lastRecv.Load(); last > 0 {
		r.lastAt, r.hasLast = time.Unix(0, last).Sub(writeEnd), true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// tailOfFile returns the last n non-empty lines of a file.
func tailOfFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func printReport(cfg config, results []*result, total, build time.Duration) {
	cmdline := strings.Join(append([]string{"go", "run", "."}, quoteArgs(os.Args[1:])...), " ")
	fmt.Printf("\ncommand: (cd bench/tailcompare && %s)\n", cmdline)
	rate := fmt.Sprintf("%.0f lines/s", cfg.rate)
	if cfg.rate <= 0 {
		rate = "full speed"
	}
	fmt.Printf("scenario: %d rotations x %d lines + %d late lines after each rename, 100-byte lines at %s; quiet %v, max wait %v\n",
		cfg.rotations, cfg.perFile, cfg.late, rate, cfg.quiet, cfg.maxWait)
	fmt.Printf("machine: %s %s/%s, %d CPUs\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tailer\twritten\treceived\tlost\tof them late\tduplicated\tgarbled\tfiles seen\tlast line\texit\t")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\tnot run\t\n", r.spec.label)
			continue
		}
		last := "-"
		if r.hasLast {
			last = fmt.Sprintf("%+.2fs", r.lastAt.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\t%s\t\n",
			r.spec.label, r.written, r.unique, r.lost, r.lostLate, r.dupLines, r.garbled,
			r.gensSeen, cfg.rotations+1, last, r.exit)
	}
	tw.Flush()
	fmt.Println()
	fmt.Println("received: distinct lines delivered intact; lost: written, never delivered (\"of them late\": written to a renamed file")
	fmt.Println("after the rename); duplicated: distinct lines delivered more than once; garbled: deliveries that are no written")
	fmt.Println("line (torn, spliced, foreign); files seen: file generations with >= 1 line delivered; last line: when the")
	fmt.Println("last line was delivered, relative to the writer's end (negative: the tailer stopped delivering before).")
	fmt.Println()
	for _, r := range results {
		fmt.Printf("%s:", r.spec.label)
		if r.err != nil {
			fmt.Printf(" not run: %v\n", r.err)
			continue
		}
		fmt.Printf(" built with %s; writer %.0f lines/s", r.version, r.writeRate)
		if r.dupExtra > r.dupLines {
			fmt.Printf("; %d extra deliveries", r.dupExtra)
		}
		if r.errors > 0 {
			fmt.Printf("; %d error lines from the tailer", r.errors)
		}
		fmt.Println()
		fmt.Printf("    delivered per file generation (of %d, the last of %d): %s\n",
			cfg.perFile+cfg.late, cfg.perFile, strings.Trim(fmt.Sprint(r.perGen), "[]"))
		for _, n := range r.notes {
			fmt.Printf("    %s\n", n)
		}
		for _, s := range r.samples {
			fmt.Printf("    garbled: %s\n", s)
		}
		if r.stderr != "" && (cfg.verbose || r.exit != "ok") {
			for _, l := range strings.Split(r.stderr, "\n") {
				fmt.Printf("    stderr: %s\n", truncate(l, 200))
			}
		}
	}
	fmt.Printf("\ntotal run time %v (building the master child: %v)\n", total.Round(100*time.Millisecond), build.Round(100*time.Millisecond))
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
