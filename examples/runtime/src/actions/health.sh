#!/bin/sh
# GET /health: the runtime is up and says which version it runs.
. "$RTB_RUNTIME_HOME/lib/common.sh"
printf 'Content-Type: application/json\r\n\r\n'
printf '{"status":"ok","version":%s}\n' "$(json_string "$(cat "$RTB_RUNTIME_HOME/VERSION")")"
