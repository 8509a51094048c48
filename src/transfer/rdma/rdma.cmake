# The RDMA transport, compiled into mooncake_transfer when libibverbs was
# found (included by src/transfer/CMakeLists.txt when MOONCAKE_HAVE_RDMA).
# Only ibverbs_provider.cpp and ibverbs_loader.cpp include
# <infiniband/verbs.h>; everything else is plain C++ over the interfaces of
# verbs.h, so the tests can drive it over an in-memory fabric on machines
# without a NIC. libibverbs itself is not linked: ibverbs_loader.cpp opens it
# when an RDMA transport is created.
target_sources(mooncake_transfer PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/chunking.cpp
    ${CMAKE_CURRENT_LIST_DIR}/device_context.cpp
    ${CMAKE_CURRENT_LIST_DIR}/device_pairing.cpp
    ${CMAKE_CURRENT_LIST_DIR}/device_selection.cpp
    ${CMAKE_CURRENT_LIST_DIR}/endpoint_info.cpp
    ${CMAKE_CURRENT_LIST_DIR}/gid.cpp
    ${CMAKE_CURRENT_LIST_DIR}/handshake.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ibverbs_loader.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ibverbs_provider.cpp
    ${CMAKE_CURRENT_LIST_DIR}/memory_table.cpp
    ${CMAKE_CURRENT_LIST_DIR}/queue_pair_state.cpp
    ${CMAKE_CURRENT_LIST_DIR}/rdma_transport.cpp
    ${CMAKE_CURRENT_LIST_DIR}/tunables.cpp)
target_link_libraries(mooncake_transfer PRIVATE mooncake_ibverbs)
set(MOONCAKE_TRANSFER_HAVE_RDMA 1)
