# mooncake_master_client: the C++ RPC client of mooncake_master
# (src/client/master_client.h): hot-path connections with a gRPC fallback.
# Depends on the wire format (mooncake_rpc), never on the master's logic.
mooncake_add_library(mooncake_master_client STATIC
    SOURCES
        master_client.cpp
        master_client_credits.cpp
        master_client_offload.cpp
        master_link.cpp
    PUBLIC mooncake_rpc mooncake_common mooncake_ha)
