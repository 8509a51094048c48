# mooncake_offload: the client's SSD tier (docs/ssd_offload.md). No
# networking; the store client links it.
mooncake_add_library(mooncake_offload STATIC
    SOURCES
        crc32c.cpp
        disk_store.cpp
        file_io.cpp
        object_file.cpp
        offload_config.cpp
    PUBLIC mooncake_common)
set_target_properties(mooncake_offload PROPERTIES POSITION_INDEPENDENT_CODE ON)

# io_uring (MOONCAKE_OFFLOAD_USE_URING) when liburing is installed (Debian
# liburing-dev); without it the tier uses pread/pwrite and says so at start.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(LIBURING IMPORTED_TARGET liburing)
endif()
if(LIBURING_FOUND)
    target_sources(mooncake_offload PRIVATE ${CMAKE_CURRENT_LIST_DIR}/uring_file_io.cpp)
    # PUBLIC: the unit tests insist on io_uring where the build has it.
    target_compile_definitions(mooncake_offload PUBLIC MOONCAKE_HAVE_LIBURING=1)
    target_link_libraries(mooncake_offload PRIVATE PkgConfig::LIBURING)
    message(STATUS "offload: io_uring through liburing ${LIBURING_VERSION}")
else()
    message(STATUS "offload: liburing not found, the SSD tier uses pread/pwrite only")
endif()
