// Image references: parse never fails other than with rtb::error, and a
// parsed reference round-trips through its canonical and familiar forms.
#include "rtb/image_ref.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using rtb::image_ref;
    std::optional<image_ref> ref;
    try {
        ref = image_ref::parse(rtb::fuzz::as_text(data, size));
    } catch (const rtb::error&) {
        return 0;
    }
    const auto canonical = ref->str();
    image_ref again = image_ref::parse(canonical);
    if (again.str() != canonical) rtb::fuzz::property_failed("canonical form does not round-trip");
    if (image_ref::parse(ref->familiar()).str() != canonical) rtb::fuzz::property_failed("familiar form does not round-trip");
    (void)ref->tag_or_latest();
    return 0;
}
