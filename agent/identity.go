package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileKey is a file's identity on this host while it exists: device and inode.
// An inode can be reused after a delete, so a key alone is never trusted; the
// prefix fingerprint confirms it.
type fileKey struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func keyOf(fi os.FileInfo) (fileKey, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, errors.New("no device and inode on this platform")
	}
	return fileKey{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, nil //nolint:unconvert // widths differ by platform
}

// fingerprintBytes is how much of a file's start identifies it.
const fingerprintBytes = 1024

// fingerprint is a hash of a file's first Len bytes (Len <= fingerprintBytes).
// A file shorter than fingerprintBytes has a short fingerprint that grows
// with it.
type fingerprint struct {
	Len  int    `json:"prefix_len"`
	Hash string `json:"prefix_hash"`
}

func fingerprintOf(prefix []byte) fingerprint {
	sum := sha256.Sum256(prefix)
	return fingerprint{Len: len(prefix), Hash: hex.EncodeToString(sum[:16])}
}

// full reports whether the fingerprint covers fingerprintBytes; only full
// fingerprints are distinctive enough to recognise a copy of a file.
func (f fingerprint) full() bool { return f.Len == fingerprintBytes }

// readFingerprint hashes the first min(n, size) bytes of f, n at most
// fingerprintBytes. Harvesters call it on every read and idle poll.
func readFingerprint(f *os.File, n int) (fingerprint, error) {
	var buf [fingerprintBytes]byte
	got, err := f.ReadAt(buf[:n], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fingerprint{}, fmt.Errorf("read fingerprint: %w", err)
	}
	return fingerprintOf(buf[:got]), nil
}

// newOriginID returns a random 128-bit id, given to a file once when it is
// first seen. Event ids derive from it, so they survive renames.
func newOriginID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
