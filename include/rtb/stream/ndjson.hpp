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
#include "rtb/stream/detail/sticky_failure.hpp"
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
/// - The complete lines of a chunk are parsed together with simdjson's
///   iterate_many (one stage-1 pass for up to 1 MiB of lines), each line
///   checked to hold exactly one document; any line that does not parse that
///   way cleanly is parsed again on its own, so results and errors are those
///   of line-by-line parsing. Lines are read where they lie in the caller's
///   chunk when SIMDJSON_PADDING bytes after them are readable (the last
///   lines of a chunk are parsed one by one from an internal padded buffer). No allocation per line once buffers have grown
///   (simdjson built with thread support allocates one small object per
///   iterate_many pass, i.e. per chunk).
/// - Errors are rtb::error(errc::parse_error) naming the stream offset of the
///   line, its number and an excerpt. They are sticky: after one, feed() and
///   finish() throw it again. Values of fields a handler does not read are
///   checked for structure only (On-Demand), not parsed.
/// - Results and errors do not depend on how the stream is chunked: a line
///   reaches the handler only if it holds exactly one document, whichever
///   way it was parsed (checked by the engine_stream fuzz target).
class ndjson_reader {
public:
    /// For a handler that has read its document's root value: whether nothing
    /// but blanks follows it on its line (the next token, if any, is on a
    /// later line). `start` is where the document began: the handler takes
    /// doc.current_location() before reading. Found by fuzzing: a line whose
    /// root object On-Demand saw end early had its events emitted before the
    /// trailing bytes refused it, so what a stream produced depended on how
    /// it was chunked.
    static bool ends_its_line(simdjson::ondemand::document& doc, const char* start) noexcept {
        const char* next = nullptr;
        if (!start || doc.current_location().get(next)) return true;  // nothing follows
        for (const char* p = next; p > start;) {
            const char c = *--p;  // back from the next token to the root value's last byte
            if (c == '\n') return true;
            if (c != ' ' && c != '\t' && c != '\r') return false;
        }
        return false;  // the next token is where the document began: it was not read
    }

    explicit ndjson_reader(ndjson_options options = {}) : options_(std::move(options)) {
#ifdef SIMDJSON_THREADS_ENABLED
        batch_parser_.threaded = false;  // batches are one chunk; a thread would only add cost
#endif
    }

    /// Feeds the next bytes. For each complete non-blank line, calls
    /// `on_document(simdjson::ondemand::document&)`, which returns a
    /// simdjson::error_code (SUCCESS to go on) and must read the document's
    /// root object to its end. A handler that returns an error must not have
    /// emitted anything for that document, so before acting on what it read
    /// it asks ends_its_line(doc): a malformed value On-Demand skipped can end
    /// the root object early, and the rest of the line is then found only
    /// after the handler returns. Exceptions from the handler propagate.
    template <class Handler>
    void feed(std::string_view chunk, Handler&& on_document) {
        failure_.run([&] { feed_impl(chunk, on_document); });
    }

