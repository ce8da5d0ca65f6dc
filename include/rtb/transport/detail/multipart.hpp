// The body of the Runtime API's POST /build as a pull stream: a
// multipart/form-data form whose small fields come first and whose `context`
// part is the base64 of the gzip of the context tar, produced as the HTTP
// layer asks for bytes (never whole in memory).
#pragma once

#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/base64_stream.hpp"
#include "rtb/context/build_context.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/error.hpp"

namespace rtb::detail {

/// A random boundary that cannot occur in base64 text (it has '-' and '_').
inline std::string multipart_boundary() {
    std::random_device rd;
    return fmt::format("----rtb-{:08x}{:08x}_{:08x}", rd(), rd(), rd());
}

/// One form field's part (name and value are checked: no CR, LF or quote).
inline std::string form_field(std::string_view boundary, std::string_view name, std::string_view value) {
    for (const auto s : {name, value})
        if (s.find_first_of("\r\n\"") != std::string_view::npos || s.find('\0') != std::string_view::npos)
            throw error(errc::invalid_argument,
                        fmt::format("form field {} cannot carry a line break, a quote or NUL", printable(name)));
    return fmt::format("--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n", boundary, name, value);
}

/// head, then the base64 of gzip(tar(context)), then tail.
class multipart_context_body {
public:
    multipart_context_body(std::string head, std::shared_ptr<const context_snapshot> context, std::string tail,
                           gzip_options gzip = {})
        : head_(std::move(head)),
          tail_(std::move(tail)),
          context_(std::make_unique<base64_stream<gzip_stream<tar_stream>>>(
              gzip_stream<tar_stream>(tar_stream(std::move(context), tar_options::from_environment()), gzip))) {}

    std::size_t read(std::span<std::byte> buf) {
        std::size_t n = 0;
        while (n < buf.size()) {
            if (phase_ == 0) {
                n += copy(head_, buf.subspan(n));
                if (pos_ == head_.size()) next_phase();
            } else if (phase_ == 1) {
                const auto got = context_->read(buf.subspan(n));
                if (got == 0) next_phase();
                n += got;
            } else if (phase_ == 2) {
                n += copy(tail_, buf.subspan(n));
                if (pos_ == tail_.size()) next_phase();
            } else {
                break;
            }
        }
        return n;
    }

private:
    std::size_t copy(const std::string& s, std::span<std::byte> out) {
        const std::size_t k = std::min(out.size(), s.size() - pos_);
        std::memcpy(out.data(), s.data() + pos_, k);
        pos_ += k;
        return k;
    }
    void next_phase() {
        ++phase_;
        pos_ = 0;
        if (phase_ == 2) context_.reset();  // its threads and buffers go now
    }

    std::string head_, tail_;
    std::unique_ptr<base64_stream<gzip_stream<tar_stream>>> context_;
    int phase_ = 0;
    std::size_t pos_ = 0;
};

}  // namespace rtb::detail
