# Every dependency comes from Debian packages (scripts/install_deps.sh).

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(gflags REQUIRED)
find_package(glog REQUIRED)
find_package(nlohmann_json REQUIRED)
# libcrypto: HMAC-SHA256 and random nonces of the cluster authentication.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# cpp-httplib (we use plain HTTP only).
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
add_library(mooncake_httplib INTERFACE)
target_include_directories(mooncake_httplib SYSTEM INTERFACE ${HTTPLIB_INCLUDE_DIR})
# Debian ships httplib.h split: declarations only, the code lives in
# libcpp-httplib.so, built with TLS/zlib/brotli support. Those macros change
# the class layouts, so users of the header must define them exactly as the
# library was built (pkg-config says how) and link the library.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(HTTPLIB_PC QUIET cpp-httplib)
endif()
if(HTTPLIB_PC_FOUND)
    target_compile_options(mooncake_httplib INTERFACE ${HTTPLIB_PC_CFLAGS_OTHER})
    target_link_libraries(mooncake_httplib INTERFACE ${HTTPLIB_PC_LINK_LIBRARIES})
endif()

# libibverbs (headers) is optional at build time: without it the RDMA
# transport is left out and protocol="rdma" reports a clear error at setup.
set(MOONCAKE_HAVE_RDMA OFF)
if(NOT MOONCAKE_WITH_RDMA STREQUAL "OFF")
    find_library(IBVERBS_LIBRARY ibverbs)
    find_path(IBVERBS_INCLUDE_DIR infiniband/verbs.h)
    if(IBVERBS_LIBRARY AND IBVERBS_INCLUDE_DIR)
        set(MOONCAKE_HAVE_RDMA ON)
        add_library(mooncake_ibverbs INTERFACE)
        target_include_directories(mooncake_ibverbs SYSTEM INTERFACE ${IBVERBS_INCLUDE_DIR})
        # Headers only: the library is opened with dlopen when an RDMA
        # transport is created (src/transfer/rdma/ibverbs_loader.h), so
        # binaries and wheels run on hosts without rdma-core.
        target_link_libraries(mooncake_ibverbs INTERFACE ${CMAKE_DL_LIBS})
    elseif(MOONCAKE_WITH_RDMA STREQUAL "ON")
        message(FATAL_ERROR "MOONCAKE_WITH_RDMA=ON but libibverbs was not found (apt-get install libibverbs-dev)")
    endif()
endif()
message(STATUS "Mooncake: RDMA transport ${MOONCAKE_HAVE_RDMA}")

find_library(NUMA_LIBRARY numa)
