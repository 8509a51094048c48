// Builds a page in the Prometheus text exposition format, version 0.0.4:
// each metric family gets its `# HELP` and `# TYPE` lines, then its samples.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mooncake {

// Exactly the reference's (interfaces.md §6.1).
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4";

class PrometheusText {
   public:
    void Gauge(std::string_view name, std::string_view help, double value);
    void Counter(std::string_view name, std::string_view help, double value);

    // A family with one label, one sample per (label value, sample value).
    void LabeledCounter(std::string_view name, std::string_view help, std::string_view label,
                        const std::vector<std::pair<std::string, double>>& samples);
    void LabeledGauge(std::string_view name, std::string_view help, std::string_view label,
                      const std::vector<std::pair<std::string, double>>& samples);

    const std::string& text() const { return text_; }

    // Label values escape backslash, double quote and newline.
    static std::string EscapeLabelValue(std::string_view value);
    // Integers print without a fraction; NaN and infinities as Prometheus spells them.
    static std::string FormatValue(double value);

   private:
    void Header(std::string_view name, std::string_view help, std::string_view type);
    void Labeled(std::string_view name, std::string_view help, std::string_view type,
                 std::string_view label,
                 const std::vector<std::pair<std::string, double>>& samples);

    std::string text_;
};

}  // namespace mooncake
