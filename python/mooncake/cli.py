"""Console entry points: each replaces the Python process with the program of
the same name bundled under ``mooncake/bin/``, passing the arguments on.

``mooncake.cli:main`` runs ``mooncake_master``; ``mooncake.cli_client`` and
``mooncake.cli_bench`` hold the other two, as in the reference package."""

import os
import sys

_BIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def bundled_program(name):
    """Path of a bundled program, or None when this install does not ship it."""
    path = os.path.join(_BIN_DIR, name)
    return path if os.access(path, os.X_OK) else None


def exec_bundled(name):
    """Replaces this process (same PID) with the bundled program `name`."""
    path = bundled_program(name)
    if path is None:
        sys.stderr.write(
            f"{name}: this mooncake installation does not include the program "
            f"(looked for {os.path.join(_BIN_DIR, name)})\n")
        sys.exit(127)
    os.execv(path, [path] + sys.argv[1:])


def main():
    exec_bundled("mooncake_master")


# The names earlier releases of this package used.
def mooncake_master():
    exec_bundled("mooncake_master")


def mooncake_client():
    exec_bundled("mooncake_client")


def transfer_engine_bench():
    exec_bundled("transfer_engine_bench")


if __name__ == "__main__":
    main()
