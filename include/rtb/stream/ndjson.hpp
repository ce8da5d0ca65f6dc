// Chunked NDJSON on simdjson On-Demand: bytes arrive in arbitrary pieces (as
// they come off a socket), each complete line is parsed as one JSON document
// and handed to a callback. Engines' build, pull and push streams are NDJSON.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/error.hpp"
#include "rtb/stream/detail/byte_buffer.hpp"
#include "rtb/stream/detail/ondemand.hpp"
#include "rtb/stream/detail/text_scan.hpp"

namespace rtb {

struct ndjson_options {
    /// The longest line accepted, in bytes. A longer line is an error, and at
    /// most this much of it is ever buffered.
    std::size_t max_line = std::size_t{16} << 20;
    /// Names the input in error messages ("engine stream", a file name).
    std::string source = "JSON stream";
};

/// Splits a byte stream into lines and parses each non-blank one as a JSON
/// document with simdjson On-Demand.
///
/// - Lines end at '\n'; a '\r' before it is dropped; blank lines are skipped.
/// - A chunk may end anywhere: mid-line, mid-string, mid-UTF-8 sequence. The
///   incomplete tail is kept (bounded by max_line) and completed by the next chunk.
/// - A complete line is parsed where it lies in the caller's chunk when the
///   chunk has SIMDJSON_PADDING readable bytes after it, otherwise from an
///   internal padded buffer; either way no allocation per line once buffers
///   have grown.
/// - Errors are rtb::error(errc::parse_error) naming the stream offset of the
///   line, its number and an excerpt. They are sticky: after one, feed() and
///   finish() throw it again. Values of fields a handler does not read are
///   checked for structure only (On-Demand), not parsed.
class ndjson_reader {
public:
    explicit ndjson_reader(ndjson_options options = {}) : options_(std::move(options)) {}

    /// Feeds the next bytes. For each complete non-blank line, calls
    /// `on_document(simdjson::ondemand::document&)`, which returns a
    /// simdjson::error_code (SUCCESS to go on) and must read the document's
    /// root object to its end. Exceptions from the handler propagate.
    template <class Handler>
    void feed(std::string_view chunk, Handler&& on_document) {
        guard([&] { feed_impl(chunk, on_document); });
    }

    /// The end of the stream: a last line without '\n' is parsed now.
    template <class Handler>
    void finish(Handler&& on_document) {
        guard([&] {
            if (!carry_.empty()) {
                const auto start = carry_offset_;
                parse_buffered(start, on_document);
                carry_.clear();
            }
        });
    }

    /// Bytes fed so far.
    std::uint64_t offset() const noexcept { return offset_; }
    /// Lines completed so far (blank ones included).
    std::uint64_t lines() const noexcept { return line_no_; }
    /// Bytes of an incomplete line held until its end arrives.
    std::size_t buffered() const noexcept { return carry_.size(); }
    /// Memory held for incomplete lines (capacity), for tests and budgets.
    std::size_t buffer_capacity() const noexcept { return carry_.capacity(); }
    const ndjson_options& options() const noexcept { return options_; }

private:
    template <class F>
    void guard(F&& f) {
        if (failed_) std::rethrow_exception(failed_);
        try {
            f();
        } catch (...) {
            failed_ = std::current_exception();
            throw;
        }
    }

