# Tests of the standalone client and its dummy clients (src/client/dummy_*,
# src/client/real_client_service.*, src/tools/mooncake_client_main.cpp):
# a real master, a real mooncake_client process and dummies in this process
# and in tests/cpp/dummy_test_helper processes.
mooncake_require_targets(mooncake_client_bin mooncake_client_test_util)

add_executable(dummy_test_helper dummy_test_helper.cpp)
target_link_libraries(dummy_test_helper PRIVATE mooncake_client_test_util)

mooncake_add_test(dummy_client_test dummy_client_test.cpp)
target_link_libraries(dummy_client_test PRIVATE mooncake_client_test_util)
target_compile_definitions(dummy_client_test PRIVATE
    MOONCAKE_CLIENT_BIN="$<TARGET_FILE:mooncake_client_bin>"
    DUMMY_TEST_HELPER_BIN="$<TARGET_FILE:dummy_test_helper>")
add_dependencies(dummy_client_test dummy_test_helper mooncake_client_bin mooncake_master)
