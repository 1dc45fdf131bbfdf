#!/usr/bin/env bash
# Checks the systemd units the way CI can without a running systemd:
# `make install` into a scratch root, then `systemd-analyze verify` there (it
# needs the ExecStart binaries to exist, and exits 0 on warnings, so any
# output fails), `systemd-analyze security --offline` against a 3.0 exposure
# budget, and install/uninstall keeping existing configs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

max_exposure=3.0
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "test-units: $*" >&2; exit 1; }

make -s install DESTDIR="$root" PREFIX=/usr/local >/dev/null
# verify resolves dependencies (sysinit.target, network-online.target, …)
# inside the root: give it the host's stock units.
mkdir -p "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
# ExecReload runs the host's kill, which verify looks for in the root too.
mkdir -p "$root/bin"
cp /bin/kill "$root/bin/kill"

units=(logagent.service logtransfer.service)
for u in "${units[@]}"; do
	[ -f "$root/usr/local/lib/systemd/system/$u" ] || fail "$u not installed"
	out=$(systemd-analyze verify --root="$root" "$u" 2>&1) || fail "verify $u failed: $out"
	[ -z "$out" ] || fail "verify $u warned: $out"
	# --threshold counts tenths of the exposure score.
	score=$(systemd-analyze security --offline=yes --root="$root" "$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] || fail "no exposure score for $u"
	systemd-analyze security --offline=yes --root="$root" --threshold="${max_exposure/./}" "$u" >/dev/null 2>&1 ||
		fail "$u exposure $score is above $max_exposure"
	grep -q '^RestrictAddressFamilies=.*AF_UNIX' "$root/usr/local/lib/systemd/system/$u" ||
		fail "$u: RestrictAddressFamilies must keep AF_UNIX (sd_notify)"
	grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$root/usr/local/lib/systemd/system/$u" ||
		fail "$u: ExecReload must send SIGHUP (the daemons' reload request)"
	echo "test-units: $u verified, exposure $score (budget $max_exposure)"
done

# A second install keeps an operator's edited config; uninstall keeps configs.
echo "# edited by the operator" >>"$root/etc/logagent/agent.yaml"
make -s install DESTDIR="$root" PREFIX=/usr/local >/dev/null
grep -q "edited by the operator" "$root/etc/logagent/agent.yaml" || fail "install overwrote an existing config"
for c in agent transfer; do
	[ -f "$root/etc/logagent/$c.yaml" ] || fail "$c.yaml not installed"
done
"$root/usr/local/bin/logagent" -check -config "$root/etc/logagent/agent.yaml" >/dev/null || fail "installed agent.yaml fails -check"
# The example transfer.yaml takes the engine password from the unit's
# EnvironmentFile: check it with that environment, as the service runs.
envfile="$root/etc/logagent/logtransfer.env"
echo "LOGTRANSFER_ES_PASSWORD=example" >"$envfile"
grep -q '^EnvironmentFile=-/etc/logagent/logtransfer.env$' "$root/usr/local/lib/systemd/system/logtransfer.service" ||
	fail "logtransfer.service: EnvironmentFile must name /etc/logagent/logtransfer.env"
env $(cat "$envfile") "$root/usr/local/bin/logtransfer" -check -config "$root/etc/logagent/transfer.yaml" >/dev/null ||
	fail "installed transfer.yaml fails -check with its environment file"
env -u LOGTRANSFER_ES_PASSWORD "$root/usr/local/bin/logtransfer" -check -config "$root/etc/logagent/transfer.yaml" >/dev/null 2>&1 &&
	fail "transfer.yaml passes -check without the password it names"
make -s uninstall DESTDIR="$root" PREFIX=/usr/local >/dev/null
for f in usr/local/bin/logagent usr/local/bin/logtransfer usr/local/bin/logctl usr/local/lib/systemd/system/logagent.service usr/local/lib/sysusers.d/logagent.conf; do
	[ ! -e "$root/$f" ] || fail "uninstall left $f"
done
[ -f "$root/etc/logagent/agent.yaml" ] || fail "uninstall removed a config"
echo "test-units: install/uninstall OK"
