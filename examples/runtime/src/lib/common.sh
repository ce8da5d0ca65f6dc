# Shared helpers for the runtime's scripts.

log() {
    printf '%s rtb-runtime: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Prints a JSON string literal for "$1" (quotes, backslashes, newlines, tabs).
json_string() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | {
        first=1
        printf '"'
        while IFS= read -r line || [ -n "$line" ]; do
            [ $first -eq 1 ] || printf '\\n'
            printf '%s' "$line"
            first=0
        done
        printf '"'
    }
}
