"""Console entry points: each replaces the Python process with the program of
the same name bundled under ``mooncake/bin/``, passing the arguments on.

``mooncake.cli:main`` runs ``mooncake_master``; ``mooncake.cli_client`` and
``mooncake.cli_bench`` hold the other two, as in the reference package."""

import os
import sys

_BIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def bundled_program(name):
    """Path of a bundled program, or None when this install does not ship it.
    A program that lost its execute bits (some installers drop them) gets
    them back, as the reference's launcher does."""
    path = os.path.join(_BIN_DIR, name)
    if not os.path.isfile(path):
        return None
    if not os.access(path, os.X_OK):
        try:
            os.chmod(path, os.stat(path).st_mode | 0o111)
        except OSError:
            return None
    return path if os.access(path, os.X_OK) else None


def _require(name):
    path = bundled_program(name)
    if path is None:
        sys.stderr.write(
            f"{name}: this mooncake installation does not include the program "
            f"(looked for {os.path.join(_BIN_DIR, name)})\n")
        sys.exit(127)
    return path


def exec_bundled(name):
    """Replaces this process (same PID) with the bundled program `name`."""
    path = _require(name)
    os.execv(path, [path] + sys.argv[1:])


def call_bundled(name):
    """Runs the bundled program `name` as a child; returns its exit status."""
    import subprocess
    path = _require(name)
    return subprocess.call([path] + sys.argv[1:])


def main():
    exec_bundled("mooncake_master")


# The names earlier releases of this package used.
def mooncake_master():
    exec_bundled("mooncake_master")


def mooncake_client():
    exec_bundled("mooncake_client")


def transfer_engine_bench():
    return call_bundled("transfer_engine_bench")


if __name__ == "__main__":
    main()
