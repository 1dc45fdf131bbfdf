#!/usr/bin/env bash
# Builds .cache/bin/zincsearch-es, the ZincSearch-based stand-in for
# Elasticsearch that the tests start (internal/testenv StartZinc), from its
# own Go module in tools/zincsearch (see tools/zincsearch/README.md).
#
# Idempotent: does nothing, quietly, when the binary exists and is newer than
# tools/zincsearch's go.mod, go.sum and Go sources and this script. The first
# build downloads ~260 MB of modules (~770 MB unpacked in the module cache)
# through the Go module proxy and takes 2-3 minutes on 2 cores. Environment:
# GO (default go); -f or --force rebuilds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

src=tools/zincsearch
out=.cache/bin/zincsearch-es
GO=${GO:-go}

force=false
case "${1:-}" in
"") ;;
-f | --force) force=true ;;
*)
	echo "usage: $0 [-f|--force]" >&2
	exit 2
	;;
esac

if ! command -v "$GO" >/dev/null 2>&1; then
	echo "build-zinc: '$GO' not found in PATH; install Go $(sed -n 's/^go //p' "$src/go.mod") or newer (https://go.dev/dl/)" >&2
	exit 1
fi
for f in "$src/go.mod" "$src/go.sum" "$src/main.go"; do
	if [ ! -f "$f" ]; then
		echo "build-zinc: $f is missing; is this a complete logagent checkout?" >&2
		exit 1
	fi
done

# The version go.mod requires, stamped into the binary and named in messages.
zinc_version=$(awk '$1 == "github.com/zincsearch/zincsearch" { print $2; exit }' "$src/go.mod")
if [ -z "$zinc_version" ]; then
	echo "build-zinc: $src/go.mod does not require github.com/zincsearch/zincsearch" >&2
	exit 1
fi

if ! $force && [ -x "$out" ]; then
	newer=$(find "$src" scripts/build-zinc.sh -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build-zinc.sh \) \
		-newer "$out" -print -quit)
	[ -z "$newer" ] && exit 0
	echo "build-zinc: $newer changed; rebuilding $out" >&2
else
	echo "build-zinc: building $out (ZincSearch $zinc_version; the first build downloads ~260 MB of modules, ~770 MB unpacked, and takes 2-3 minutes)" >&2
fi

mkdir -p "$(dirname "$out")"
# Built beside the target and renamed, so a test never runs a half-written
# binary. (go build refuses to overwrite a non-executable, hence a directory.)
tmp=$(mktemp -d "$PWD/$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The module is built on its own: GOWORK=off keeps any go.work out, and
# GOFLAGS is set here, not inherited, so the caller's flags for the main
# module (-mod=vendor, say) cannot break it. -mod=readonly: go.sum is
# complete; a build must not rewrite it. meta.Version is what Zinc stamps its
# own releases with; it is stored in the data dir and shown by /version.
if ! (cd "$src" && GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' \
	"$GO" build -trimpath -ldflags "-s -w -X github.com/zincsearch/zincsearch/pkg/meta.Version=$zinc_version" \
	-o "$tmp/zincsearch-es" .); then
	echo "build-zinc: 'go build' in $src failed. The first build needs the Go module proxy" \
		"($("$GO" env GOPROXY)) or a module cache holding ZincSearch $zinc_version's dependencies." >&2
	exit 1
fi
mv -f "$tmp/zincsearch-es" "$out"
echo "build-zinc: built $out" >&2
