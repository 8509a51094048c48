"""Console entry point ``transfer_engine_bench``: runs the bundled benchmark
as a child process and returns its exit status (as the reference does)."""

import sys

from mooncake.cli import call_bundled


def main():
    return call_bundled("transfer_engine_bench")


if __name__ == "__main__":
    sys.exit(main())