    /// The end of the stream: a last line without '\n' is parsed now.
    template <class Handler>
    void finish(Handler&& on_document) {
        failure_.run([&] {
            if (!carry_.empty()) {
                ++line_no_;
                parse_buffered(carry_offset_, on_document);
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
    static constexpr std::size_t padding = simdjson::SIMDJSON_PADDING;
    static constexpr std::size_t batch_min = 512;               // fewer bytes of lines: one by one
    static constexpr std::size_t batch_max = std::size_t{1} << 20;  // bounds the batch parser's memory


    static constexpr bool blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

    template <class Handler>
    void feed_impl(std::string_view chunk, Handler& on_document) {
        const char* p = chunk.data();
        const char* const end = p + chunk.size();
        const std::uint64_t base = offset_;
        offset_ += chunk.size();

        if (!carry_.empty()) {
            const auto* nl = static_cast<const char*>(std::memchr(p, '\n', chunk.size()));
            if (!nl) {
                append_carry(p, end);
                return;
            }
            append_carry(p, nl);
            ++line_no_;
            parse_buffered(carry_offset_, on_document);
            carry_.clear();
            p = nl + 1;
        }
        if (p == end) return;
        const auto* last_nl = static_cast<const char*>(::memrchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (last_nl) {
            complete_lines(p, last_nl + 1, end, base + static_cast<std::uint64_t>(p - chunk.data()), on_document);
            p = last_nl + 1;
        }
        if (p < end) {
            carry_offset_ = base + static_cast<std::uint64_t>(p - chunk.data());
            append_carry(p, end);
        }
    }

    // Parses the complete lines in [p, stop) (stop follows a '\n'), which
    // start at stream offset `offset`; bytes up to `readable` may be read.
    template <class Handler>
    void complete_lines(const char* p, const char* stop, const char* readable, std::uint64_t offset,
                        Handler& on_document) {
        const char* const first = p;
        auto at = [&](const char* q) { return offset + static_cast<std::uint64_t>(q - first); };
        while (p < stop) {
            // a batch: whole lines, at most batch_max bytes, with SIMDJSON_PADDING
            // readable bytes after them in the chunk (so nothing is copied)
            const auto room = static_cast<std::size_t>(readable - p);
            if (room >= batch_min + padding && stop - p >= static_cast<std::ptrdiff_t>(batch_min)) {
                const auto window = std::min({room - padding, batch_max, static_cast<std::size_t>(stop - p)});
                const auto* nl = static_cast<const char*>(::memrchr(p, '\n', window));
                const char* batch_end = nl ? nl + 1 : nullptr;
                if (batch_end && batch_end - p >= static_cast<std::ptrdiff_t>(batch_min)) {
                    const auto len = static_cast<std::size_t>(batch_end - p);
                    const auto done = batch(p, len, static_cast<std::size_t>(readable - p), at(p), on_document);
                    p += done;
                    // what the batch did not take, line by line until the batch's end
                    while (p < batch_end) p = one_line(p, readable, at(p), on_document);
                    continue;
                }
            }
            p = one_line(p, readable, at(p), on_document);
        }
    }

    // Parses the line starting at p (a '\n' follows before `readable`);
    // returns the start of the next line.
    template <class Handler>
    const char* one_line(const char* p, const char* readable, std::uint64_t start, Handler& on_document) {
        const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(readable - p)));
        auto len = static_cast<std::size_t>(nl - p);
        ++line_no_;
        if (len > options_.max_line) throw_too_long(line_no_, start);
        if (len && p[len - 1] == '\r') --len;
        if (len) {
            if (static_cast<std::size_t>(readable - (p + len)) >= padding) {
                parse(p, len, static_cast<std::size_t>(readable - p), start, on_document);
            } else {
                reserve_padding(len);  // too close to the chunk's end to read padding there
                carry_.assign(p, len);
                parse(carry_.data(), len, carry_.capacity(), start, on_document);
                carry_.clear();
            }
        }
        return nl + 1;
    }

    // Parses the whole lines data[0, len) (ending in '\n') in one
    // iterate_many pass. Returns how many bytes were handled completely: all
    // of them, or the start of the first line left to one_line().
    template <class Handler>
    std::size_t batch(const char* region, std::size_t len, std::size_t readable, std::uint64_t offset,
                      Handler& on_document) {
        const char* const data = region;
        if (readable < len + padding) return 0;  // (complete_lines makes sure of this)
        // a steady batch size: the parser reallocates whenever it changes
        if (len > batch_capacity_) batch_capacity_ = std::min(batch_max, std::max({len, 2 * batch_capacity_, std::size_t{65536}}));
        // (taken from the result in place: each document_stream allocates a stage-1 worker)
        auto result = batch_parser_.iterate_many(data, len, batch_capacity_);
        if (result.error()) return 0;
        simdjson::ondemand::document_stream& stream = result.value_unsafe();
        std::size_t line_start = 0;              // where the next line begins
        std::size_t prev_start = 0, prev_nl = 0;  // the last document's line, for errors found after it
        std::uint64_t prev_line_no = 0;
        auto prev_line = [&] { return std::string_view(data + prev_start, prev_nl - prev_start - (prev_nl > prev_start && data[prev_nl - 1] == '\r')); };
        bool any = false;
        // Between documents only blank lines may come; anything else is the
        // previous document running on past its line.
        auto blank_lines_until = [&](std::size_t stop) {
            for (std::size_t q = line_start; q < stop; ++q) {
                if (data[q] == '\n') {
                    ++line_no_;
                    line_start = q + 1;
                } else if (!blank(data[q])) {
                    if (any) throw_malformed(offset + prev_start, prev_line(), "a JSON document spread over several lines", prev_line_no);
                    return false;
                }
            }
            return true;
        };
        for (auto it = stream.begin(); it != stream.end(); ++it) {
            simdjson::ondemand::document_reference ref;
            if ((*it).get(ref)) {
                // What iterate_many could not read starts inside the line just
                // handled: that line ran on past its document (found by fuzzing).
                if (any && it.current_index() < line_start)
                    throw_malformed(offset + prev_start, prev_line(), "unexpected content after the JSON document", prev_line_no);
                return line_start;  // let the line parser say what is wrong
            }
            const std::size_t s = it.current_index();
            if (s >= len) return line_start;
            if (any && s < line_start) {  // a second document on the last one's line
                throw_malformed(offset + prev_start, prev_line(), "unexpected content after the JSON document", prev_line_no);
            }
            if (!blank_lines_until(s)) return line_start;
            const auto* nlp = static_cast<const char*>(std::memchr(data + s, '\n', len - s));
            if (!nlp) return line_start;
            const auto nl = static_cast<std::size_t>(nlp - data);
            if (nl - line_start > options_.max_line) throw_too_long(line_no_ + 1, offset + line_start);
            std::size_t e = nl;
            while (e > s && blank(data[e - 1])) --e;
            // one object on its own line, or the line parser decides
            if (data[s] != '{' || data[e - 1] != '}') return line_start;
            // The object's end as the batch's structural index matches its
            // braces: if that is not the line's end, the line runs on past
            // its document (or the batch reads the line's structure another
            // way): the line parser decides, before the handler sees anything.
            if (s + it.source().size() != e) return line_start;
            prev_line_no = ++line_no_;
            prev_start = line_start;
            prev_nl = nl;
            any = true;
            simdjson::ondemand::document& doc = ref;
            if (on_document(doc) != simdjson::SUCCESS) {
                // The line parser decides, as the contract above says: the
                // batch's structural index of a malformed line can differ from
                // the line's own (found by fuzzing: a line accepted alone was
                // refused in a batch). The handler emitted nothing for it.
                --line_no_;
                return line_start;
            }
            line_start = nl + 1;
        }
        if (const auto truncated = stream.truncated_bytes()) {
            if (any && len - truncated < line_start)
                throw_malformed(offset + prev_start, prev_line(), "unexpected content after the JSON document", prev_line_no);
            return line_start;
        }
        blank_lines_until(len);
        return line_start;
    }

    void append_carry(const char* from, const char* to) {
        const auto n = static_cast<std::size_t>(to - from);
        if (carry_.size() + n > options_.max_line) throw_too_long(line_no_ + 1, carry_offset_);
        const auto need = carry_.size() + n + padding;
        if (need > carry_.capacity())  // grow geometrically, never past the limit
            carry_.reserve(std::min(options_.max_line + padding, std::max(need, 2 * carry_.capacity())));
        carry_.append(from, n);
    }

    void reserve_padding(std::size_t len) {
        if (carry_.capacity() < len + padding)
            carry_.reserve(std::min(options_.max_line + padding, std::max(len + padding, 2 * carry_.capacity())));
    }

    template <class Handler>
    void parse_buffered(std::uint64_t start, Handler& on_document) {
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
        if (error == simdjson::TRAILING_CONTENT)  // (a handler's ends_its_line())
            throw_malformed(start, {data, len}, "unexpected content after the JSON document");
        if (error) throw_malformed(start, {data, len}, simdjson::error_message(error));
        if (len > (std::size_t{1} << 20)) {  // give the memory of an unusually long line back
            parser_ = simdjson::ondemand::parser{};
            if (carry_.capacity() > (std::size_t{4} << 20)) carry_.release();
        }
    }

    [[noreturn]] void throw_malformed(std::uint64_t start, std::string_view line, std::string_view why) const {
        throw_malformed(start, line, why, line_no_);
    }
    [[noreturn]] void throw_malformed(std::uint64_t start, std::string_view line, std::string_view why,
                                      std::uint64_t line_number) const {
        throw error(errc::parse_error, fmt::format("{}: malformed JSON in line {} at byte {}: {} in {}", options_.source,
                                                   line_number, start, why, detail::excerpt(line)));
    }
    [[noreturn]] void throw_too_long(std::uint64_t line, std::uint64_t start) const {
        throw error(errc::parse_error, fmt::format("{}: line {} at byte {} is longer than the {} byte limit (raise "
                                                   "ndjson_options::max_line if the peer is trusted)",
                                                   options_.source, line, start, options_.max_line));
    }

    ndjson_options options_;
    simdjson::ondemand::parser parser_;        // one line at a time
    simdjson::ondemand::parser batch_parser_;  // whole chunks of lines
    detail::byte_buffer carry_;         // the incomplete line, then reused as the padded scratch buffer
    std::size_t batch_capacity_ = 0;
    std::uint64_t carry_offset_ = 0;
    std::uint64_t offset_ = 0;
    std::uint64_t line_no_ = 0;
    detail::sticky_failure failure_;
};

}  // namespace rtb
