package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
)

// compressedSuffixes are never tailed, even when a glob matches them: they
// are rotated copies that logrotate compressed, already shipped as text.
var compressedSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"}

// ManagerOptions tune file discovery and harvesting.
type ManagerOptions struct {
	HostID          string
	MaxLineBytes    int // agent-wide default; an entry may override it
	MaxMessageBytes int // the producer's limit; events are split to fit
	// MaxBytesInFlight caps the memory of every file's batches together,
	// being encoded or sent and not yet acknowledged.
	MaxBytesInFlight int64
	RescanInterval   time.Duration
	PollInterval     time.Duration
	RotateWait       time.Duration
	CloseInactive    time.Duration
	MaxOpenFiles     int
	ForgetAfter      time.Duration
	// Private are directories the agent writes (its state_dir: registry,
	// config cache): nothing in them is ever read, whatever an entry's glob
	// says, or the agent would ship its own bookkeeping, and then that.
	Private []string
	// Allows, if set, says whether a file may be read at all
	// (files.allowed_paths), given its path with symbolic links resolved.
	Allows func(path string) bool
}

// Manager owns discovery and every harvester: it expands the collect entries'
// globs (on directory events and on a rescan timer), starts a harvester for
// each new file, lets renamed-away and deleted files drain, and stops the
// harvesters of removed entries.
type Manager struct {
	opts    ManagerOptions
	env     *harvesterEnv
	log     *slog.Logger
	metrics *Metrics

	configs chan []collect.Entry // latest wins; read by Run

	// Owned by Run.
	inputs     []*input
	harvesters map[fileKey]*harvesterHandle
	byPath     map[string]*harvester
	exits      chan harvesterExit
	watched    map[string]bool
	fileErrs   map[string]string // path → last error logged, to log each once
	refused    map[string]bool   // entry + reason logged by refuse
	overlaps   map[string]bool
	lastExpire time.Time
	unstarted  []*harvesterHandle // attached during a scan, started once the registry is saved

	statusMu sync.Mutex
	status   []collect.FileStatus

	lastTurn atomic.Int64 // unix nanos of Run's last loop turn, for the watchdog
}

// input is one collect entry as applied.
type input struct {
	entry    collect.Entry
	settings *fileSettings
}

type harvesterHandle struct {
	h      *harvester
	cancel context.CancelFunc
}

type harvesterExit struct {
	h   *harvester
	err error
}

// NewManager prepares a manager; Run starts it.
func NewManager(opts ManagerOptions, reg *Registry, sink Sink, m *Metrics, log *slog.Logger) *Manager {
	mgr := &Manager{
		opts: opts, log: log, metrics: m,
		env: &harvesterEnv{
			hostID: opts.HostID, reg: reg, ids: &identities{reg: reg, log: log}, sink: sink, metrics: m, log: log,
			mem:          newBatchMemory(opts.MaxBytesInFlight, m.BytesInFlight),
			readers:      newReadSlots(opts.MaxBytesInFlight),
			pollInterval: opts.PollInterval, rotateWait: opts.RotateWait, closeInactive: opts.CloseInactive,
			maxMessageBytes: opts.MaxMessageBytes, now: time.Now,
		},
		configs:    make(chan []collect.Entry, 1),
		harvesters: map[fileKey]*harvesterHandle{},
		byPath:     map[string]*harvester{},
		exits:      make(chan harvesterExit),
		watched:    map[string]bool{},
		fileErrs:   map[string]string{},
		refused:    map[string]bool{},
		overlaps:   map[string]bool{},
	}
	mgr.lastTurn.Store(time.Now().UnixNano())
	return mgr
}

// Apply hands a validated collect config to Run; it never blocks, and when
// several arrive quickly only the latest is applied.
func (m *Manager) Apply(entries []collect.Entry) {
	for {
		select {
		case m.configs <- entries:
			return
		default:
		}
		select {
		case <-m.configs:
		default:
		}
	}
}

// SinceLastTurn is how long ago Run's loop last woke; a loop that stops
// turning (a deadlock) grows it past the rescan interval.
func (m *Manager) SinceLastTurn() time.Duration {
	return time.Since(time.Unix(0, m.lastTurn.Load()))
}

// Status returns the state of every tailed file, as of the last scan.
func (m *Manager) Status() []collect.FileStatus {
	m.statusMu.Lock()
	defer m.statusMu.Unlock()
	return slices.Clone(m.status)
}

