// A streaming reader of multipart/form-data bodies (RFC 7578), as POST /build
// receives them: bytes are fed as they arrive, in any chunking, and each
// part's name and data reach the caller without the body ever being whole in
// memory. Everything a client controls is bounded: the boundary's length,
// each part's header block, the number of parts, the preamble. Malformed
// input is an invalid_argument naming what was wrong. Pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/serve/log_text.hpp"

namespace rtb::serve {

/// The boundary of a `multipart/form-data; boundary=...` Content-Type, or
/// std::nullopt when the type is something else or the boundary is missing
/// or invalid (RFC 2046: 1 to 70 characters, quoted or not).
inline std::optional<std::string> multipart_boundary_of(std::string_view content_type);

/// What one multipart body may hold.
struct multipart_limits {
    std::size_t max_parts = 1024;        ///< parts in one body
    std::size_t max_part_header = 8192;  ///< one part's header block
    std::size_t max_preamble = 4096;     ///< bytes before the first boundary
};

class multipart_reader {
public:
    using limits = multipart_limits;
    /// What the reader tells its caller.
    struct handler {
        virtual ~handler() = default;
        /// A part starts: its form field name and file name (empty when none).
        virtual void begin_part(std::string_view name, std::string_view filename) = 0;
        /// Some of the current part's data (any chunking).
        virtual void part_data(std::string_view bytes) = 0;
        /// The current part is complete.
        virtual void end_part() = 0;
    };

    multipart_reader(std::string boundary, handler& h, limits l = {})
        : delimiter_("\r\n--" + std::move(boundary)), h_(h), limits_(l) {}

    /// Feeds body bytes. Throws invalid_argument on malformed input (and
    /// whatever the handler throws).
    void feed(std::string_view bytes);
    /// The body ended: throws invalid_argument unless the closing boundary was seen.
    void finish() const {
        if (state_ != state::done) throw error(errc::invalid_argument, "the multipart form is cut short (no closing boundary)");
    }
    bool done() const noexcept { return state_ == state::done; }
    std::size_t parts() const noexcept { return parts_; }

private:
    enum class state { preamble, after_boundary, headers, data, done };

    void parse_headers(std::string_view block);

    std::string delimiter_;  // CRLF "--" boundary; the first one may come without the CRLF
    handler& h_;
    limits limits_;
    state state_ = state::preamble;
    std::string pending_;     // bytes not yet consumed
    std::size_t preamble_ = 0;
    std::size_t parts_ = 0;
};

// ---------------------------------------------------------------------------

inline std::optional<std::string> multipart_boundary_of(std::string_view ct) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (auto& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return out;
    };
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    };
    const auto semi = ct.find(';');
    if (lower(trim(ct.substr(0, semi))) != "multipart/form-data" || semi == std::string_view::npos) return std::nullopt;
    auto params = ct.substr(semi + 1);
    while (!params.empty()) {
        const auto next = params.find(';');
        const auto param = trim(params.substr(0, next));
        params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
        const auto eq = param.find('=');
        if (eq == std::string_view::npos || lower(trim(param.substr(0, eq))) != "boundary") continue;
        auto value = trim(param.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (value.empty() || value.size() > 70) return std::nullopt;
        // RFC 2046 bchars: digits, letters, '()+_,-./:=? and space (not last).
        for (const char c : value) {
            const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
            if (!ok) return std::nullopt;
        }
        if (value.back() == ' ') return std::nullopt;
        return std::string(value);
    }
    return std::nullopt;
}

