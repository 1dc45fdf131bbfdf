package agent

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// FuzzOpenRegistry: registry.json is read at every start, after crashes,
// full disks and hand edits. OpenRegistry never panics; a file it refuses
// is a clear error, and a file it accepts is saved and loaded back as the
// same registry.
// Seeds: testdata/fuzz/FuzzOpenRegistry.
func FuzzOpenRegistry(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := os.MkdirTemp(fuzzTempRoot, "registry")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "registry.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRegistry(path)
		if err != nil {
			if r != nil {
				t.Fatalf("refused (%v), yet returned a registry", err)
			}
			return
		}
		r.mu.Lock()
		r.dirty = true // save even what Open did not change
		r.mu.Unlock()
		if err := r.Save(); err != nil {
			t.Fatalf("save of an accepted registry: %v", err)
		}
		back, err := OpenRegistry(path)
		if err != nil {
			saved, _ := os.ReadFile(path)
			t.Fatalf("accepted %q, saved %s, refused it: %v", data, saved, err)
		}
		if got, want := registryState(back), registryState(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("accepted %q\nloaded      %s\nsaved+reloaded %s", data, want, got)
		}
	})
}

// fuzzTempRoot is where FuzzOpenRegistry saves: a tmpfs when there is one,
// so Save's fsyncs cost nothing and the fuzzer runs thousands of inputs a
// second instead of a dozen.
var fuzzTempRoot = func() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}()

// registryState is what a registry knows, in a canonical order, as JSON.
func registryState(r *Registry) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var f registryFile
	f.Version = registryVersion
	for _, e := range r.attached {
		f.Entries = append(f.Entries, e)
	}
	f.Entries = append(f.Entries, r.detached...)
	slices.SortStableFunc(f.Entries, func(a, b *RegistryEntry) int {
		return cmp.Or(cmp.Compare(a.Key.Dev, b.Key.Dev), cmp.Compare(a.Key.Ino, b.Key.Ino), cmp.Compare(a.Origin, b.Origin))
	})
	for in := range r.inputs {
		f.Inputs = append(f.Inputs, in)
	}
	slices.Sort(f.Inputs)
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return string(b)
}
