#include "mooncake/result.h"

#include <ostream>

namespace mooncake {

namespace {

std::string Prefixed(std::string_view context, const std::string& message) {
    std::string joined(context);
    if (!message.empty()) {
        joined += ": ";
        joined += message;
    }
    return joined;
}

}  // namespace

Failure Failure::WithContext(std::string_view context) const& {
    return Failure(code_, Prefixed(context, message_));
}

Failure Failure::WithContext(std::string_view context) && {
    message_ = Prefixed(context, message_);
    return std::move(*this);
}

std::string Failure::ToString() const {
    std::string text(ErrorCodeName(code_));
    text += " (" + std::to_string(ToInt(code_)) + ")";
    if (!message_.empty()) text += ": " + message_;
    return text;
}

std::ostream& operator<<(std::ostream& out, const Failure& failure) {
    return out << failure.ToString();
}

}  // namespace mooncake
