# Tests of the SSD tier (src/client/offload/): files on a temporary
# directory, no master, no network.
mooncake_require_targets(mooncake_offload)
mooncake_add_test(offload_unit_test offload_unit_test.cpp)
target_link_libraries(offload_unit_test PRIVATE mooncake_offload)
