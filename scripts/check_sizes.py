#!/usr/bin/env python3
"""Fails when a C++ source under src/ or python/src/ is over 700 lines, or a
function in one is over 80 lines (docs/architecture.md, "Sizes"). Run by
ctest (size_check) and so by scripts/run_tests.sh.

    scripts/check_sizes.py [ROOT]

A function is found the way a reader finds one: a line at column 0 that
opens a signature (a name and a parenthesis, not a namespace, class, struct
or enum), whose body opens with the `{` that ends that line or one of the
next few; it ends at the matching `}`. Lambdas and local classes count
towards the function they are in. Generated code is not under these folders.
"""

import pathlib
import re
import sys

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80
FOLDERS = ("src", "python/src")
SUFFIXES = {".cc", ".cpp", ".h", ".hpp"}

SIGNATURE = re.compile(r"^[A-Za-z_~][^;]*\(")
NOT_A_FUNCTION = re.compile(r"^(namespace|class|struct|enum|union|using|typedef|static_assert)\b")
STRING = re.compile(r'"(\\.|[^"\\])*"')
CHARACTER = re.compile(r"'(\\.|[^'\\])*'")


def code_of(line):
    """The line without string and character literals and // comments."""
    return CHARACTER.sub("''", STRING.sub('""', line)).split("//")[0]


def long_functions(lines):
    """(first line, line count, signature) of every function over the limit."""
    found = []
    i = 0
    while i < len(lines):
        if not SIGNATURE.match(lines[i]) or NOT_A_FUNCTION.match(lines[i]):
            i += 1
            continue
        body = i
        while (body < len(lines) and body - i < 12 and
               not lines[body].rstrip().endswith(("{", ";"))):
            body += 1
        if body >= len(lines) or not lines[body].rstrip().endswith("{") or (
                body > i and not lines[body].startswith(" ")):
            i += 1
            continue
        depth, end = 0, body
        for end in range(body, len(lines)):
            code = code_of(lines[end])
            depth += code.count("{") - code.count("}")
            if depth <= 0:
                break
        count = end - i + 1
        if count > MAX_FUNCTION_LINES:
            found.append((i + 1, count, lines[i].strip()))
        i = end + 1
    return found


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1])
    problems = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            lines = path.read_text(errors="replace").split("\n")
            name = path.relative_to(root)
            if len(lines) - 1 > MAX_FILE_LINES:
                problems.append(f"{name}: {len(lines) - 1} lines (at most {MAX_FILE_LINES})")
            for first, count, signature in long_functions(lines):
                problems.append(f"{name}:{first}: function of {count} lines (at most "
                                f"{MAX_FUNCTION_LINES}): {signature[:80]}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_sizes: {len(problems)} file(s) or function(s) too long; split them by "
              "concept (docs/architecture.md, \"Sizes\")")
        return 1
    print("check_sizes: files and functions within their sizes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