// Run discovers and harvests until ctx is done, then stops every harvester
// and waits for them. In-flight batches are the sink's to finish.
func (m *Manager) Run(ctx context.Context) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("fsnotify: %w", err)
	}
	defer watcher.Close()
	rescan := time.NewTicker(m.opts.RescanInterval)
	defer rescan.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	for {
		m.lastTurn.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			m.stopAll()
			return nil
		case entries := <-m.configs:
			m.setInputs(entries, watcher)
			m.scan(ctx)
		case <-rescan.C:
			m.scan(ctx)
		case <-soon.C:
			m.scan(ctx)
		case ev, ok := <-watcher.Events:
			if !ok {
				watcher.Events = nil
				continue
			}
			m.fileEvent(ctx, ev, soon)
		case err, ok := <-watcher.Errors:
			if !ok {
				watcher.Errors = nil
				continue
			}
			m.log.Warn("fsnotify error; the periodic rescan still finds files", "error", err)
		case ex := <-m.exits:
			m.harvesterExited(ex)
			if m.env.starved.Load() {
				soon.Reset(50 * time.Millisecond) // a descriptor is free: give it to a waiting file
			}
		}
	}
}

// fileEvent handles a directory event: a write wakes the file's harvester;
// a new matching file is opened at once (renamed away before any scan saw
// it, it would never be read); other changes are coalesced into one scan
// soon after.
func (m *Manager) fileEvent(ctx context.Context, ev fsnotify.Event, soon *time.Timer) {
	if ev.Has(fsnotify.Write) {
		if h := m.byPath[ev.Name]; h != nil {
			h.notify()
		}
	}
	switch {
	case ev.Has(fsnotify.Create) && m.matches(ev.Name):
		m.scan(ctx)
	case ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Chmod):
		soon.Reset(50 * time.Millisecond)
	}
}

func (m *Manager) stopAll() {
	for _, hh := range m.harvesters {
		hh.cancel()
	}
	for len(m.harvesters) > 0 {
		m.harvesterExited(<-m.exits)
	}
}

func (m *Manager) harvesterExited(ex harvesterExit) {
	path := ex.h.currentPath()
	switch {
	case ex.err == nil:
		m.log.Info("finished a rotated or deleted file", "path", path)
	case errors.Is(ex.err, errInactive):
		m.log.Debug("closed inactive file", "path", path)
	case errors.Is(ex.err, context.Canceled):
	default:
		m.fileError(path, ex.err)
	}
	if hh := m.harvesters[ex.h.key]; hh != nil && hh.h == ex.h {
		delete(m.harvesters, ex.h.key)
	}
	if m.byPath[path] == ex.h {
		delete(m.byPath, path)
	}
	m.metrics.FilesOpen.Set(float64(len(m.harvesters)))
}

// setInputs applies a new config: entries keep their identity by path
// pattern, so a changed topic applies to the next lines of running files.
func (m *Manager) setInputs(entries []collect.Entry, watcher *fsnotify.Watcher) {
	m.inputs = m.inputs[:0:0]
	for _, e := range entries {
		m.inputs = append(m.inputs, &input{entry: e, settings: m.settingsFor(e)})
	}
	for _, hh := range m.harvesters {
		if in := m.inputFor(hh.h.input()); in != nil {
			hh.h.configure(in.settings)
		}
	}
	m.watchDirs(watcher)
}

func (m *Manager) settingsFor(e collect.Entry) *fileSettings {
	maxLine := m.opts.MaxLineBytes
	if e.MaxLineBytes > 0 {
		maxLine = e.MaxLineBytes
	}
	s := &fileSettings{
		input: e.Path, topic: e.Topic, raw: e.Format == collect.FormatRaw,
		parseTime: parserFor(e.Timestamp), maxLine: maxLine, fields: e.Fields,
		multiline: e.Multiline,
	}
	if e.Filters() {
		s.keep = e.Keep
	}
	return s
}

// matches reports whether any entry wants the file at path.
func (m *Manager) matches(path string) bool {
	for _, in := range m.inputs {
		if in.entry.Matches(path) {
			return true
		}
	}
	return false
}

func (m *Manager) inputFor(pattern string) *input {
	for _, in := range m.inputs {
		if in.entry.Path == pattern {
			return in
		}
	}
	return nil
}

