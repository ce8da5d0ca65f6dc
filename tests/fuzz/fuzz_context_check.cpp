// The tar reader in `rtb serve`: an uploaded context (tar or tar.gz) from a
// client the service does not trust. It is refused only with rtb::error, and
// what it accepts is clean: the tar it writes checks again to the same
// entries and the same bytes (so the engine sees exactly what was checked),
// however the upload arrived in pieces.
#include "rtb/context/byte_source.hpp"
#include "rtb/serve/context_check.hpp"
#include "fuzz_support.hpp"

namespace {

// Hands the input out in the chunk sizes the fuzzer chose, as a network
// upload arrives.
class chunked_source {
public:
    chunked_source(std::string_view bytes, std::vector<std::size_t> sizes) : bytes_(bytes), sizes_(std::move(sizes)) {}
    std::size_t read(std::span<std::byte> buf) {
        if (bytes_.empty()) return 0;
        std::size_t n = next_ < sizes_.size() ? sizes_[next_++] : bytes_.size();
        n = std::min({n, buf.size(), bytes_.size()});
        std::memcpy(buf.data(), bytes_.data(), n);
        bytes_.remove_prefix(n);
        return n;
    }

private:
    std::string_view bytes_;
    std::vector<std::size_t> sizes_;
    std::size_t next_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtb::fuzz::steering in(data, size);
    const auto seed = in.byte();
    const auto upload = in.rest();
    // Small limits, so the limit paths are reached with small inputs.
    const rtb::serve::context_limits limits{.max_entries = 64, .max_bytes = 1 << 20, .max_path = 512};
    std::string clean;
    rtb::serve::context_summary first;
    try {
        chunked_source source(upload, rtb::fuzz::chunk_sizes(seed, upload.size()));
        first = rtb::serve::check_context(source, [&](std::string_view b) { clean.append(b); }, limits);
    } catch (const rtb::error&) {
        return 0;
    }
    std::string again;
    rtb::serve::context_summary second;
    try {
        rtb::memory_source source{std::string(clean)};
        second = rtb::serve::check_context(source, [&](std::string_view b) { again.append(b); }, limits);
    } catch (const rtb::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        rtb::fuzz::property_failed("the clean tar written for an accepted context does not check again");
    }
    if (second.entries != first.entries || second.content_bytes != first.content_bytes)
        rtb::fuzz::property_failed("the clean tar holds other entries than the checked upload");
    if (again != clean) rtb::fuzz::property_failed("cleaning a clean tar changed it");
    return 0;
}
