# The RDMA transport, compiled into mooncake_transfer when libibverbs was
# found (included by src/transfer/CMakeLists.txt when MOONCAKE_HAVE_RDMA).
# Only ibverbs_provider.cpp and ibverbs_loader.cpp include
# <infiniband/verbs.h>; everything else is plain C++ over the interfaces of
# verbs.h, so the tests can drive it over an in-memory fabric on machines
# without a NIC. libibverbs itself is not linked: ibverbs_loader.cpp opens it
# when an RDMA transport is created.
set(mooncake_rdma_sources
    chunking.cpp
    device_context.cpp
    device_pairing.cpp
    device_selection.cpp
    endpoint_info.cpp
    gid.cpp
    handshake.cpp
    ibverbs_loader.cpp
    ibverbs_provider.cpp
    memory_table.cpp
    queue_pair_state.cpp
    rdma_transport.cpp
    tunables.cpp)
list(TRANSFORM mooncake_rdma_sources PREPEND ${CMAKE_CURRENT_LIST_DIR}/)
target_sources(mooncake_transfer PRIVATE ${mooncake_rdma_sources})
target_link_libraries(mooncake_transfer PRIVATE mooncake_ibverbs)
set(MOONCAKE_TRANSFER_HAVE_RDMA 1)
