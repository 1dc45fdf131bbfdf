package collect

import (
	"cmp"
	"slices"
	"time"
)

// What an agent publishes at <prefix><host>/status, read by logctl.

// FileStatus is the state of one file the agent reads.
type FileStatus struct {
	Path  string `json:"path"`
	Topic string `json:"topic"`
	// Offset is the acknowledged offset: every byte before it is in Kafka.
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
	// LagBytes is what is still to ship (Size - Offset, or more across a rotation).
	LagBytes  int64  `json:"lag_bytes"`
	LastError string `json:"last_error,omitempty"`
	// SendError is Kafka's current error for the file's topic (unknown
	// topic, authorization, message too large, broker down), set while
	// sends to it keep failing and cleared once one succeeds; SendErrorSince
	// is when it began.
	SendError      string     `json:"send_error,omitempty"`
	SendErrorSince *time.Time `json:"send_error_since,omitempty"`
	// OldestUnackedRead is when the oldest line sent to Kafka but not yet
	// acknowledged was read; nil when nothing waits.
	OldestUnackedRead *time.Time `json:"oldest_unacked_read,omitempty"`
}

// ConfigStatus tells which collect config the agent runs.
type ConfigStatus struct {
	// AppliedRevision is the ModRevision of the host layer in use (0: key
	// missing).
	AppliedRevision int64 `json:"applied_revision"`
	// RejectedRevision and RejectReason describe the newest version of the
	// host layer that was refused, if it is newer than the applied one.
	RejectedRevision int64  `json:"rejected_revision,omitempty"`
	RejectReason     string `json:"reject_reason,omitempty"`
	// Layers is every layer's state, in merge order: _common, the groups,
	// the host.
	Layers []LayerStatus `json:"layers,omitempty"`
	// FromCache is set while the agent runs the cached config because etcd
	// has not answered since it started.
	FromCache bool `json:"from_cache,omitempty"`
}

// LayerStatus is the state of one layer of an agent's collect config.
type LayerStatus struct {
	// Layer is the layer's name: "_common", "_groups/<group>" or the host.
	Layer string `json:"layer"`
	// Applied is set once a version is in force; AppliedRevision is its
	// ModRevision (0: the key is missing, an empty layer).
	Applied         bool  `json:"applied"`
	AppliedRevision int64 `json:"applied_revision"`
	// RejectedRevision and RejectReason describe the newest version that
	// was refused, if it is newer than the applied one.
	RejectedRevision int64  `json:"rejected_revision,omitempty"`
	RejectReason     string `json:"reject_reason,omitempty"`
}

// Status is what an agent publishes at <prefix><host>/status.
type Status struct {
	Host string `json:"host"`
	// Groups are the groups the host's agent.yaml names, in merge order.
	Groups    []string     `json:"groups,omitempty"`
	Version   string       `json:"version"`
	StartTime time.Time    `json:"start_time"`
	UpdatedAt time.Time    `json:"updated_at"`
	Config    ConfigStatus `json:"config"`
	Files     []FileStatus `json:"files"`
	// FilesOmitted is how many files are not listed (LimitFiles); LagBytes
	// sums the lag of every file, listed or not.
	FilesOmitted int   `json:"files_omitted,omitempty"`
	LagBytes     int64 `json:"lag_bytes"`
}

// MaxStatusFiles is how many files an agent lists in its status at most: a
// host tailing ten thousand files would otherwise write a value beyond
// etcd's request limit (1.5 MiB by default) every few seconds.
const MaxStatusFiles = 500

// LimitFiles sums the files' lag and keeps at most n of them, those that
// matter most: with an error, then with the most lag. Below n the order is
// kept as it is.
func (s *Status) LimitFiles(n int) {
	s.LagBytes = 0
	for _, f := range s.Files {
		s.LagBytes += f.LagBytes
	}
	if len(s.Files) <= n {
		s.FilesOmitted = 0
		return
	}
	files := slices.Clone(s.Files)
	slices.SortStableFunc(files, func(a, b FileStatus) int {
		if ea, eb := a.LastError != "" || a.SendError != "", b.LastError != "" || b.SendError != ""; ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.LagBytes, a.LagBytes)
	})
	s.Files, s.FilesOmitted = files[:n], len(files)-n
}
