// The BuildKit plain-progress parser: hostile logs fail only with rtb::error,
// and chunking never changes what is parsed.
#include <memory>

#include "rtb/stream/buildkit_plain.hpp"
#include "stream_property.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto seed = in.byte();
    const auto limit = in.byte();
    rtb::buildkit_plain_options options;
    if (limit & 0x80) options.max_line = 16 + (limit & 0x7f) * 4;
    rtb::fuzz::check_chunking_does_not_matter(
        [&](rtb::fuzz::event_log& sink) {
            return std::make_unique<rtb::buildkit_plain_parser<rtb::fuzz::event_log>>(sink, options);
        },
        seed, in.rest());
    return 0;
}
