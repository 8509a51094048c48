"""Console entry point ``transfer_engine_bench``: the bundled benchmark."""

from mooncake.cli import exec_bundled


def main():
    exec_bundled("transfer_engine_bench")


if __name__ == "__main__":
    main()
