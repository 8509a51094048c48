"""The spec's hello world, verbatim, for a master on localhost's default
ports (gRPC 50051, HTTP metadata 8080). scripts/quickstart.sh and
tests/python/test_hello_world.py both run this file, so the two cannot drift
apart."""

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

# Not part of the example: make a failure visible (a non-zero exit).
assert data == b"Hello, Mooncake Store!", f"hello world failed: got {data!r}"
