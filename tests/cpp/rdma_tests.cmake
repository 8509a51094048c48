# RDMA transport tests. Built when the RDMA transport is (libibverbs found).
#   rdma_unit_test       its logic: selection, codecs, chunking, bookkeeping
#   rdma_transport_test  the transport and two engines over an in-memory fabric
#                        (rdma_fake_fabric), so everything but the NIC runs here
#   rdma_engine_test     the real libibverbs path: a clear UNAVAILABLE without a
#                        NIC, MC_FORCE_TCP fallback, and a loopback READ/WRITE
#                        test that runs only where a device exists
if(NOT MOONCAKE_HAVE_RDMA)
    return()
endif()

mooncake_add_test(rdma_unit_test rdma_unit_test.cpp)
target_link_libraries(rdma_unit_test PRIVATE mooncake_transfer glog::glog)

mooncake_add_test(rdma_transport_test rdma_transport_test.cpp rdma_fake_fabric.cpp)
target_link_libraries(rdma_transport_test PRIVATE mooncake_transfer glog::glog)
target_compile_definitions(rdma_transport_test PRIVATE MOONCAKE_TRANSFER_HAVE_RDMA=1)

mooncake_add_test(rdma_engine_test rdma_engine_test.cpp)
target_link_libraries(rdma_engine_test PRIVATE mooncake_transfer mooncake_ibverbs glog::glog)
target_compile_definitions(rdma_engine_test PRIVATE MOONCAKE_TRANSFER_HAVE_RDMA=1)