// watchDirs watches the directory of every pattern whose directory part has
// no wildcard; others are found by the periodic rescan.
func (m *Manager) watchDirs(watcher *fsnotify.Watcher) {
	want := map[string]bool{}
	for _, in := range m.inputs {
		dir := filepath.Dir(in.entry.Path)
		if !collect.HasGlobMeta(dir) {
			want[dir] = true
		}
	}
	for dir := range m.watched {
		if !want[dir] {
			_ = watcher.Remove(dir)
			delete(m.watched, dir)
		}
	}
	for dir := range want {
		if m.watched[dir] {
			continue
		}
		if err := watcher.Add(dir); err != nil {
			m.log.Debug("cannot watch directory; relying on rescans", "dir", dir, "error", err)
			continue
		}
		m.watched[dir] = true
	}
}

// scan expands every entry's glob, first entry first, and reconciles the
// harvesters with what it finds.
func (m *Manager) scan(ctx context.Context) {
	matches := m.expand()
	status, claimed := m.trackAll(ctx, matches)
	m.startHarvesters(ctx)
	m.env.reg.SetInputsScanned(m.patterns())
	m.metrics.HeldDeletedBytes.Set(float64(m.release(claimed)))
	m.pruneLagSeries(status)
	m.pruneFileErrors(matches)
	m.statusMu.Lock()
	m.status = status
	m.statusMu.Unlock()
	m.expireRegistry()
}

// match is a file an entry's glob found (or, with path the entry's own, a
// file it names that does not exist).
type match struct {
	path    string
	in      *input
	missing bool
}

// expand returns the files every entry matches, in the entries' order; a
// file matched by two entries belongs to the first.
func (m *Manager) expand() []match {
	var matches []match
	owner := map[string]string{}
	for _, in := range m.inputs {
		paths, _ := conf.ExpandGlob(in.entry.Path) // patterns were validated
		if len(paths) == 0 && !in.entry.IsGlob() {
			matches = append(matches, match{path: in.entry.Path, in: in, missing: true})
		}
		for _, path := range paths {
			if in.entry.Excluded(path) || hasCompressedSuffix(path) {
				continue
			}
			if first, dup := owner[path]; dup {
				if !m.overlaps[path] {
					m.overlaps[path] = true
					m.log.Warn("file matches two collect entries; the first one wins", "path", path, "first", first, "second", in.entry.Path)
				}
				continue
			}
			owner[path] = in.entry.Path
			matches = append(matches, match{path: path, in: in})
		}
	}
	return matches
}

// trackAll makes sure every matched file is harvested if it has anything
// to ship, and returns their status and identities.
func (m *Manager) trackAll(ctx context.Context, matches []match) ([]collect.FileStatus, map[fileKey]bool) {
	waiting := 0 // files with something to ship and no descriptor
	defer func() { m.setStarved(waiting) }()
	claimed := map[fileKey]bool{}
	status := make([]collect.FileStatus, 0, len(matches))
	for _, mt := range matches {
		st := collect.FileStatus{Path: mt.path, Topic: mt.in.entry.Topic}
		if mt.missing {
			st.LastError = m.missing(mt.path)
			status = append(status, st)
			continue
		}
		if m.fileErrs[mt.path] == missingFile {
			delete(m.fileErrs, mt.path) // it is back, whichever way track finds it
		}
		key, size, err := m.track(ctx, mt.in, mt.path)
		st.LastError = m.fileErrs[mt.path] // also a harvester's read error after its exit
		switch {
		case errors.Is(err, errNoDescriptor):
			waiting++
			st.LastError, st.Size = err.Error(), size
		case err == nil:
			claimed[key] = true
			st.Size = size
			if e := m.env.reg.Lookup(key); e != nil {
				st.Offset = m.env.reg.Offset(e)
			}
			st.LagBytes = max(0, st.Size-st.Offset)
			if hh := m.harvesters[key]; hh != nil {
				if read, ok := hh.h.oldestUnacked(); ok {
					st.OldestUnackedRead = &read
				}
			}
			m.metrics.FileLagBytes.WithLabelValues(mt.path).Set(float64(st.LagBytes))
		}
		status = append(status, st)
	}
	return status, claimed
}

// patterns are the applied entries' path patterns.
func (m *Manager) patterns() []string {
	var ps []string
	for _, in := range m.inputs {
		ps = append(ps, in.entry.Path)
	}
	return ps
}

