"""Console entry point ``transfer_engine_topology_dump``: prints the NIC
topology the transfer engine sees on this host, as one line

    Local topology [te/discover]: {"cpu:0": [[preferred NICs], [others]], ...}

or, with ``--use-custom-topo`` / ``--custom-topo-json PATH``, the JSON file
named by ``MC_CUSTOM_TOPO_JSON`` (mode ``custom (PATH)``). Exit status 0, or 1
with ``error: failed to dump topology: ...`` on stderr."""

import argparse
import json
import os
import sys


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="transfer_engine_topology_dump",
        description="Print the local NIC topology of the Mooncake transfer engine.")
    parser.add_argument("--device-name", default="",
                        help="comma-separated NIC names to keep (default: all)")
    parser.add_argument("--backend", choices=["auto", "te", "tent"], default="auto",
                        help="engine whose view to print (this build has only 'te')")
    parser.add_argument("--use-custom-topo", action="store_true",
                        help="print the topology file named by MC_CUSTOM_TOPO_JSON")
    parser.add_argument("--custom-topo-json", metavar="PATH", default=None,
                        help="print this topology file (implies --use-custom-topo)")
    return parser.parse_args(argv)


def _custom_topology(path):
    if not path:
        raise RuntimeError("--use-custom-topo given but MC_CUSTOM_TOPO_JSON is not set")
    with open(path, "r", encoding="utf-8") as file:
        return json.load(file)


def dump(argv=None):
    """Returns the line to print; raises on failure."""
    args = _parse_args(argv)
    if args.backend == "tent":
        raise RuntimeError("the TENT backend is not part of this build (use --backend te)")
    custom_path = args.custom_topo_json
    if custom_path is None and args.use_custom_topo:
        custom_path = os.environ.get("MC_CUSTOM_TOPO_JSON", "")
    if custom_path is not None:
        topology = _custom_topology(custom_path)
        return f"Local topology [te/custom ({custom_path})]: {json.dumps(topology)}"
    os.environ.setdefault("MC_LOG_LEVEL", "ERROR")
    os.environ["MC_CUSTOM_TOPO_JSON"] = ""
    from mooncake.engine import TransferEngine
    text = TransferEngine().get_local_topology(device_name=args.device_name)
    return f"Local topology [te/discover]: {json.dumps(json.loads(text))}"


def main(argv=None):
    try:
        line = dump(argv)
    except SystemExit:
        raise
    except Exception as error:  # every failure is reported the same way
        sys.stderr.write(f"error: failed to dump topology: {error}\n")
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
