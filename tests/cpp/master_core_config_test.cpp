#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "master/master_config.h"

namespace mooncake {
namespace {

TEST(MasterConfigTest, DefaultsAreValidAndMatchTheCompatTable) {
    const MasterConfig config;
    EXPECT_FALSE(ValidateMasterConfig(config).has_value());
    EXPECT_EQ(config.default_kv_lease_ttl_ms, 5000u);
    EXPECT_EQ(config.default_kv_soft_pin_ttl_ms, 1'800'000u);
    EXPECT_TRUE(config.allow_evict_soft_pinned_objects);
    EXPECT_DOUBLE_EQ(config.eviction_ratio, 0.05);
    EXPECT_DOUBLE_EQ(config.eviction_high_watermark_ratio, 0.95);
    EXPECT_EQ(config.client_ttl_sec, 10);
    EXPECT_EQ(config.put_start_discard_timeout_sec, 30);
    EXPECT_EQ(config.put_start_release_timeout_sec, 600);
}

TEST(MasterConfigTest, BoundariesAreAccepted) {
    MasterConfig config;
    config.eviction_ratio = 0.0;
    EXPECT_FALSE(ValidateMasterConfig(config).has_value());
    config.eviction_ratio = 1.0;
    config.eviction_high_watermark_ratio = 1.0;
    EXPECT_FALSE(ValidateMasterConfig(config).has_value());
}

TEST(MasterConfigTest, BadValuesAreRefusedWithAReason) {
    const std::vector<std::pair<const char*, std::function<void(MasterConfig&)>>> cases = {
        {"eviction_ratio", [](MasterConfig& c) { c.eviction_ratio = 1.5; }},
        {"eviction_ratio", [](MasterConfig& c) { c.eviction_ratio = -0.1; }},
        {"eviction_ratio", [](MasterConfig& c) { c.eviction_ratio = std::nan(""); }},
        {"eviction_high_watermark_ratio",
         [](MasterConfig& c) { c.eviction_high_watermark_ratio = 0.0; }},
        {"eviction_high_watermark_ratio",
         [](MasterConfig& c) { c.eviction_high_watermark_ratio = 1.01; }},
        {"default_kv_lease_ttl", [](MasterConfig& c) { c.default_kv_lease_ttl_ms = 0; }},
        {"default_kv_soft_pin_ttl", [](MasterConfig& c) { c.default_kv_soft_pin_ttl_ms = 0; }},
        {"client_ttl", [](MasterConfig& c) { c.client_ttl_sec = 0; }},
        {"client_ttl", [](MasterConfig& c) { c.client_ttl_sec = -5; }},
        {"put_start_discard_timeout_sec",
         [](MasterConfig& c) { c.put_start_discard_timeout_sec = 0; }},
        {"put_start_release_timeout_sec",
         [](MasterConfig& c) { c.put_start_release_timeout_sec = -1; }},
        {"pending_task_timeout_sec", [](MasterConfig& c) { c.pending_task_timeout_sec = 0; }},
        {"processing_task_timeout_sec", [](MasterConfig& c) { c.processing_task_timeout_sec = 0; }},
        {"max_total_pending_tasks", [](MasterConfig& c) { c.max_total_pending_tasks = 0; }},
        {"cluster_id", [](MasterConfig& c) { c.cluster_id.clear(); }},
        {"memory_allocator", [](MasterConfig& c) { c.memory_allocator = "cachelib"; }},
    };
    for (const auto& [field, mutate] : cases) {
        MasterConfig config;
        mutate(config);
        const auto problem = ValidateMasterConfig(config);
        ASSERT_TRUE(problem.has_value()) << field;
        EXPECT_NE(problem->find(field), std::string::npos) << *problem;
        EXPECT_EQ(problem->find('\n'), std::string::npos) << "one line: " << *problem;
    }
}

}  // namespace
}  // namespace mooncake
