# Tests of the store client (src/client/, except the master client).
# The end-to-end suites start the real mooncake_master and, where the point
# is a second process, tests/cpp/client_test_helper.
mooncake_require_targets(mooncake_client_static mooncake_master)

# Unit tests: no master, no network.
mooncake_add_test(client_unit_test client_unit_test.cpp)
target_link_libraries(client_unit_test PRIVATE mooncake_client_static)


add_library(mooncake_client_test_util STATIC client_test_util.cpp)
target_link_libraries(mooncake_client_test_util PUBLIC mooncake_client_static GTest::gtest)
target_include_directories(mooncake_client_test_util PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(mooncake_client_test_util PUBLIC
    MOONCAKE_MASTER_BIN="$<TARGET_FILE:mooncake_master>"
    CLIENT_TEST_HELPER_BIN="$<TARGET_FILE:client_test_helper>")

add_executable(client_test_helper client_test_helper.cpp)
target_link_libraries(client_test_helper PRIVATE mooncake_client_test_util)

foreach(suite client_e2e_test client_task_test client_fault_test client_netns_test)
    mooncake_add_test(${suite} ${suite}.cpp)
    target_link_libraries(${suite} PRIVATE mooncake_client_test_util)
    add_dependencies(${suite} client_test_helper mooncake_master)
endforeach()

# Not a test: prints the data path's figures next to memcpy and a master
# round trip (docs/client.md, "Performance").
add_executable(client_perf_probe client_perf_probe.cpp)
target_link_libraries(client_perf_probe PRIVATE mooncake_client_test_util)
add_dependencies(client_perf_probe client_test_helper mooncake_master)

# The install tree is usable from outside: install the client component into
# a scratch prefix, build examples/ against it with find_package(Mooncake) and
# run the example against a real master.
add_test(NAME client_install_example
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/client_install_test.sh
        ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} $<TARGET_FILE:mooncake_master>)
set_tests_properties(client_install_example PROPERTIES TIMEOUT 600)
