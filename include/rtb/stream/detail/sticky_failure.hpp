// What the stream decoders share about errors: the first one is kept (the
// stream's state is unknown after it, so every later call throws it again),
// and a libcurl write callback must never let one escape into C code.
#pragma once

#include <cstddef>
#include <exception>
#include <string_view>

namespace rtb::detail {

class sticky_failure {
public:
    /// Runs `f`; rethrows an earlier failure instead, and keeps a new one.
    template <class F>
    void run(F&& f) {
        if (failed_) std::rethrow_exception(failed_);
        try {
            f();
        } catch (...) {
            failed_ = std::current_exception();
            throw;
        }
    }

private:
    std::exception_ptr failed_;
};

/// The body of a decoder's CURLOPT_WRITEFUNCTION: feeds `n` bytes; on an
/// error keeps it in `kept` and returns 0, so the transfer stops with
/// CURLE_WRITE_ERROR and the caller rethrows after curl returns.
template <class Decoder>
std::size_t curl_feed(Decoder& d, std::exception_ptr& kept, const char* data, std::size_t n) noexcept {
    try {
        d.feed(std::string_view(data, n));
        return n;
    } catch (...) {
        kept = std::current_exception();
        return 0;
    }
}

}  // namespace rtb::detail
