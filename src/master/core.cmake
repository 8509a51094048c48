# The master's logic: object index, segment pool, placement, eviction,
# client liveness, tasks. No networking and no proto/gRPC dependency: the
# adapters (server.cmake) and the tests drive MasterService directly.
mooncake_add_library(mooncake_master_core STATIC
    SOURCES
        change_log.cpp
        client_registry.cpp
        deferred_free_list.cpp
        eviction.cpp
        master_config.cpp
        master_service.cpp
        master_service_credits.cpp
        master_service_objects.cpp
        master_service_offload.cpp
        master_service_replica_clear.cpp
        master_service_segments.cpp
        master_service_state.cpp
        master_service_tasks.cpp
        object_index.cpp
        object_meta.cpp
        object_table.cpp
        offload_registry.cpp
        placement.cpp
        promotion_queue.cpp
        put_credit_table.cpp
        replication_ops.cpp
        segment_pool.cpp
        task_table.cpp
    PUBLIC mooncake_common)
