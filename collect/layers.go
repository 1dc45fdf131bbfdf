package collect

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/logagent/logagent/conf"
)

// Kind says which hosts a layer of collect config applies to.
type Kind int

// The kinds of layer, least specific first: the order in which they merge.
const (
	Common Kind = iota // every host
	Group              // the hosts that name the group in their agent.yaml
	Host               // one host
)

// Layer names one layer of a host's collect config. Name is the group or
// host name; empty for Common.
type Layer struct {
	Kind Kind
	Name string
}

// CommonLayer, GroupLayer and HostLayer name layers.
func CommonLayer() Layer            { return Layer{Kind: Common} }
func GroupLayer(group string) Layer { return Layer{Kind: Group, Name: group} }
func HostLayer(host string) Layer   { return Layer{Kind: Host, Name: host} }

// String is the layer as logs, status and logctl show it, the same as its
// key below the prefix without "/collect_config": "_common", "_groups/web",
// "web-1".
func (l Layer) String() string {
	switch l.Kind {
	case Common:
		return conf.CommonLayerName
	case Group:
		return conf.GroupsKeyName + "/" + l.Name
	default:
		return l.Name
	}
}

// ParseLayerName is String's inverse.
func ParseLayerName(s string) (Layer, error) {
	if s == conf.CommonLayerName {
		return CommonLayer(), nil
	}
	if g, ok := strings.CutPrefix(s, conf.GroupsKeyName+"/"); ok {
		return GroupLayer(g), conf.ValidateGroupName(g)
	}
	return HostLayer(s), conf.ValidateHostID(s)
}

// LayersOf lists a host's layers in merge order: the common layer, its
// groups in the order given, the host's own.
func LayersOf(host string, groups []string) []Layer {
	out := []Layer{CommonLayer()}
	for _, g := range groups {
		out = append(out, GroupLayer(g))
	}
	return append(out, HostLayer(host))
}

// Sourced is an entry of a merged config and the layer it came from.
type Sourced struct {
	Entry
	Layer Layer
}

// Merge is a host's effective config: the layers' entries, least specific
// layer first (layers must be in merge order). An entry is identified by
// its path: one with the path of an earlier layer's entry replaces it as a
// whole, in its place; one with "disabled": true removes it. New paths are
// appended, so the list keeps a stable order as layers change. The result
// holds no disabled entries.
func Merge(layers []Layer, entries [][]Entry) []Sourced {
	var out []Sourced
	for i, l := range layers {
		for _, e := range entries[i] {
			at := slices.IndexFunc(out, func(s Sourced) bool { return s.Path == e.Path })
			switch {
			case e.Disabled && at >= 0:
				out = slices.Delete(out, at, at+1)
			case e.Disabled:
			case at >= 0:
				out[at] = Sourced{Entry: e, Layer: l}
			default:
				out = append(out, Sourced{Entry: e, Layer: l})
			}
		}
	}
	return out
}

// Plain is the entries of a merged config without their layers.
func Plain(merged []Sourced) []Entry {
	out := make([]Entry, len(merged))
	for i, s := range merged {
		out[i] = s.Entry
	}
	return out
}

// CheckMerged refuses a merged config in which an entry could never read a
// file: a literal path that an earlier entry's glob already takes (a file
// goes to the first entry that matches it). The message names both layers
// and the ways out.
func CheckMerged(merged []Sourced) error {
	var problems []string
	for i, later := range merged {
		if later.IsGlob() {
			continue
		}
		for _, earlier := range merged[:i] {
			if earlier.IsGlob() && earlier.Matches(later.Path) {
				problems = append(problems, fmt.Sprintf(
					"entry %q (layer %s) is never read: the glob %q of layer %s, listed before it, takes that file; set the path %q in layer %s to replace that entry, or add %q to its exclude",
					later.Path, later.Layer, earlier.Path, earlier.Layer, earlier.Path, later.Layer, filepath.Base(later.Path)))
				break
			}
		}
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}
