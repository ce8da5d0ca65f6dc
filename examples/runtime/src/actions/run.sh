#!/bin/sh
# POST /run: runs the request body as a shell command in the workspace and
# answers its exit code and output.
. "$RTB_RUNTIME_HOME/lib/common.sh"
command=$(cat)
cd "${RTB_WORKSPACE:-/workspace}" 2>/dev/null || cd /
output=$(sh -c "$command" 2>&1)
status=$?
printf 'Content-Type: application/json\r\n\r\n'
printf '{"exit_code":%d,"output":%s}\n' "$status" "$(json_string "$output")"
