# Transfer engine tests. The end-to-end ones run transfer_test_peer as the
# other process (found next to the test binary).
add_executable(transfer_test_peer transfer_test_peer.cpp)
target_link_libraries(transfer_test_peer PRIVATE mooncake_transfer gflags)

mooncake_add_test(transfer_unit_test transfer_unit_test.cpp)
target_link_libraries(transfer_unit_test PRIVATE mooncake_transfer)

mooncake_add_test(transfer_engine_test transfer_engine_test.cpp)
target_link_libraries(transfer_engine_test PRIVATE mooncake_transfer mooncake_httplib)
add_dependencies(transfer_engine_test transfer_test_peer)

mooncake_add_test(transfer_netns_test transfer_netns_test.cpp)
add_dependencies(transfer_netns_test transfer_test_peer)

mooncake_add_test(transfer_notify_test transfer_notify_test.cpp)
target_link_libraries(transfer_notify_test PRIVATE mooncake_transfer)
