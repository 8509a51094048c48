# transfer_engine_bench: target/initiator throughput and latency tool.
add_executable(transfer_engine_bench ${CMAKE_CURRENT_SOURCE_DIR}/transfer_engine_bench.cpp)
target_link_libraries(transfer_engine_bench PRIVATE mooncake_transfer gflags)
install(TARGETS transfer_engine_bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