    template <class Handler>
    void feed_impl(std::string_view chunk, Handler& on_document) {
        const char* p = chunk.data();
        const char* const end = p + chunk.size();
        const std::uint64_t base = offset_;
        offset_ += chunk.size();
        auto at = [&](const char* q) { return base + static_cast<std::uint64_t>(q - chunk.data()); };

        if (!carry_.empty()) {
            const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (!nl) {
                append_carry(p, end);
                return;
            }
            append_carry(p, nl);
            parse_buffered(carry_offset_, on_document);
            carry_.clear();
            p = nl + 1;
        }
        while (p < end) {
            const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (!nl) {
                carry_offset_ = at(p);
                append_carry(p, end);
                return;
            }
            auto len = static_cast<std::size_t>(nl - p);
            ++line_no_;
            if (len > options_.max_line) throw_too_long(line_no_, at(p));
            if (len && p[len - 1] == '\r') --len;
            if (len) {
                if (static_cast<std::size_t>(end - (p + len)) >= simdjson::SIMDJSON_PADDING) {
                    parse(p, len, static_cast<std::size_t>(end - p), at(p), on_document);
                } else {
                    reserve_padding(len);  // too close to the chunk's end to read padding there
                    carry_.assign(p, len);
                    parse(carry_.data(), len, carry_.capacity(), at(p), on_document);
                    carry_.clear();
                }
            }
            p = nl + 1;
        }
    }

    void append_carry(const char* from, const char* to) {
        const auto n = static_cast<std::size_t>(to - from);
        if (carry_.size() + n > options_.max_line) throw_too_long(line_no_ + 1, carry_offset_);
        const auto need = carry_.size() + n + simdjson::SIMDJSON_PADDING;
        if (need > carry_.capacity())  // grow geometrically, never past the limit
            carry_.reserve(std::min(options_.max_line + simdjson::SIMDJSON_PADDING, std::max(need, 2 * carry_.capacity())));
        carry_.append(from, n);
    }

    void reserve_padding(std::size_t len) {
        if (carry_.capacity() < len + simdjson::SIMDJSON_PADDING) {
            carry_.reserve(std::min(options_.max_line + simdjson::SIMDJSON_PADDING,
                                    std::max(len + simdjson::SIMDJSON_PADDING, 2 * carry_.capacity())));
        }
    }

    template <class Handler>
    void parse_buffered(std::uint64_t start, Handler& on_document) {
        ++line_no_;
        std::size_t len = carry_.size();
        if (len && carry_.data()[len - 1] == '\r') --len;
        if (!len) return;
        reserve_padding(len);
        parse(carry_.data(), len, carry_.capacity(), start, on_document);
    }

    template <class Handler>
    void parse(const char* data, std::size_t len, std::size_t capacity, std::uint64_t start, Handler& on_document) {
        simdjson::ondemand::document doc;
        auto error = parser_.iterate(data, len, capacity).get(doc);
        if (error == simdjson::EMPTY) return;  // whitespace only
        if (!error) error = on_document(doc);
        if (!error && !detail::ondemand_access::at_end(doc)) {
            throw_malformed(start, {data, len}, "unexpected content after the JSON document");
        }
        if (error) throw_malformed(start, {data, len}, simdjson::error_message(error));
        if (len > (std::size_t{1} << 20)) {  // give the memory of an unusually long line back
            parser_ = simdjson::ondemand::parser{};
            if (carry_.capacity() > (std::size_t{4} << 20)) carry_.release();
        }
    }

    [[noreturn]] void throw_malformed(std::uint64_t start, std::string_view line, std::string_view why) const {
        throw error(errc::parse_error, fmt::format("{}: malformed JSON in line {} at byte {}: {} in {}", options_.source,
                                                   line_no_, start, why, detail::excerpt(line)));
    }
    [[noreturn]] void throw_too_long(std::uint64_t line, std::uint64_t start) const {
        throw error(errc::parse_error, fmt::format("{}: line {} at byte {} is longer than the {} byte limit (raise "
                                                   "ndjson_options::max_line if the peer is trusted)",
                                                   options_.source, line, start, options_.max_line));
    }

    ndjson_options options_;
    simdjson::ondemand::parser parser_;
    detail::byte_buffer carry_;  // the incomplete line, then reused as the padded scratch buffer
    std::uint64_t carry_offset_ = 0;
    std::uint64_t offset_ = 0;
    std::uint64_t line_no_ = 0;
    std::exception_ptr failed_;
};

}  // namespace rtb
