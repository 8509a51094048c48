# mooncake_client: the standalone client process serving dummy clients
# (docs/standalone_client.md). The target is not called mooncake_client: that
# name belongs to the shared client library.
mooncake_require_targets(mooncake_client_static)

add_executable(mooncake_client_bin ${CMAKE_CURRENT_LIST_DIR}/mooncake_client_main.cpp)
set_target_properties(mooncake_client_bin PROPERTIES OUTPUT_NAME mooncake_client)
target_link_libraries(mooncake_client_bin PRIVATE mooncake_client_static gflags)
target_compile_definitions(mooncake_client_bin PRIVATE MOONCAKE_VERSION="${PROJECT_VERSION}")
install(TARGETS mooncake_client_bin RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
