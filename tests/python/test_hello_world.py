"""The spec's hello world, verbatim, against a master on the ports it names."""

import subprocess
import sys

import pytest

from mooncake_testing import MasterProcess, port_is_free

HELLO_WORLD = '''
from mooncake.store import MooncakeDistributedStore

# 1. Create store instance
store = MooncakeDistributedStore()

# 2. Setup with all required parameters
store.setup(
    "localhost",           # Your node's address
    "http://localhost:8080/metadata",    # HTTP metadata server
    512*1024*1024,          # 512MB segment size
    128*1024*1024,          # 128MB local buffer
    "tcp",                             # Use TCP (RDMA for high performance)
    "",                            # Leave empty; Mooncake auto-picks RDMA devices when needed
    "localhost:50051"        # Master service
)

# 3. Store data
store.put("hello_key", b"Hello, Mooncake Store!")

# 4. Retrieve data
data = store.get("hello_key")
print(data.decode())  # Output: Hello, Mooncake Store!

# 5. Clean up
store.close()
'''


def test_hello_world_verbatim(master_binary):
    if not (port_is_free(50051) and port_is_free(8080)):
        pytest.skip("ports 50051 and 8080 are not both free on this machine")
    master = MasterProcess(master_binary, port=50051, http_port=8080)
    try:
        master.start(attempts=1)
    except Exception as error:  # lost a race for the fixed ports
        pytest.skip(f"could not start a master on 50051/8080: {error}")
    try:
        finished = subprocess.run([sys.executable, "-c", HELLO_WORLD], capture_output=True,
                                  text=True, timeout=180)
    finally:
        master.stop()
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().splitlines()[-1] == "Hello, Mooncake Store!"
