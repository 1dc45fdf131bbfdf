package collect

import (
	"fmt"
	"slices"
)

// Version is one version of a layer's value, as stored in etcd.
type Version struct {
	Layer Layer
	// Revision is the key's mod revision; 0 when the key is missing, which
	// is an empty layer, not an error.
	Revision int64
	// Raw is the value as stored; nil when the key is missing.
	Raw []byte
}

// Rejection is a version of a layer that was refused, and why.
type Rejection struct {
	Version
	Reason string
}

// layerState is what a Stack holds of one layer: the version in force and
// the newest refused one, if it came after.
type layerState struct {
	good     *Version // nil: no version accepted yet
	entries  []Entry  // good's, parsed
	rejected *Rejection
}

// Stack is one host's layers of collect config and what is in force of each.
// A version of a layer is accepted when it parses on its own and the merge
// with the other layers' versions in force passes CheckMerged; otherwise it
// is rejected and the layer's last good version stays in force, while the
// other layers still change. Not safe for concurrent use.
type Stack struct {
	layers []Layer
	state  []layerState
}

// NewStack holds the layers, in merge order (see LayersOf).
func NewStack(layers []Layer) *Stack {
	return &Stack{layers: slices.Clone(layers), state: make([]layerState, len(layers))}
}

// Layers are the stack's layers, in merge order.
func (s *Stack) Layers() []Layer { return slices.Clone(s.layers) }

// Apply takes new versions of some layers (versions of layers the stack
// does not hold are ignored) and returns the ones it rejected. When the
// versions parse but their merge fails, the most specific of them is
// rejected first, then the next, until the merge passes: a host's own
// mistake does not hold back a change to the common layer.
func (s *Stack) Apply(versions []Version) []Rejection {
	var rejected []Rejection
	type candidate struct {
		at      int
		v       Version
		entries []Entry
	}
	var cands []candidate
	for _, v := range versions {
		at := slices.Index(s.layers, v.Layer)
		if at < 0 {
			continue
		}
		entries, err := parseVersion(v)
		if err != nil {
			rejected = append(rejected, s.reject(at, v, err.Error()))
			continue
		}
		cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.at == at }) // the newest wins
		cands = append(cands, candidate{at, v, entries})
	}
	slices.SortFunc(cands, func(a, b candidate) int { return a.at - b.at })
	for len(cands) > 0 {
		candidate := make(map[int][]Entry, len(cands))
		for _, c := range cands {
			candidate[c.at] = c.entries
		}
		err := CheckMerged(Merge(s.layers, s.entriesWith(candidate)))
		if err == nil {
			break
		}
		last := cands[len(cands)-1]
		cands = cands[:len(cands)-1]
		rejected = append(rejected, s.reject(last.at, last.v, fmt.Sprintf("merged with the other layers: %v", err)))
	}
	for _, c := range cands {
		v := c.v
		s.state[c.at] = layerState{good: &v, entries: c.entries}
	}
	return rejected
}

func parseVersion(v Version) ([]Entry, error) {
	if v.Raw == nil {
		return []Entry{}, nil
	}
	return ParseCollectConfig(v.Raw)
}

func (s *Stack) reject(at int, v Version, reason string) Rejection {
	r := Rejection{Version: v, Reason: reason}
	s.state[at].rejected = &r
	return r
}

// entriesWith is every layer's entries in force, or override's for the
// layers (by index) it has.
func (s *Stack) entriesWith(override map[int][]Entry) [][]Entry {
	out := make([][]Entry, len(s.layers))
	for at, st := range s.state {
		if e, ok := override[at]; ok {
			out[at] = e
		} else {
			out[at] = st.entries
		}
	}
	return out
}

// Effective is the merged config in force.
func (s *Stack) Effective() []Sourced {
	return Merge(s.layers, s.entriesWith(nil))
}

// Known reports whether any layer has a version in force: before that, the
// host has no config yet (not even an empty one).
func (s *Stack) Known() bool {
	return slices.ContainsFunc(s.state, func(st layerState) bool { return st.good != nil })
}

// InForce is the version in force of every layer that has one, in merge
// order: what is cached to start on when etcd is down.
func (s *Stack) InForce() []Version {
	var out []Version
	for _, st := range s.state {
		if st.good != nil {
			out = append(out, *st.good)
		}
	}
	return out
}

// Status is every layer's state, in merge order.
func (s *Stack) Status() []LayerStatus {
	out := make([]LayerStatus, len(s.layers))
	for at, l := range s.layers {
		st := s.state[at]
		ls := LayerStatus{Layer: l.String()}
		if st.good != nil {
			ls.AppliedRevision, ls.Applied = st.good.Revision, true
		}
		if r := st.rejected; r != nil && (st.good == nil || r.Revision > st.good.Revision) {
			ls.RejectedRevision, ls.RejectReason = r.Revision, r.Reason
		}
		out[at] = ls
	}
	return out
}
