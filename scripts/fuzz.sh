#!/usr/bin/env bash
# Runs every fuzz target of the module for a fixed time each, one after the
# other (go test -fuzz takes one target at a time): ./scripts/fuzz.sh 8s.
# The seed corpora (testdata/fuzz/<target>) also run as plain tests in every
# `go test`. A failing input is written to testdata/fuzz/<target>/ by go
# test: commit it with the fix, it becomes a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:?usage: $0 FUZZTIME (e.g. 8s, 2m)}
go=${GO:-go}

# "<package dir> <target>" for every func FuzzX(f *testing.F) in a test file.
targets=$(grep -rE --include='*_test.go' --exclude-dir=.git --exclude-dir=.cache --exclude-dir=.demo \
	--exclude-dir=tools -o '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
	sed -E 's|^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*|\1 \2|' | sort)
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

failed=0
while read -r dir target; do
	echo "fuzz: $target ($dir) for $fuzztime"
	if ! "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir"; then
		failed=1
	fi
done <<<"$targets"
if [ "$failed" -ne 0 ]; then
	echo "fuzz: a target failed; its input is under that package's testdata/fuzz/" >&2
	exit 1
fi
