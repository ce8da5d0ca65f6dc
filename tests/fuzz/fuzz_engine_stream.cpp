// The engine stream decoder (NDJSON on simdjson): hostile streams fail only
// with rtb::error, and chunking never changes what is decoded.
#include <memory>

#include "rtb/stream/engine_stream.hpp"
#include "stream_property.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto seed = in.byte();
    const auto limit = in.byte();
    rtb::engine_stream_options options;
    if (limit & 0x80) options.max_line = 16 + (limit & 0x7f) * 4;  // the line limit's paths too
    rtb::fuzz::check_chunking_does_not_matter(
        [&](rtb::fuzz::event_log& sink) {
            return std::make_unique<rtb::engine_stream_decoder<rtb::fuzz::event_log>>(sink, options);
        },
        seed, in.rest());
    return 0;
}
