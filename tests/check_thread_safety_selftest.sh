#!/usr/bin/env bash
# Shows that scripts/check_thread_safety.sh can fail: a scratch tree with one
# guarded member written without its mutex must be refused, and the same
# file with the lock taken must pass. Exits 77 (skipped) without clang 16+.
set -euo pipefail
project="$(cd "$(dirname "$0")/.." && pwd)"
checker="$project/scripts/check_thread_safety.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src" "$scratch/build"

write_case() {  # $1: the body of Counter::Add
    cat >"$scratch/src/counter.cpp" <<CPP
#include "common/mutex.h"
class Counter {
   public:
    void Add() { $1 }
   private:
    mooncake::Mutex mutex_;
    int total_ MC_GUARDED_BY(mutex_) = 0;
};
int main() { Counter counter; counter.Add(); }
CPP
    cat >"$scratch/build/compile_commands.json" <<JSON
[{"directory": "$scratch/build", "file": "$scratch/src/counter.cpp",
  "command": "c++ -I$project/src -std=c++23 -o counter.o -c $scratch/src/counter.cpp"}]
JSON
}

write_case "++total_;"
set +e
"$checker" "$scratch/build" "$scratch" >"$scratch/unlocked.log" 2>&1
rc=$?
set -e
if [ $rc -eq 77 ]; then
    cat "$scratch/unlocked.log"
    exit 77
fi
if [ $rc -eq 0 ] || ! grep -q "requires holding mutex" "$scratch/unlocked.log"; then
    echo "check_thread_safety self-test: an unlocked write passed the check"
    cat "$scratch/unlocked.log"
    exit 1
fi

write_case "mooncake::MutexLock lock(mutex_); ++total_;"
if ! "$checker" "$scratch/build" "$scratch" >"$scratch/locked.log" 2>&1; then
    echo "check_thread_safety self-test: a locked write was refused"
    cat "$scratch/locked.log"
    exit 1
fi
echo "check_thread_safety self-test: ok"