inline void multipart_reader::feed(std::string_view bytes) {
    pending_.append(bytes);
    std::size_t pos = 0;  // consumed from pending_
    auto rest = [&] { return std::string_view(pending_).substr(pos); };
    bool progress = true;
    while (progress) {
        progress = false;
        switch (state_) {
            case state::preamble: {
                // The first boundary may start the body (no CRLF before it).
                const std::string_view first = std::string_view(delimiter_).substr(2);
                const auto r = rest();
                std::size_t at = std::string_view::npos;
                if (preamble_ == 0 && r.starts_with(first)) at = 0;
                else if (const auto f = r.find(delimiter_); f != std::string_view::npos) at = f + 2;
                if (at == std::string_view::npos) {
                    // Keep what could still start a delimiter; count the rest as preamble.
                    const auto keep = std::min(r.size(), delimiter_.size());
                    preamble_ += r.size() - keep;
                    pos += r.size() - keep;
                    if (preamble_ + keep > limits_.max_preamble)
                        throw error(errc::invalid_argument,
                                    fmt::format("the multipart form has no boundary in its first {} bytes",
                                                limits_.max_preamble));
                    break;
                }
                preamble_ += at;
                if (preamble_ > limits_.max_preamble)
                    throw error(errc::invalid_argument, fmt::format("the multipart form has no boundary in its first {} bytes",
                                                                    limits_.max_preamble));
                pos += at + first.size();
                state_ = state::after_boundary;
                progress = true;
                break;
            }
            case state::after_boundary: {
                const auto r = rest();
                if (r.size() < 2) break;
                if (r.starts_with("--")) {
                    state_ = state::done;
                    pos = pending_.size();  // the epilogue is ignored
                    break;
                }
                // Transport padding (blanks) may follow a boundary; then CRLF.
                const auto crlf = r.find("\r\n");
                if (crlf == std::string_view::npos) {
                    if (r.size() > 256) throw error(errc::invalid_argument, "a multipart boundary line does not end");
                    break;
                }
                for (const char c : r.substr(0, crlf))
                    if (c != ' ' && c != '\t')
                        throw error(errc::invalid_argument, "a multipart boundary is followed by something other than "
                                                            "a line break");
                pos += crlf + 2;
                if (++parts_ > limits_.max_parts)
                    throw error(errc::invalid_argument, fmt::format("the multipart form has more than {} parts",
                                                                    limits_.max_parts));
                state_ = state::headers;
                progress = true;
                break;
            }
            case state::headers: {
                const auto r = rest();
                const auto end = r.find("\r\n\r\n");
                const auto empty = r.starts_with("\r\n");  // a part with no header lines
                if (end == std::string_view::npos && !empty) {
                    if (r.size() > limits_.max_part_header)
                        throw error(errc::invalid_argument,
                                    fmt::format("a multipart part's headers are longer than {} bytes", limits_.max_part_header));
                    break;
                }
                const auto len = empty ? 0 : end;
                if (len > limits_.max_part_header)
                    throw error(errc::invalid_argument,
                                fmt::format("a multipart part's headers are longer than {} bytes", limits_.max_part_header));
                parse_headers(r.substr(0, len));
                pos += empty ? 2 : end + 4;
                state_ = state::data;
                progress = true;
                break;
            }
            case state::data: {
                const auto r = rest();
                const auto f = r.find(delimiter_);
                if (f == std::string_view::npos) {
                    // Everything but what could be the start of a delimiter.
                    const auto keep = std::min(r.size(), delimiter_.size() - 1);
                    if (r.size() > keep) h_.part_data(r.substr(0, r.size() - keep));
                    pos += r.size() - keep;
                    break;
                }
                if (f > 0) h_.part_data(r.substr(0, f));
                h_.end_part();
                pos += f + delimiter_.size();
                state_ = state::after_boundary;
                progress = true;
                break;
            }
            case state::done:
                pos = pending_.size();
                break;
        }
    }
    pending_.erase(0, pos);
}

inline void multipart_reader::parse_headers(std::string_view block) {
    std::optional<std::string> name;
    std::string filename;
    while (!block.empty()) {
        const auto crlf = block.find("\r\n");
        const auto line = block.substr(0, crlf);
        block = crlf == std::string_view::npos ? std::string_view{} : block.substr(crlf + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            throw error(errc::invalid_argument,
                        fmt::format("a multipart part has a header line without ':' ('{}')", log_escape(line, 100)));
        std::string key(line.substr(0, colon));
        for (auto& c : key)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (key != "content-disposition") continue;
        // form-data; name="x"; filename="y"
        auto params = line.substr(colon + 1);
        while (!params.empty()) {
            while (!params.empty() && (params.front() == ' ' || params.front() == '\t' || params.front() == ';'))
                params.remove_prefix(1);
            const auto eq = params.find('=');
            const auto semi = params.find(';');
            if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
                params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
                continue;
            }
            std::string pname(params.substr(0, eq));
            while (!pname.empty() && (pname.back() == ' ' || pname.back() == '\t')) pname.pop_back();
            for (auto& c : pname)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            params.remove_prefix(eq + 1);
            while (!params.empty() && (params.front() == ' ' || params.front() == '\t')) params.remove_prefix(1);
            std::string value;
            if (!params.empty() && params.front() == '"') {
                std::size_t i = 1;
                for (; i < params.size() && params[i] != '"'; ++i) {
                    if (params[i] == '\\' && i + 1 < params.size()) ++i;
                    value += params[i];
                }
                if (i >= params.size())
                    throw error(errc::invalid_argument, "a multipart part's Content-Disposition has an unterminated quote");
                params.remove_prefix(i + 1);
            } else {
                const auto end = params.find(';');
                value = std::string(params.substr(0, end));
                while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
                params = end == std::string_view::npos ? std::string_view{} : params.substr(end);
            }
            if (pname == "name") name = std::move(value);
            else if (pname == "filename") filename = std::move(value);
        }
    }
    if (!name) throw error(errc::invalid_argument, "a multipart part has no Content-Disposition name");
    h_.begin_part(*name, filename);
}

}  // namespace rtb::serve
