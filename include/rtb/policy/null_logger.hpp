// null_logger: the Logger that drops everything.
#pragma once

#include <string_view>

#include "rtb/concepts.hpp"

namespace rtb {

/// Discards messages and events. For tests and callers that log elsewhere.
struct null_logger {
    void log(log_level, std::string_view) noexcept {}
    void on_event(const build_event&) noexcept {}
};
static_assert(Logger<null_logger>);

}  // namespace rtb
