# mooncake_offload: the client's SSD tier (docs/ssd_offload.md). No
# networking; the store client links it.
add_library(mooncake_offload STATIC
    ${CMAKE_CURRENT_LIST_DIR}/crc32c.cpp
    ${CMAKE_CURRENT_LIST_DIR}/disk_store.cpp
    ${CMAKE_CURRENT_LIST_DIR}/object_file.cpp
    ${CMAKE_CURRENT_LIST_DIR}/offload_config.cpp)
set_target_properties(mooncake_offload PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(mooncake_offload PUBLIC mooncake_common)
