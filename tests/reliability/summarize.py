#!/usr/bin/env python3
"""Prints the figures of the reliability suite as Markdown, one table per
scenario, from the JSON files its `figures` fixture writes (one per test, in
$MOONCAKE_RELIABILITY_RESULTS or <tmp>/mooncake-reliability).

    python3 tests/reliability/summarize.py [RESULTS_DIR]
"""

import argparse
import glob
import json
import os
import sys
import tempfile

RESULTS_ENV = "MOONCAKE_RELIABILITY_RESULTS"


def default_results_dir():
    # Same rule as conftest.results_dir(), without importing pytest fixtures.
    return os.environ.get(RESULTS_ENV) or os.path.join(tempfile.gettempdir(),
                                                       "mooncake-reliability")


def load(results_dir):
    """[(test node id, figures dict)] sorted by node id."""
    scenarios = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        try:
            with open(path) as source:
                recorded = json.load(source)
            scenarios.append((recorded["test"], recorded["figures"]))
        except (OSError, ValueError, KeyError) as error:
            print(f"skipping {path}: {error}", file=sys.stderr)
    return sorted(scenarios)


def format_value(value, name=""):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and "bytes" in name and abs(value) >= 10 * 1024 * 1024:
        return f"{value:,} ({value / (1024 * 1024):.1f} MiB)"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {format_value(item, key)}" for key, item in value.items())
    return str(value).replace("|", "\\|")


def render(scenarios):
    lines = []
    for nodeid, figures in scenarios:
        module, _, test = nodeid.rpartition("::")
        lines.append(f"### {test}")
        lines.append("")
        lines.append(f"`{module}`, {figures.get('outcome', '?')} "
                     f"in {figures.get('duration_s', '?')} s")
        lines.append("")
        lines.append("| figure | value |")
        lines.append("|---|---|")
        for name in sorted(figures):
            if name in ("outcome", "duration_s"):
                continue
            lines.append(f"| {name} | {format_value(figures[name], name)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", nargs="?", default=default_results_dir(),
                        help="directory of the JSON figure files")
    options = parser.parse_args(argv)
    scenarios = load(options.results_dir)
    if not scenarios:
        print(f"no figures in {options.results_dir}: run the suite first", file=sys.stderr)
        return 1
    print(render(scenarios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
