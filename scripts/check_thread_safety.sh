#!/usr/bin/env bash
# Runs clang's thread-safety analysis (-Wthread-safety, as errors) over the
# sources of src/ and python/src/, with the flags of the build's
# compile_commands.json: a member marked MC_GUARDED_BY(m) touched without m
# held, or an MC_REQUIRES function called without it, fails the check.
# The build itself stays on g++; clang only parses (-fsyntax-only).
#
# Usage: check_thread_safety.sh BUILD_DIR [SOURCE_DIR]
# MC_THREAD_SAFETY_ONLY=REGEX limits the check to the files matching it.
# Exit: 0 clean, 1 a violation, 77 (ctest's skip) without a usable clang.
set -euo pipefail
build_dir=$(cd "${1:?usage: check_thread_safety.sh BUILD_DIR [SOURCE_DIR]}" && pwd)
source_dir=$(cd "${2:-$(dirname "$0")/..}" && pwd)

# clang 14 and 15 cannot parse libstdc++ 12's <expected>; 16 and later can.
clang=""
for candidate in clang++-19 clang++-18 clang++-17 clang++-16; do
    if command -v "$candidate" >/dev/null; then
        clang=$candidate
        break
    fi
done
if [ -z "$clang" ]; then
    echo "check_thread_safety: SKIPPED, no clang++ 16 or later (scripts/install_deps.sh installs clang-19)"
    exit 77
fi
if [ ! -f "$build_dir/compile_commands.json" ]; then
    echo "check_thread_safety: $build_dir/compile_commands.json missing (configure the build first)"
    exit 1
fi

# One line per translation unit: the g++ command with clang in its place,
# the object output dropped and the analysis switched on.
commands=$(python3 - "$build_dir/compile_commands.json" "$source_dir" "$clang" \
    "${MC_THREAD_SAFETY_ONLY:-}" <<'PY'
import json, os, re, shlex, sys
database, source_dir, clang, only = sys.argv[1:5]
roots = (source_dir + "/src/", source_dir + "/python/src/")

# Only files that reach the annotations (common/thread_annotations.h,
# through any chain of quoted includes) can break a rule; the others would
# only cost time.
include_line = re.compile(r'^#include "([^"]+)"', re.M)
annotations = os.path.normpath(source_dir + "/src/common/thread_annotations.h")
reaches = {}  # path -> True/False, only for answers known to be exact
def reaches_annotations(path, include_dirs, visiting=None):
    if path in reaches:
        return reaches[path]
    top = visiting is None
    visiting = set() if top else visiting
    if path in visiting:
        return False  # a cycle adds nothing the walk does not see anyway
    visiting.add(path)
    try:
        text = open(path).read()
    except OSError:
        return False
    names = include_line.findall(text)
    found = path == annotations or "common/thread_annotations.h" in names
    for name in names if not found else ():
        for base in (os.path.dirname(path),) + include_dirs:
            candidate = os.path.normpath(os.path.join(base, name))
            if os.path.isfile(candidate):
                found = reaches_annotations(candidate, include_dirs, visiting)
                break
        if found:
            break
    # "Not reached" is exact only for a walk that started here: inside a
    # cycle, a header may look unreached only because its path is open.
    if found or top:
        reaches[path] = found
    return found

for entry in json.load(open(database)):
    path = entry["file"]
    if not path.startswith(roots) or not path.endswith(".cpp"):
        continue
    if only and not re.search(only, path):
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    include_dirs = tuple(arg[2:] for arg in args if arg.startswith("-I") and len(arg) > 2)
    if not reaches_annotations(os.path.normpath(path), include_dirs):
        continue
    kept, skip = [clang], False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg != "-c" and not arg.startswith("-W"):
            kept.append(arg)
    # Not reference-return: a SegmentPool::ReadView hands out references
    # into the pool that stay valid while the view (and its lock) lives,
    # which the analysis cannot express.
    kept += ["-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety",
             "-Wno-thread-safety-reference-return"]
    print("cd " + shlex.quote(entry["directory"]) + " && " + shlex.join(kept))
PY
)
count=$(printf '%s\n' "$commands" | grep -c . || true)
if [ "$count" -eq 0 ]; then
    echo "check_thread_safety: no sources of $source_dir in $build_dir/compile_commands.json"
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if printf '%s\n' "$commands" | xargs -d '\n' -P "${JOBS:-$(nproc)}" -I{} bash -c '{}' >"$log" 2>&1; then
    echo "check_thread_safety: $count files clean ($clang -Wthread-safety)"
    exit 0
fi
grep -E "error:|warning:" "$log" | sort -u | head -"${MC_THREAD_SAFETY_LINES:-100}"
echo "check_thread_safety: violations found in the $count files checked (full output above, first 100 lines)"
exit 1
