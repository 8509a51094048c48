# Benchmark of the master logic alone (no network): master_bench.
add_executable(master_bench master_bench.cpp)
target_link_libraries(master_bench PRIVATE mooncake_master_core)
