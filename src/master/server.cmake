# The master's network side.
#
# mooncake_master_server: the adapters (gRPC, hot path, HTTP metadata, /metrics),
#   flags, and the MasterServer that wires them to mooncake_master_core. The
#   wire format they speak is mooncake_rpc (src/rpc).
# mooncake_master: the daemon.

mooncake_require_targets(mooncake_master_core)

mooncake_add_library(mooncake_master_server STATIC
    SOURCES
        admin_endpoints.cpp
        grpc_service.cpp
        hot_rpc_server.cpp
        http_metadata_server.cpp
        master_flags.cpp
        master_metrics.cpp
        master_server.cpp
        master_server_ha.cpp
        ha_replication.cpp
        state_image.cpp
        snapshot_log.cpp
        metrics_server.cpp
        prometheus_text.cpp
        request_dispatcher.cpp
        request_dispatcher_offload.cpp
    PUBLIC mooncake_rpc mooncake_http_listener mooncake_master_core mooncake_ha gflags
    PRIVATE mooncake_httplib nlohmann_json::nlohmann_json)
target_compile_definitions(mooncake_master_server PRIVATE
    MOONCAKE_VERSION="${PROJECT_VERSION}")

add_executable(mooncake_master ${CMAKE_CURRENT_SOURCE_DIR}/master_main.cpp)
target_link_libraries(mooncake_master PRIVATE mooncake_master_server)
target_compile_definitions(mooncake_master PRIVATE MOONCAKE_VERSION="${PROJECT_VERSION}")
install(TARGETS mooncake_master RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The systemd unit and an example of its environment file (docs/master.md).
install(FILES
    ${PROJECT_SOURCE_DIR}/packaging/mooncake-master.service
    ${PROJECT_SOURCE_DIR}/packaging/mooncake-master.conf.example
    DESTINATION ${CMAKE_INSTALL_DATADIR}/mooncake)
