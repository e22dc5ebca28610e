#!/usr/bin/env bash
# Every Makefile target that installs packages with tests/lib/deps.sh GROUP and
# then compiles (runs $(MAKE) with a build target, or a compiler) must install
# the build group too: a fresh machine otherwise stops at a missing header
# (make demo once did). Run by make check; prints one line per target checked.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
makefile=${1:-$root/Makefile}   # another Makefile: to check the check
build=$("$root/tests/lib/deps.sh" --list build | sort)
bad=0
# target name, then its recipe lines, from the Makefile's "target:" blocks.
while IFS=$'\t' read -r target group compiles; do
    [[ $compiles == yes ]] || continue
    have=$("$root/tests/lib/deps.sh" --list "$group" | sort)
    lacking=$(comm -23 <(echo "$build") <(echo "$have") | tr '\n' ' ')
    if [[ -n $lacking ]]; then
        echo "FAIL make $target: installs deps group '$group', then compiles, but the group lacks: $lacking"
        bad=1
    else
        echo "ok   make $target: deps group '$group' has every build package"
    fi
done < <(awk '
    /^[a-zA-Z_-]+:/ { if (t != "") print t "\t" g "\t" c; t = $1; sub(/:.*/, "", t); g = ""; c = "no"; next }
    /^\t/ && t != "" {
        if (match($0, /tests\/lib\/deps\.sh [a-z]+/)) { g = substr($0, RSTART + 18, RLENGTH - 18) }
        if (g != "" && ($0 ~ /\$\(MAKE\) (all|static|unit|unit-asan|musl-check|fuzz-smoke)/ || $0 ~ /\$\(CC\)/)) c = "yes"
        next
    }
    /^[^\t]/ { if (t != "") print t "\t" g "\t" c; t = "" }
    END { if (t != "") print t "\t" g "\t" c }
' "$makefile")
exit $bad
