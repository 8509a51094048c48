# Unit tests of the master's logic (in-process, ManualClock where time matters).
mooncake_add_test(master_core_test
    master_core_config_test.cpp
    master_core_credits_test.cpp
    master_core_eviction_test.cpp
    master_core_lock_test.cpp
    master_core_object_table_test.cpp
    master_core_objects_test.cpp
    master_core_offset_allocator_test.cpp
    master_core_placement_test.cpp
    master_core_replica_clear_test.cpp
    master_core_segments_test.cpp
    master_core_change_log_test.cpp
    master_core_state_test.cpp
    master_core_stress_test.cpp
    master_core_tasks_test.cpp)
target_link_libraries(master_core_test PRIVATE mooncake_master_core)

# SSD offload in the master's logic (docs/ssd_offload.md).
mooncake_add_test(master_offload_test master_core_offload_test.cpp)
target_link_libraries(master_offload_test PRIVATE mooncake_master_core)
