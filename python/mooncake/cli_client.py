"""Console entry point ``mooncake_client``: the bundled standalone client."""

from mooncake.cli import exec_bundled


def main():
    exec_bundled("mooncake_client")


if __name__ == "__main__":
    main()
