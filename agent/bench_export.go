package agent

import "time"

// EncodeEnvelopes encodes lines exactly as a harvester of the file path would
// ship them, for bench/agentbench's bare-producer baseline and the transfer's
// tests: the same envelope encoder, event ids from newEventIDSeed(hostID,
// origin), offsets as if the lines were consecutive in a file starting at 0
// (each followed by a newline), and stamp as the read time. It returns each line's envelope and
// its hex event id (the event.id header). Both share two backing arrays, so a
// million lines cost a handful of allocations.
//
// It exists for benchmarks and tests; the agent does not use it.
func EncodeEnvelopes(hostID, origin, path string, stamp time.Time, lines [][]byte) (values, ids [][]byte) {
	enc := newEnvelopeEncoder(hostID, path, nil)
	seed := newEventIDSeed(hostID, origin)
	var sc stampCache
	ts := sc.format(stamp)

	idArena := make([]byte, 0, 32*len(lines))
	var size int
	for _, l := range lines {
		size += len(l)
	}
	// Envelope overhead is ~230 bytes beyond the message for short host ids
	// and paths; the arena grows if escaping needs more.
	arena := make([]byte, 0, size+len(lines)*(256+len(hostID)+len(path)))

	values = make([][]byte, len(lines))
	ids = make([][]byte, len(lines))
	var offset int64
	for i, l := range lines {
		mark := len(idArena)
		idArena = seed.appendEventID(idArena, offset)
		ids[i] = idArena[mark:len(idArena):len(idArena)]
		start := len(arena)
		arena = enc.appendEvent(arena, ts, l, offset, 0, ids[i])
		values[i] = arena[start:len(arena):len(arena)]
		offset += int64(len(l)) + 1
	}
	return values, ids
}
