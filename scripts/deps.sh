#!/usr/bin/env bash
# Installs what the tests need: Go modules (through the module proxy), a C
# toolchain for `go test -race` (it needs cgo), Debian's kcat, an
# independent Kafka client the tests verify with, systemd-analyze, which
# checks the unit files (scripts/test-units.sh), and logrotate, whose
# copytruncate the agent's copy detection is tested against.
# Idempotent and quiet when everything is already present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "deps: 'go' not found in PATH; install Go $(sed -n 's/^go //p' go.mod) or newer (https://go.dev/dl/)" >&2
	exit 1
fi

# Prints nothing when the module cache already has everything.
go mod download

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# Debian puts logrotate in /usr/sbin, which a user's PATH may lack.
command -v logrotate >/dev/null 2>&1 || [ -x /usr/sbin/logrotate ] || missing+=(logrotate)
# Go turns cgo off by itself when it finds no C compiler, and -race fails.
[ "$(go env CGO_ENABLED)" = 1 ] || missing+=(gcc)
if command -v dpkg-query >/dev/null 2>&1; then
	status=$(dpkg-query -W -f='${Status}' libc6-dev 2>/dev/null || true)
	[[ $status == *"ok installed"* ]] || missing+=(libc6-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

# env sets the variable past sudo, which would drop it from our environment.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [ "$(id -u)" -eq 0 ]; then
	:
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	apt=(sudo "${apt[@]}")
else
	echo "deps: missing ${missing[*]}; installing needs root. Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]} (apt-get)" >&2
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for cmd in kcat gcc systemd-analyze logrotate; do
	pkg=$cmd
	[ "$cmd" = systemd-analyze ] && pkg=systemd
	if [[ " ${missing[*]} " == *" $pkg "* ]] && ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		echo "deps: $cmd still missing after apt-get install" >&2
		exit 1
	fi
done
