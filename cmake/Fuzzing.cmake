# -DMOONCAKE_BUILD_FUZZERS=ON builds the libFuzzer binaries of tests/fuzz
# (fuzz_<target>, all of them: --target mooncake_fuzzers). It instruments the
# whole build for libFuzzer coverage with AddressSanitizer and UBSan, so use
# a build directory of its own. Needs clang >= 16: libFuzzer ships with
# clang only, and clang 14/15 cannot compile libstdc++ 12's <expected>.

if(MOONCAKE_BUILD_FUZZERS)
    set(mooncake_fuzz_hint
        "install clang-16 and libclang-rt-16-dev (scripts/install_deps.sh) and configure a "
        "separate build directory with -DCMAKE_C_COMPILER=clang-16 "
        "-DCMAKE_CXX_COMPILER=clang++-16 -DMOONCAKE_BUILD_FUZZERS=ON")
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "MOONCAKE_BUILD_FUZZERS needs clang >= 16 (libFuzzer), not "
                            "${CMAKE_CXX_COMPILER_ID}: " ${mooncake_fuzz_hint})
    endif()
    if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
        message(FATAL_ERROR "MOONCAKE_BUILD_FUZZERS needs clang >= 16; clang "
                            "${CMAKE_CXX_COMPILER_VERSION} cannot compile libstdc++'s "
                            "<expected>: " ${mooncake_fuzz_hint})
    endif()
    if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
        # libstdc++ 12 offers <expected> only when __cpp_concepts >= 202002L.
        # Clang 16-18 implement what it needs (conditionally trivial special
        # members, P0848) but still announce 201907L.
        add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-U__cpp_concepts;-D__cpp_concepts=202002L>"
                            -Wno-builtin-macro-redefined)
    endif()
    # Coverage for libFuzzer everywhere; the fuzz_<target> executables add
    # -fsanitize=fuzzer (libFuzzer's main) themselves.
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                        -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)

    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS "-std=c++2b -U__cpp_concepts -D__cpp_concepts=202002L -Wno-builtin-macro-redefined")
    check_cxx_source_compiles("
        #include <expected>
        std::expected<int, int> Half(int x) { if (x % 2) return std::unexpected(x); return x / 2; }
        int main() { return Half(4).value() == 2 ? 0 : 1; }" MOONCAKE_CLANG_HAS_EXPECTED)
    unset(CMAKE_REQUIRED_FLAGS)
    if(NOT MOONCAKE_CLANG_HAS_EXPECTED)
        message(FATAL_ERROR "MOONCAKE_BUILD_FUZZERS: clang ${CMAKE_CXX_COMPILER_VERSION} cannot "
                            "compile <expected> with this standard library: " ${mooncake_fuzz_hint})
    endif()
endif()
