# Tests of the master's network side and of the master's C++ RPC client.
# The end-to-end suites start the real mooncake_master binary on free
# loopback ports.
mooncake_require_targets(mooncake_master mooncake_master_client)

add_library(master_server_test_util STATIC
    ${CMAKE_CURRENT_LIST_DIR}/master_server_test_util.cpp)
target_link_libraries(master_server_test_util PUBLIC mooncake_rpc GTest::gtest mooncake_httplib)
target_compile_definitions(master_server_test_util PUBLIC
    MOONCAKE_MASTER_BIN="$<TARGET_FILE:mooncake_master>"
    MOONCAKE_TEST_VERSION="${PROJECT_VERSION}")

# In-process units: framing, conversions, Prometheus text, dispatcher, config file.
mooncake_add_test(master_server_unit_test ${CMAKE_CURRENT_LIST_DIR}/master_server_unit_test.cpp)
target_link_libraries(master_server_unit_test PRIVATE mooncake_master_server)

# The real binary over gRPC, the hot-path socket and HTTP.
mooncake_add_test(master_server_test ${CMAKE_CURRENT_LIST_DIR}/master_server_test.cpp)
target_link_libraries(master_server_test PRIVATE master_server_test_util mooncake_httplib)
add_dependencies(master_server_test mooncake_master)

# Start-up validation, config file, signals.
mooncake_add_test(master_server_startup_test
    ${CMAKE_CURRENT_LIST_DIR}/master_server_startup_test.cpp)
target_link_libraries(master_server_startup_test PRIVATE master_server_test_util mooncake_httplib)
add_dependencies(master_server_startup_test mooncake_master)

# MasterClient against the real binary: hot path, fallback, failures, restarts.
mooncake_add_test(master_client_test ${CMAKE_CURRENT_LIST_DIR}/master_client_test.cpp)
target_link_libraries(master_client_test PRIVATE master_server_test_util mooncake_master_client
    mooncake_httplib)
add_dependencies(master_client_test mooncake_master)

# The HTTP request parser and the metadata store's accounting, in-process.
mooncake_add_test(http_parser_test ${CMAKE_CURRENT_LIST_DIR}/http_parser_test.cpp)
target_link_libraries(http_parser_test PRIVATE mooncake_master_server)
# Cluster authentication of an in-process master: gRPC tokens, hot-path
# handshake, MasterClient with and without the secret.
mooncake_add_test(cluster_auth_master_test ${CMAKE_CURRENT_LIST_DIR}/cluster_auth_master_test.cpp)
target_link_libraries(cluster_auth_master_test PRIVATE mooncake_master_server
    mooncake_master_client)

# The HA change log on the wire and ImageSource in-process (docs/ha.md).
mooncake_add_test(master_ha_log_test ${CMAKE_CURRENT_LIST_DIR}/master_ha_log_test.cpp)
target_link_libraries(master_ha_log_test PRIVATE mooncake_master_server)
