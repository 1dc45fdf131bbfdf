#!/usr/bin/env bash
# One-shot setup of the compose stack's Elasticsearch (service es-setup): the
# password of the built-in kibana_system user, and a least-privilege role and
# user for logtransfer. Idempotent: every start of the stack runs it again.
#
# Environment: ES_URL, ELASTIC_PASSWORD, KIBANA_SYSTEM_PASSWORD,
# LOGTRANSFER_ES_PASSWORD, and INDEX_PATTERNS (comma-separated index patterns
# logtransfer writes, default web_log-*).
set -euo pipefail

url=${ES_URL:-http://elasticsearch:9200}
: "${ELASTIC_PASSWORD:?ELASTIC_PASSWORD is not set (deploy/.env)}"
: "${KIBANA_SYSTEM_PASSWORD:?KIBANA_SYSTEM_PASSWORD is not set (deploy/.env)}"
: "${LOGTRANSFER_ES_PASSWORD:?LOGTRANSFER_ES_PASSWORD is not set (deploy/.env)}"
patterns=${INDEX_PATTERNS:-web_log-*}

# json_string prints $1 as a JSON string.
json_string() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# es METHOD PATH reads a JSON body on stdin and fails with Elasticsearch's
# answer unless it is a 2xx. Credentials and bodies stay out of the process
# list.
es() {
	local out status cred=elastic:$ELASTIC_PASSWORD
	cred=${cred//\\/\\\\}
	cred=${cred//\"/\\\"}
	out=$(mktemp)
	status=$(curl --silent --show-error --max-time 30 -X "$1" "$url$2" \
		-H 'Content-Type: application/json' --data-binary @- \
		--config <(printf 'user = "%s"\n' "$cred") \
		--output "$out" --write-out '%{http_code}') || {
		rm -f "$out"
		echo "es-setup: $1 $2: no answer from $url" >&2
		return 1
	}
	if [ "${status:0:1}" != 2 ]; then
		echo "es-setup: $1 $2: HTTP $status: $(cat "$out")" >&2
		rm -f "$out"
		return 1
	fi
	rm -f "$out"
}

names=""
IFS=, read -ra list <<<"$patterns"
for p in "${list[@]}"; do
	names+="${names:+,}$(json_string "$p")"
done

es POST /_security/user/kibana_system/_password <<<"{\"password\":$(json_string "$KIBANA_SYSTEM_PASSWORD")}"

# What logtransfer does: install its index templates (manage_index_templates),
# auto-create daily indices and bulk-index (create_index, write), list them for
# retention_days (_resolve/index: view_index_metadata) and delete expired ones
# (delete_index).
es PUT /_security/role/logtransfer <<EOF
{"cluster": ["manage_index_templates"],
 "indices": [{"names": [$names],
              "privileges": ["create_index", "write", "view_index_metadata", "delete_index"]}]}
EOF

es PUT /_security/user/logtransfer <<<"{\"password\":$(json_string "$LOGTRANSFER_ES_PASSWORD"),\"roles\":[\"logtransfer\"],\"full_name\":\"logtransfer (Kafka to Elasticsearch)\"}"

echo "es-setup: kibana_system password set; role and user logtransfer for $patterns ready"
