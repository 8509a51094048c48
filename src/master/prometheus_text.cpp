#include "master/prometheus_text.h"

#include <cmath>
#include <cstdio>

namespace mooncake {

std::string PrometheusText::EscapeLabelValue(std::string_view value) {
    std::string escaped;
    escaped.reserve(value.size());
    for (char c : value) {
        switch (c) {
            case '\\':
                escaped += "\\\\";
                break;
            case '"':
                escaped += "\\\"";
                break;
            case '\n':
                escaped += "\\n";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

std::string PrometheusText::FormatValue(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buffer[64];
    // Counters and byte counts are integers up to 2^53 exactly: print them
    // without exponent so that they read naturally.
    if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
        std::snprintf(buffer, sizeof(buffer), "%.0f", value);
    } else {
        std::snprintf(buffer, sizeof(buffer), "%.17g", value);
    }
    return buffer;
}

void PrometheusText::Header(std::string_view name, std::string_view help, std::string_view type) {
    text_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusText::Gauge(std::string_view name, std::string_view help, double value) {
    Header(name, help, "gauge");
    text_.append(name).append(" ").append(FormatValue(value)).append("\n");
}

void PrometheusText::Counter(std::string_view name, std::string_view help, double value) {
    Header(name, help, "counter");
    text_.append(name).append(" ").append(FormatValue(value)).append("\n");
}

void PrometheusText::Labeled(std::string_view name, std::string_view help, std::string_view type,
                             std::string_view label,
                             const std::vector<std::pair<std::string, double>>& samples) {
    Header(name, help, type);
    for (const auto& [label_value, value] : samples) {
        text_.append(name).append("{").append(label).append("=\"");
        text_.append(EscapeLabelValue(label_value)).append("\"} ");
        text_.append(FormatValue(value)).append("\n");
    }
}

void PrometheusText::LabeledCounter(std::string_view name, std::string_view help,
                                    std::string_view label,
                                    const std::vector<std::pair<std::string, double>>& samples) {
    Labeled(name, help, "counter", label, samples);
}

void PrometheusText::LabeledGauge(std::string_view name, std::string_view help,
                                  std::string_view label,
                                  const std::vector<std::pair<std::string, double>>& samples) {
    Labeled(name, help, "gauge", label, samples);
}

}  // namespace mooncake
