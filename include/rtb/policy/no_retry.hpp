// no_retry: the RetryPolicy that never retries.
#pragma once

#include <chrono>
#include <optional>

#include "rtb/concepts.hpp"

namespace rtb {

/// Never retries. The default where a caller handles failure itself.
struct no_retry {
    std::optional<std::chrono::milliseconds> next_delay(int, const error&) const noexcept { return std::nullopt; }
};
static_assert(RetryPolicy<no_retry>);

}  // namespace rtb
