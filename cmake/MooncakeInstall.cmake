# Installs the C++ client library, the public headers and a CMake package so
# that a program outside this tree does
#     find_package(Mooncake REQUIRED)
#     target_link_libraries(app PRIVATE Mooncake::client)
# (examples/ builds exactly that way). Executables install themselves next to
# their targets.
include(CMakePackageConfigHelpers)

set(MOONCAKE_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Mooncake)

install(DIRECTORY ${MOONCAKE_INCLUDE_DIR}/mooncake
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    COMPONENT client
    FILES_MATCHING PATTERN "*.h")

mooncake_require_targets(mooncake_client)
install(TARGETS mooncake_client
    EXPORT MooncakeTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT client
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT client
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT MooncakeTargets
    NAMESPACE Mooncake::
    DESTINATION ${MOONCAKE_CMAKE_INSTALL_DIR}
    COMPONENT client)

configure_package_config_file(
    ${CMAKE_CURRENT_SOURCE_DIR}/cmake/MooncakeConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/MooncakeConfig.cmake
    INSTALL_DESTINATION ${MOONCAKE_CMAKE_INSTALL_DIR})
write_basic_package_version_file(
    ${CMAKE_CURRENT_BINARY_DIR}/MooncakeConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${CMAKE_CURRENT_BINARY_DIR}/MooncakeConfig.cmake
    ${CMAKE_CURRENT_BINARY_DIR}/MooncakeConfigVersion.cmake
    DESTINATION ${MOONCAKE_CMAKE_INSTALL_DIR}
    COMPONENT client)