// release lets go of the harvesters no entry matched this scan: one whose
// entry was removed stops now (the registry keeps its offset); one renamed
// away or deleted reads to its end. It returns the bytes those still hold
// unread.
func (m *Manager) release(claimed map[fileKey]bool) int64 {
	var held int64
	for key, hh := range m.harvesters {
		if claimed[key] {
			continue
		}
		if m.inputFor(hh.h.input()) == nil {
			hh.cancel()
			continue
		}
		if hh.h.lost() {
			m.log.Info("file renamed away or deleted; reading it to its end", "path", hh.h.currentPath())
		}
		held += hh.h.unread()
	}
	return held
}

// pruneFileErrors forgets the errors of files no entry matches any more
// (a glob over a directory of temporary files would grow them without end).
func (m *Manager) pruneFileErrors(matches []match) {
	if len(m.fileErrs) <= len(matches) {
		return
	}
	live := make(map[string]bool, len(matches))
	for _, mt := range matches {
		live[mt.path] = true
	}
	for path := range m.fileErrs {
		if !live[path] {
			delete(m.fileErrs, path)
		}
	}
}

// expireRegistry forgets, once a minute, the entries of files gone for
// longer than forget_after.
func (m *Manager) expireRegistry() {
	if time.Since(m.lastExpire) <= time.Minute {
		return
	}
	m.lastExpire = time.Now()
	open := map[fileKey]bool{}
	for key := range m.harvesters {
		open[key] = true
	}
	if n := m.env.reg.Expire(m.opts.ForgetAfter, open); n > 0 {
		m.log.Info("forgot registry entries of files gone for a long time", "entries", n, "forget_after", m.opts.ForgetAfter)
	}
}

// pruneLagSeries drops lag gauges of paths no longer tailed.
func (m *Manager) pruneLagSeries(status []collect.FileStatus) {
	live := map[string]bool{}
	for _, s := range status {
		live[s.Path] = true
	}
	for _, s := range m.Status() {
		if !live[s.Path] {
			m.metrics.FileLagBytes.DeleteLabelValues(s.Path)
		}
	}
}

func hasCompressedSuffix(path string) bool {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// track makes sure the file at path is being harvested if it has anything
// to ship. It returns the file's identity and size.
func (m *Manager) track(ctx context.Context, in *input, path string) (fileKey, int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, 0, m.fileError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return fileKey{}, 0, m.fileError(path, fmt.Errorf("not a regular file (%s)", fi.Mode().Type()))
	}
	key, err := keyOf(fi)
	if err != nil {
		return fileKey{}, 0, m.fileError(path, err)
	}
	if hh := m.harvesters[key]; hh != nil {
		h := hh.h
		if old := h.currentPath(); old != path {
			delete(m.byPath, old)
		}
		m.byPath[path] = h
		if h.follow(path, in.settings) {
			m.log.Info("file is back at a matched path", "path", path)
		}
		return key, fi.Size(), nil
	}
	// Nothing new in a file we already shipped to its end: hold no descriptor.
	if e := m.env.reg.Lookup(key); e != nil {
		if snap := m.env.reg.Snapshot(e); snap.nothingToRead(fi.Size()) {
			m.env.reg.Seen(e, path, fi.Size())
			return key, fi.Size(), nil
		}
	}
	if reason := m.refusal(path); reason != "" {
		return key, fi.Size(), m.refuse(path, in.entry.Path, reason)
	}
	if len(m.harvesters) >= m.opts.MaxOpenFiles {
		return key, fi.Size(), errNoDescriptor // an expected wait, not a file error
	}
	f, err := os.Open(path)
	if err != nil {
		return key, fi.Size(), m.fileError(path, err)
	}
	// Trust the open descriptor over the earlier stat: the path may have been
	// replaced in between.
	if fi, err = f.Stat(); err == nil {
		key, err = keyOf(fi)
	}
	if err != nil {
		f.Close()
		return key, 0, m.fileError(path, err)
	}
	if m.harvesters[key] != nil { // replaced by a file we already read
		f.Close()
		return key, fi.Size(), nil
	}
	o := opened{f: f, key: key, path: path, size: fi.Size()}
	// start: end applies only before the entry's first scan is recorded;
	// ignore_older to a new file that has not changed for that long. Either
	// only places a file seen for the first time (not a known one, not a copy).
	startAtEnd := in.entry.Start == collect.StartEnd && !m.env.reg.InputScanned(in.entry.Path)
	if d := in.entry.IgnoreOlderDuration(); d > 0 && m.env.now().Sub(fi.ModTime()) > d {
		startAtEnd = true
	}
	if startAtEnd {
		o.startAt = o.size
	}
	entry, err := m.env.ids.open(o)
	if err != nil {
		f.Close()
		return key, fi.Size(), m.fileError(path, err)
	}
	delete(m.fileErrs, path)
	h := newHarvester(m.env, o, entry, in.settings)
	hh := &harvesterHandle{h: h}
	m.harvesters[key] = hh
	m.byPath[path] = h
	m.unstarted = append(m.unstarted, hh)
	return key, fi.Size(), nil
}

