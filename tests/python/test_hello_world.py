"""The spec's hello world, verbatim, against a master on the ports it names."""

import os
import subprocess
import sys

import pytest

from mooncake_testing import REPO_ROOT, MasterProcess, port_is_free

# The same file scripts/quickstart.sh runs.
HELLO_WORLD = os.path.join(REPO_ROOT, "scripts", "hello_world.py")


def test_hello_world_verbatim(master_binary):
    if not (port_is_free(50051) and port_is_free(8080)):
        pytest.skip("ports 50051 and 8080 are not both free on this machine")
    master = MasterProcess(master_binary, port=50051, http_port=8080)
    try:
        master.start(attempts=1)
    except Exception as error:  # lost a race for the fixed ports
        pytest.skip(f"could not start a master on 50051/8080: {error}")
    try:
        finished = subprocess.run([sys.executable, HELLO_WORLD], capture_output=True,
                                  text=True, timeout=180)
    finally:
        master.stop()
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().splitlines()[-1] == "Hello, Mooncake Store!"
