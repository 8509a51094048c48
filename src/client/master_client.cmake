# mooncake_master_client: the C++ RPC client of mooncake_master
# (src/client/master_client.h): hot-path connections with a gRPC fallback.
# Depends on the wire format (mooncake_rpc), never on the master's logic.
add_library(mooncake_master_client STATIC
    ${CMAKE_CURRENT_LIST_DIR}/master_client.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_client_credits.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_client_offload.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_link.cpp)
target_link_libraries(mooncake_master_client PUBLIC mooncake_rpc mooncake_common mooncake_ha)