// startHarvesters saves the registry once for every file this scan attached,
// then starts their harvesters: an origin must be on disk before a line
// carrying it ships, and one save for many new files (a start-up with
// thousands) instead of one each keeps start-up linear. If the save fails,
// the files are closed and the next scan tries again.
func (m *Manager) startHarvesters(ctx context.Context) {
	unstarted := m.unstarted
	m.unstarted = nil
	if len(unstarted) == 0 {
		return
	}
	if err := m.env.reg.Save(); err != nil {
		for _, hh := range unstarted {
			h := hh.h
			h.abandon()
			delete(m.harvesters, h.key)
			if m.byPath[h.currentPath()] == h {
				delete(m.byPath, h.currentPath())
			}
			m.fileError(h.currentPath(), err)
		}
		return
	}
	for _, hh := range unstarted {
		h := hh.h
		hctx, cancel := context.WithCancel(ctx)
		hh.cancel = cancel
		go func() {
			err := h.run(hctx)
			cancel()
			m.exits <- harvesterExit{h: h, err: err}
		}()
	}
	m.metrics.FilesOpen.Set(float64(len(m.harvesters)))
}

// setStarved tells harvesters whether files wait for a descriptor, so idle
// ones close early, and logs when that starts and ends.
func (m *Manager) setStarved(waiting int) {
	was := m.env.starved.Swap(waiting > 0)
	switch {
	case waiting > 0 && !was:
		m.log.Warn("files.max_open_files reached: files wait for a descriptor; idle files are closed after 1s to make room",
			"max_open_files", m.opts.MaxOpenFiles, "waiting", waiting)
	case waiting == 0 && was:
		m.log.Info("every matched file has a descriptor again")
	}
	m.metrics.FilesWaiting.Set(float64(waiting))
}

// missingFile is the status error of a collected path (not a glob) that
// does not exist.
const missingFile = "no such file; it is read from its start once it appears"

// missing logs once that a collected path does not exist, and returns the
// status error. A typo in a path shows in logctl status instead of silence.
func (m *Manager) missing(path string) string {
	if m.fileErrs[path] != missingFile {
		m.fileErrs[path] = missingFile
		m.log.Warn("collected file does not exist; waiting for it", "path", path)
	}
	return missingFile
}

// refusal says why the file at path must not be read, or "".
func (m *Manager) refusal(path string) string {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		resolved = path
	}
	for _, dir := range m.opts.Private {
		if resolved == dir || strings.HasPrefix(resolved, dir+string(filepath.Separator)) {
			return "the agent's own state (state_dir); never read"
		}
	}
	if m.opts.Allows != nil && !m.opts.Allows(resolved) {
		return "outside files.allowed_paths; not read"
	}
	return ""
}

// refuse logs once per entry and reason that a file it matches is not read,
// and returns the reason as the file's status error. (Once per entry: a glob
// over the state_dir meets a new temporary registry file every second.)
func (m *Manager) refuse(path, pattern, reason string) error {
	m.fileErrs[path] = reason
	if !m.refused[pattern+"\x00"+reason] {
		m.refused[pattern+"\x00"+reason] = true
		m.log.Warn("collect entry matches files the agent does not read", "entry", pattern, "path", path, "reason", reason)
	}
	return errors.New(reason)
}

// errNoDescriptor is the status error of a file waiting because
// files.max_open_files are open.
var errNoDescriptor = errors.New("waiting for a descriptor: files.max_open_files are open; idle files are closed to make room")

// fileError logs a file's error once (until it changes) and returns it.
func (m *Manager) fileError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return err // gone between glob and stat: the next scan settles it
	}
	if m.fileErrs[path] != err.Error() {
		m.fileErrs[path] = err.Error()
		m.metrics.FileErrors.Inc()
		m.log.Error("cannot read file; other files keep shipping", "path", path, "error", err)
	}
	return err
}
