# The master's network side.
#
# mooncake_master_server: the adapters (gRPC, hot path, HTTP metadata, /metrics),
#   flags, and the MasterServer that wires them to mooncake_master_core. The
#   wire format they speak is mooncake_rpc (src/rpc).
# mooncake_master: the daemon.

mooncake_require_targets(mooncake_master_core)

add_library(mooncake_master_server STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/admin_endpoints.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/grpc_service.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/hot_rpc_server.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/http_metadata_server.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/master_flags.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/master_metrics.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/master_server.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/master_server_ha.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/ha_replication.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/state_image.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/snapshot_log.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/metrics_server.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/prometheus_text.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/request_dispatcher.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/request_dispatcher_offload.cpp)
target_link_libraries(mooncake_master_server
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
