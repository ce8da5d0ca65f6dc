// The HTTP headers rtb parses itself: Retry-After (never a delay over a day)
// and WWW-Authenticate (challenges and their parameters).
#include "rtb/transport/http.hpp"
#include "rtb/transport/detail/auth_challenge.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = rtb::fuzz::as_text(data, size);
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    try {
        if (const auto delay = rtb::http::parse_retry_after(text, now)) {
            if (*delay < std::chrono::milliseconds(0) || *delay > std::chrono::hours(24))
                rtb::fuzz::property_failed("Retry-After out of [0, 1 day]");
        }
        (void)rtb::detail::parse_challenges(text);
    } catch (const rtb::error&) {
    }
    return 0;
}
