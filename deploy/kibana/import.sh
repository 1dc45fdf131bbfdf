#!/usr/bin/env bash
# Imports saved_objects.ndjson (the web_log-* and app_log-* data views, saved searches, three
# Lens charts and a dashboard) into Kibana 8 through its saved objects API.
# Safe to run again: objects with the same ids are overwritten.
#
# Environment:
#   KIBANA_URL       default http://localhost:5601
#   KIBANA_USER      default elastic (basic auth; unset KIBANA_PASSWORD for none)
#   KIBANA_PASSWORD  default: $ELASTIC_PASSWORD, as in deploy/.env
#   KIBANA_SPACE     a space id; default the default space
#   KIBANA_CACERT    a CA file for an https:// KIBANA_URL with a private CA
#
# Exit status: 0 when every object was imported, 1 otherwise (Kibana's answer
# is printed), 2 on a usage error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
file="$here/saved_objects.ndjson"
url=${KIBANA_URL:-http://localhost:5601}
url=${url%/}
user=${KIBANA_USER:-elastic}
password=${KIBANA_PASSWORD:-${ELASTIC_PASSWORD:-}}

if [ $# -ne 0 ]; then
	echo "usage: [KIBANA_URL=…] [KIBANA_USER=…] [KIBANA_PASSWORD=…] [KIBANA_SPACE=…] $0" >&2
	exit 2
fi
if ! command -v curl >/dev/null 2>&1; then
	echo "import.sh: curl is not installed" >&2
	exit 1
fi
if [ ! -r "$file" ]; then
	echo "import.sh: $file is missing or unreadable" >&2
	exit 1
fi

api="$url/api/saved_objects/_import?overwrite=true"
if [ -n "${KIBANA_SPACE:-}" ]; then
	api="$url/s/$KIBANA_SPACE/api/saved_objects/_import?overwrite=true"
fi

args=(--silent --show-error --max-time 60 -X POST "$api" -H "kbn-xsrf: true" --form "file=@$file")
# Credentials go to curl as a config on stdin, so the password is not in
# the process list. curl's config syntax needs \ and " escaped.
config=
if [ -n "$password" ]; then
	cred="$user:$password"
	cred=${cred//\\/\\\\}
	cred=${cred//\"/\\\"}
	config="user = \"$cred\""
fi
args+=(--config -)
if [ -n "${KIBANA_CACERT:-}" ]; then
	args+=(--cacert "$KIBANA_CACERT")
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT
if ! status=$(curl "${args[@]}" --output "$body" --write-out '%{http_code}' <<<"$config"); then
	echo "import.sh: no answer from Kibana at $url (curl's reason above); is it up and is KIBANA_URL right?" >&2
	exit 1
fi
case $status in
200) ;;
401 | 403)
	echo "import.sh: Kibana refused the credentials of user '$user' (HTTP $status): set KIBANA_USER and KIBANA_PASSWORD" >&2
	cat "$body" >&2
	echo >&2
	exit 1
	;;
*)
	echo "import.sh: POST $api answered HTTP $status:" >&2
	cat "$body" >&2
	echo >&2
	exit 1
	;;
esac
# HTTP 200 also carries per-object failures: {"success":false,"errors":[…]}.
if ! grep -q '"success":true' "$body"; then
	echo "import.sh: Kibana did not import every object:" >&2
	cat "$body" >&2
	echo >&2
	exit 1
fi
count=$(sed -n 's/.*"successCount":\([0-9]*\).*/\1/p' "$body")
echo "import.sh: imported ${count:-all} saved objects into $url${KIBANA_SPACE:+ (space $KIBANA_SPACE)}; open Dashboards > \"logagent: web_log\""
