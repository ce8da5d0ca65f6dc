# For the shell tests: a temporary folder ($tmp) removed on every path, and
# `check DESCRIPTION COMMAND...` counting what passed; `checks_summary` prints
# the count and fails unless every check (at least one) passed.
# Sourced with the folder's name: . tests/support/script_checks.sh rtb-downstream
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${1:-rtb-test}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT   # exit through the EXIT trap on a signal too
trap 'exit 143' TERM

failures=0
checks=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  checks=$((checks + 1))
  if ! "$@"; then
    echo "FAIL: $what" >&2
    failures=$((failures + 1))
  fi
}
checks_summary() {
  echo "$((checks - failures)) of $checks checks passed"
  ((failures == 0 && checks > 0))
}
