// Pull-style byte streams: a consumer (an HTTP body callback, a file writer)
// asks for the next bytes and the producer computes just enough of them, so
// a context of any size streams with bounded memory and no temp file.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"

namespace rtb {

/// ByteSource: `read(buf)` fills up to buf.size() bytes and returns how many;
/// 0 means the end (and only the end: a source never returns 0 early).
/// Errors are thrown as rtb::error. A source is read by one thread at a time.
template <class S>
concept ByteSource = requires(S& s, std::span<std::byte> buf) {
    { s.read(buf) } -> std::same_as<std::size_t>;
};

/// A type-erased ByteSource, for transports that take "any body".
class any_byte_source {
public:
    any_byte_source() = default;
    template <ByteSource S>
        requires(!std::same_as<std::remove_cvref_t<S>, any_byte_source>)
    any_byte_source(S&& s) : impl_(std::make_unique<model<std::remove_cvref_t<S>>>(std::forward<S>(s))) {}

    std::size_t read(std::span<std::byte> buf) { return impl_ ? impl_->read(buf) : 0; }
    explicit operator bool() const noexcept { return static_cast<bool>(impl_); }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual std::size_t read(std::span<std::byte>) = 0;
    };
    template <class S>
    struct model final : concept_t {
        explicit model(S s) : source(std::move(s)) {}
        std::size_t read(std::span<std::byte> buf) override { return source.read(buf); }
        S source;
    };
    std::unique_ptr<concept_t> impl_;
};
static_assert(ByteSource<any_byte_source>);

/// Reads a whole source into memory (tests and small contexts).
template <ByteSource S>
std::string read_all(S& source) {
    std::string out;
    std::byte buf[64 * 1024];
    while (const auto n = source.read(buf)) out.append(reinterpret_cast<const char*>(buf), n);
    return out;
}

/// Writes a whole source to a file descriptor; returns the byte count.
/// `display` names the destination in errors.
template <ByteSource S>
std::uint64_t copy_to_fd(S& source, int fd, std::string_view display) {
    std::uint64_t total = 0;
    auto buf = std::make_unique_for_overwrite<std::byte[]>(256 * 1024);
    while (const auto n = source.read({buf.get(), 256 * 1024})) {
        std::size_t off = 0;
        while (off < n) {
            const auto w = ::write(fd, buf.get() + off, n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                detail::throw_io("write", display);
            }
            off += static_cast<std::size_t>(w);
        }
        total += n;
    }
    return total;
}

namespace detail {

/// A FIFO of produced bytes that a stream hands out in read(); compacts
/// itself so it never holds more than what was produced in one step.
class byte_fifo {
public:
    void append(const void* data, std::size_t n) {
        if (pos_ == buf_.size()) {
            buf_.clear();
            pos_ = 0;
        }
        buf_.append(static_cast<const char*>(data), n);
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    bool empty() const noexcept { return pos_ == buf_.size(); }
    std::size_t size() const noexcept { return buf_.size() - pos_; }
    /// Moves up to out.size() bytes into out.
    std::size_t take(std::span<std::byte> out) {
        const std::size_t n = std::min(out.size(), size());
        std::memcpy(out.data(), buf_.data() + pos_, n);
        pos_ += n;
        if (pos_ == buf_.size()) {
            buf_.clear();
            pos_ = 0;
        }
        return n;
    }
    std::string& raw() noexcept { return buf_; }

private:
    std::string buf_;
    std::size_t pos_ = 0;
};

}  // namespace detail

/// A ByteSource over bytes held in memory.
class memory_source {
public:
    explicit memory_source(std::string bytes) : bytes_(std::move(bytes)) {}
    std::size_t read(std::span<std::byte> buf) {
        const std::size_t n = std::min(buf.size(), bytes_.size() - pos_);
        std::memcpy(buf.data(), bytes_.data() + pos_, n);
        pos_ += n;
        return n;
    }

private:
    std::string bytes_;
    std::size_t pos_ = 0;
};
static_assert(ByteSource<memory_source>);

}  // namespace rtb
