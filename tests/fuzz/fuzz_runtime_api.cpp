// The Runtime API answers (POST /build, /build_status, /image_exists,
// /registry_prefix) come from the network: each decoder refuses what it
// cannot use with rtb::error, and what it accepts is well-formed.
#include "rtb/stream/runtime_api.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto which = in.byte() % 4;
    const auto body = in.rest();
    try {
        switch (which) {
            case 0: {
                const auto id = rtb::parse_build_id(body);
                if (id.empty() || id.size() > 256) rtb::fuzz::property_failed("accepted a build id out of bounds");
                break;
            }
            case 1: {
                const auto status = rtb::parse_build_status(body);
                if (status.state == rtb::remote_build_state::success && status.image.empty())
                    rtb::fuzz::property_failed("SUCCESS accepted without an image");
                if (status.finished() && status.state != rtb::remote_build_state::success)
                    (void)rtb::remote_build_error(status, "fuzz");
                break;
            }
            case 2: (void)rtb::parse_image_exists(body); break;
            default: (void)rtb::parse_registry_prefix(body); break;
        }
    } catch (const rtb::error&) {
    }
    return 0;
}
