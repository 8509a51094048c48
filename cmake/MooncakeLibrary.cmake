# mooncake_add_library(<name> <STATIC|OBJECT|SHARED>
#                      SOURCES <file>...
#                      [PUBLIC <dependency>...] [PRIVATE <dependency>...])
#
# One library of the project. SOURCES are relative to the folder of the list
# file that calls it (a fragment like src/client/offload/offload.cmake names
# its own files), so each library keeps its source list in its own folder.
# Inside a function CMAKE_CURRENT_LIST_DIR is the caller's folder.
function(mooncake_add_library name kind)
    cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "SOURCES;PUBLIC;PRIVATE")
    if(ARG_UNPARSED_ARGUMENTS OR NOT ARG_SOURCES)
        message(FATAL_ERROR "mooncake_add_library(${name}): expected "
                            "SOURCES <file>... [PUBLIC ...] [PRIVATE ...], got "
                            "'${ARG_UNPARSED_ARGUMENTS}'")
    endif()
    list(TRANSFORM ARG_SOURCES PREPEND "${CMAKE_CURRENT_LIST_DIR}/")
    add_library(${name} ${kind} ${ARG_SOURCES})
    if(ARG_PUBLIC)
        target_link_libraries(${name} PUBLIC ${ARG_PUBLIC})
    endif()
    if(ARG_PRIVATE)
        target_link_libraries(${name} PRIVATE ${ARG_PRIVATE})
    endif()
endfunction()
