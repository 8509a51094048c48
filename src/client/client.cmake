# libmooncake_client: the store client (include/mooncake/client.h).
#
# The sources are compiled once (position independent) and packed twice:
#   mooncake_client         SHARED, what C++ programs link (installed, exported
#                           as Mooncake::client; its internal static libraries
#                           are linked in, only the public headers are exposed)
#   mooncake_client_static  STATIC, what the Python extension links so the
#                           wheel carries no libmooncake_client.so of its own
mooncake_require_targets(mooncake_master_client mooncake_transfer)

# What the client code links: publicly for the object and static libraries,
# privately for the shared one (its interface is the public headers only).
set(MOONCAKE_CLIENT_DEPS
    mooncake_master_client
    mooncake_offload
    mooncake_transfer
    mooncake_http_listener
    mooncake_common)
mooncake_add_library(mooncake_client_objects OBJECT
    SOURCES
        client_config_util.cpp
        client_front_end.cpp
        client_range_reads.cpp
        dummy_client.cpp
        dummy_client_gets.cpp
        dummy_memory.cpp
        dummy_session.cpp
        get_pipeline.cpp
        heartbeat.cpp
        offload_tier.cpp
        local_buffer.cpp
        put_credits.cpp
        put_pipeline.cpp
        real_client.cpp
        real_client_segments.cpp
        runtime_segments.cpp
        client_http_server.cpp
        real_client_service.cpp
        replica_selector.cpp
        replica_transfer.cpp
        sliced_arena.cpp
        task_executor.cpp
        unreachable_segments.cpp
    PUBLIC ${MOONCAKE_CLIENT_DEPS})
set_target_properties(mooncake_client_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)

add_library(mooncake_client_static STATIC $<TARGET_OBJECTS:mooncake_client_objects>)
set_target_properties(mooncake_client_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(mooncake_client_static PUBLIC ${MOONCAKE_CLIENT_DEPS})

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
target_link_libraries(mooncake_client PRIVATE ${MOONCAKE_CLIENT_DEPS})
# Export the public API only (see the map file for why).
set(MOONCAKE_CLIENT_SYMBOL_MAP ${CMAKE_CURRENT_LIST_DIR}/libmooncake_client.map)
target_link_options(mooncake_client PRIVATE
    -Wl,--version-script=${MOONCAKE_CLIENT_SYMBOL_MAP})
set_property(TARGET mooncake_client APPEND PROPERTY LINK_DEPENDS ${MOONCAKE_CLIENT_SYMBOL_MAP})
add_library(Mooncake::client ALIAS mooncake_client)
