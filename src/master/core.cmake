# The master's logic: object index, segment pool, placement, eviction,
# client liveness, tasks. No networking and no proto/gRPC dependency: the
# adapters (server.cmake) and the tests drive MasterService directly.
add_library(mooncake_master_core STATIC
    ${CMAKE_CURRENT_LIST_DIR}/change_log.cpp
    ${CMAKE_CURRENT_LIST_DIR}/client_registry.cpp
    ${CMAKE_CURRENT_LIST_DIR}/deferred_free_list.cpp
    ${CMAKE_CURRENT_LIST_DIR}/eviction.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_config.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_credits.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_objects.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_offload.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_replica_clear.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_segments.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_state.cpp
    ${CMAKE_CURRENT_LIST_DIR}/master_service_tasks.cpp
    ${CMAKE_CURRENT_LIST_DIR}/object_index.cpp
    ${CMAKE_CURRENT_LIST_DIR}/object_meta.cpp
    ${CMAKE_CURRENT_LIST_DIR}/object_table.cpp
    ${CMAKE_CURRENT_LIST_DIR}/offload_registry.cpp
    ${CMAKE_CURRENT_LIST_DIR}/placement.cpp
    ${CMAKE_CURRENT_LIST_DIR}/promotion_queue.cpp
    ${CMAKE_CURRENT_LIST_DIR}/put_credit_table.cpp
    ${CMAKE_CURRENT_LIST_DIR}/replication_ops.cpp
    ${CMAKE_CURRENT_LIST_DIR}/segment_pool.cpp
    ${CMAKE_CURRENT_LIST_DIR}/task_table.cpp)
target_link_libraries(mooncake_master_core PUBLIC mooncake_common)
