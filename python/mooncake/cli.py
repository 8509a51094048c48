"""Console entry points: each replaces the Python process with the program of
the same name bundled under ``mooncake/bin/``, passing the arguments on."""

import os
import sys

_BIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def bundled_program(name):
    """Path of a bundled program, or None when this install does not ship it."""
    path = os.path.join(_BIN_DIR, name)
    return path if os.access(path, os.X_OK) else None


def _exec(name):
    path = bundled_program(name)
    if path is None:
        sys.stderr.write(
            f"{name}: this mooncake installation does not include the program "
            f"(looked for {os.path.join(_BIN_DIR, name)})\n")
        sys.exit(127)
    os.execv(path, [path] + sys.argv[1:])


def mooncake_master():
    _exec("mooncake_master")


def mooncake_client():
    _exec("mooncake_client")


def transfer_engine_bench():
    _exec("transfer_engine_bench")
