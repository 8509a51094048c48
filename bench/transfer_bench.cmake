# transfer_bench: transfer engine throughput vs memcpy and a plain TCP stream
# (results: docs/performance.md, "## Transfer engine").
add_executable(transfer_bench transfer_bench.cpp)
target_link_libraries(transfer_bench PRIVATE mooncake_transfer gflags)
