#!/usr/bin/env bash
# Each external library's headers may be included only by the files
# docs/architecture.md names for it (its "includes" table). Fails, naming
# file, line and header, on any other include of them. Run by make check.
#   tests/lib/check-includes.sh [SOURCE_DIR]     default: agent/
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$root/agent}
doc=$root/docs/architecture.md
table=$(sed -n '/<!-- includes:/,/<!-- \/includes -->/p' "$doc" | grep '^| [A-Za-z]' | grep -v '^| library |')
[ -n "$table" ] || { echo "FAIL: no includes table in $doc"; exit 1; }
bad=0 rules=0
while IFS='|' read -r _ lib headers files _; do
    rules=$((rules + 1))
    allowed=" $(echo "$files" | tr -d '`,' | xargs) "
    for h in $(echo "$headers" | tr -d '`,'); do
        while IFS=: read -r file line text; do
            [ -n "$file" ] || continue
            base=$(basename "$file")
            case "$allowed" in *" $base "*) continue ;; esac
            echo "FAIL $base:$line includes $(echo "$text" | xargs) ($(echo "$lib" | xargs)); docs/architecture.md allows it only in$allowed"
            bad=1
        done < <(grep -Hn "^#include <$h" "$src"/*.c "$src"/*.h 2>/dev/null || true)
    done
done <<<"$table"
[ $bad = 0 ] && echo "includes: $rules libraries, every include where docs/architecture.md says"
exit $bad
