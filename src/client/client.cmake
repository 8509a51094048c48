# libmooncake_client: the store client (include/mooncake/client.h).
#
# The sources are compiled once (position independent) and packed twice:
#   mooncake_client         SHARED, what C++ programs link (installed, exported
#                           as Mooncake::client; its internal static libraries
#                           are linked in, only the public headers are exposed)
#   mooncake_client_static  STATIC, what the Python extension links so the
#                           wheel carries no libmooncake_client.so of its own
mooncake_require_targets(mooncake_master_client mooncake_transfer)

add_library(mooncake_client_objects OBJECT
    ${CMAKE_CURRENT_LIST_DIR}/client_config_util.cpp
    ${CMAKE_CURRENT_LIST_DIR}/client_front_end.cpp
    ${CMAKE_CURRENT_LIST_DIR}/client_range_reads.cpp
    ${CMAKE_CURRENT_LIST_DIR}/dummy_client.cpp
    ${CMAKE_CURRENT_LIST_DIR}/dummy_client_gets.cpp
    ${CMAKE_CURRENT_LIST_DIR}/dummy_memory.cpp
    ${CMAKE_CURRENT_LIST_DIR}/dummy_session.cpp
    ${CMAKE_CURRENT_LIST_DIR}/get_pipeline.cpp
    ${CMAKE_CURRENT_LIST_DIR}/heartbeat.cpp
    ${CMAKE_CURRENT_LIST_DIR}/offload_tier.cpp
    ${CMAKE_CURRENT_LIST_DIR}/local_buffer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/put_credits.cpp
    ${CMAKE_CURRENT_LIST_DIR}/put_pipeline.cpp
    ${CMAKE_CURRENT_LIST_DIR}/real_client.cpp
    ${CMAKE_CURRENT_LIST_DIR}/real_client_segments.cpp
    ${CMAKE_CURRENT_LIST_DIR}/runtime_segments.cpp
    ${CMAKE_CURRENT_LIST_DIR}/client_http_server.cpp
    ${CMAKE_CURRENT_LIST_DIR}/real_client_service.cpp
    ${CMAKE_CURRENT_LIST_DIR}/replica_selector.cpp
    ${CMAKE_CURRENT_LIST_DIR}/replica_transfer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/sliced_arena.cpp
    ${CMAKE_CURRENT_LIST_DIR}/task_executor.cpp
    ${CMAKE_CURRENT_LIST_DIR}/unreachable_segments.cpp)
set_target_properties(mooncake_client_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(mooncake_client_objects
    PUBLIC mooncake_master_client mooncake_offload mooncake_transfer mooncake_http_listener mooncake_common)

add_library(mooncake_client_static STATIC $<TARGET_OBJECTS:mooncake_client_objects>)
set_target_properties(mooncake_client_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(mooncake_client_static
    PUBLIC mooncake_master_client mooncake_offload mooncake_transfer mooncake_http_listener mooncake_common)

add_library(mooncake_client SHARED $<TARGET_OBJECTS:mooncake_client_objects>)
set_target_properties(mooncake_client PROPERTIES
    EXPORT_NAME client
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
target_include_directories(mooncake_client PUBLIC
    $<BUILD_INTERFACE:${MOONCAKE_INCLUDE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# The public headers use std::expected and std::span.
target_compile_features(mooncake_client PUBLIC cxx_std_23)
target_link_libraries(mooncake_client
    PRIVATE mooncake_master_client mooncake_offload mooncake_transfer mooncake_http_listener mooncake_common)
# Export the public API only (see the map file for why).
set(MOONCAKE_CLIENT_SYMBOL_MAP ${CMAKE_CURRENT_LIST_DIR}/libmooncake_client.map)
target_link_options(mooncake_client PRIVATE
    -Wl,--version-script=${MOONCAKE_CLIENT_SYMBOL_MAP})
set_property(TARGET mooncake_client APPEND PROPERTY LINK_DEPENDS ${MOONCAKE_CLIENT_SYMBOL_MAP})
add_library(Mooncake::client ALIAS mooncake_client)
