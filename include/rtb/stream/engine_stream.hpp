// Decoding the JSON streams of the Docker Engine API and Podman's compatible
// API (build, pull, push) into build_events, chunk by chunk, straight from a
// transport's read loop or a libcurl write callback.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include "rtb/stream/detail/event_slots.hpp"
#include "rtb/stream/detail/line_assembler.hpp"
#include "rtb/stream/detail/sticky_failure.hpp"
#include "rtb/stream/detail/step_header.hpp"
#include "rtb/stream/detail/text_scan.hpp"
#include "rtb/stream/event.hpp"
#include "rtb/stream/ndjson.hpp"
#include "rtb/stream/summary.hpp"

namespace rtb {

struct engine_stream_options {
    /// The longest JSON line accepted, and the longest log line kept whole
    /// (longer log lines are split).
    std::size_t max_line = std::size_t{16} << 20;
    /// Names the input in error messages.
    std::string source = "engine stream";
};

/// Decodes an engine's JSON message stream into events for `Sink` (any
/// EventSink; every Logger is one):
///
/// | JSON                                            | events                                  |
/// | ---                                             | ---                                     |
/// | `stream` text                                   | one `log_line` per line, or `step` for  |
/// |                                                 | "Step N/M : X" / "STEP N/M: X"          |
/// | `status` + `id` (+ `progressDetail`)            | `progress`                              |
/// | `status` without `id`                           | `log_line`                              |
/// | `aux.ID`                                        | `image_built`                           |
/// | `aux.Tag` + `aux.Digest` (+ `aux.Size`)         | `pushed`                                |
/// | `errorDetail` / `error`                         | `failure` (exit code: errorDetail.code, |
/// |                                                 | else read from the message)             |
///
/// Unknown fields and non-object `aux` values (BuildKit traces) are ignored.
/// Podman prints the image id as a bare 64-hex line after "COMMIT ..."; that
/// line also yields `image_built` (the same id again from `aux.ID` is not
/// repeated). A `stream` text without a final newline is completed by the
/// next `stream` value; any other event, and finish(), flush it first.
/// The events of one JSON line come in the order: lines, progress, image,
/// push, failure. Errors: rtb::error(errc::parse_error) (see ndjson_reader);
/// exceptions thrown by the sink propagate.
template <EventSink Sink>
class engine_stream_decoder {
public:
    explicit engine_stream_decoder(Sink& sink, engine_stream_options options = {})
        : sink_(&sink),
          reader_(ndjson_options{options.max_line, std::move(options.source)}),
          text_(options.max_line) {}

    engine_stream_decoder(const engine_stream_decoder&) = delete;
    engine_stream_decoder& operator=(const engine_stream_decoder&) = delete;

    /// Feeds the next bytes of the stream, as they arrived.
    void feed(std::string_view chunk) {
        reader_.feed(chunk, [this](simdjson::ondemand::document& doc) { return on_document(doc); });
    }

    /// The stream ended: decodes a last line without newline and flushes a
    /// pending partial log line.
    void finish() {
        reader_.finish([this](simdjson::ondemand::document& doc) { return on_document(doc); });
        flush_text();
        if (status_push_) {  // Podman reports a push in a status line only
            auto& p = slots_.get<events::pushed>();
            p = std::move(*status_push_);
            status_push_.reset();
            emit<events::pushed>();
        }
    }

    /// A CURLOPT_WRITEFUNCTION: `curl_easy_setopt(h, CURLOPT_WRITEDATA, &decoder)`.
    /// Never throws into libcurl: an error is kept, 0 is returned so the
    /// transfer stops with CURLE_WRITE_ERROR, and rethrow_if_failed() throws it.
    static std::size_t curl_write(char* data, std::size_t size, std::size_t count, void* self) noexcept {
        auto* d = static_cast<engine_stream_decoder*>(self);
        return detail::curl_feed(*d, d->pending_, data, size * count);
    }
    /// Throws the error a curl_write() call kept, if any.
    void rethrow_if_failed() const {
        if (pending_) std::rethrow_exception(pending_);
    }

    /// What the stream has reported so far.
    const stream_summary& summary() const noexcept { return summary_; }
    /// Bytes fed so far.
    std::uint64_t offset() const noexcept { return reader_.offset(); }
    /// Bytes held for an incomplete JSON line.
    std::size_t buffered() const noexcept { return reader_.buffered(); }
    std::size_t buffer_capacity() const noexcept { return reader_.buffer_capacity(); }

private:
    using object = simdjson::ondemand::object;
    using value = simdjson::ondemand::value;
    using raw_key = simdjson::ondemand::raw_json_string;

    template <class T>
    void emit() {
        summary_.record(slots_.get<T>());
        sink_->on_event(slots_.event<T>());
    }

    void flush_text() {
        text_.flush([this](std::string_view line) { on_text_line(line); });
    }

    // Whether a raw (still quoted) JSON key is exactly `name`: a fixed-size
    // compare the compiler turns into a word compare or two. Reading N bytes
    // is safe: the key is followed by at least its closing quote and padding.
    template <std::size_t N>
    static bool key_is(const raw_key& key, const char (&name)[N]) noexcept {
        const char* raw = key.raw();
        return std::memcmp(raw, name, N - 1) == 0 && raw[N - 1] == '"';
    }

    // a count that may be negative on the wire (Docker's int64), clamped at 0
    template <class V>
    static simdjson::error_code get_count(V&& v, std::uint64_t& out) noexcept {
        std::int64_t n = 0;
        const auto e = std::forward<V>(v).get_int64().get(n);
        out = n < 0 ? 0 : static_cast<std::uint64_t>(n);
        return e;
    }

    simdjson::error_code on_document(simdjson::ondemand::document& doc) {
        const char* start = nullptr;
        if (doc.current_location().get(start)) start = nullptr;
        object root;
        if (auto e = doc.get_object().get(root)) return e;

        std::string_view stream, status, id, error_text, error_message, aux_id, aux_tag, aux_digest;
        bool has_stream = false, has_status = false, has_error = false, has_push = false;
        std::uint64_t current = 0, total = 0, push_size = 0;
        std::optional<int> error_code;

        for (auto field_result : root) {
            // used in place: copying a field or value out (get(), a by-value
            // `value`) makes GCC and Clang round-trip it through the stack,
            // a store-forwarding stall per field on the hottest loop
            if (auto e = field_result.error()) return e;
            simdjson::ondemand::field& field = field_result.value_unsafe();
            const raw_key key = field.key();
            value& v = field.value();
            simdjson::error_code e = simdjson::SUCCESS;
            if (key_is(key, "stream")) {
                e = v.get_string().get(stream);
                has_stream = true;
            } else if (key_is(key, "status")) {
                e = v.get_string().get(status);
                has_status = true;
            } else if (key_is(key, "id")) {
                e = v.get_string().get(id);
            } else if (key_is(key, "progressDetail")) {
                // two lookups instead of a loop over fields: copying each
                // field costs a store-forwarding stall on this hot path
                object details;
                if ((e = v.get_object().get(details))) return e;
                for (auto [name, out] : {std::pair{"current", &current}, std::pair{"total", &total}}) {
                    auto found = details.find_field_unordered(name);
                    if (found.error() == simdjson::NO_SUCH_FIELD) continue;
                    if ((e = get_count(found, *out))) return e;
                }
            } else if (key_is(key, "aux")) {
                simdjson::ondemand::json_type type;
                if ((e = v.type().get(type))) return e;
                if (type != simdjson::ondemand::json_type::object) continue;  // e.g. BuildKit's base64 trace
                object aux;
                if ((e = v.get_object().get(aux))) return e;
                for (auto f : aux) {
                    if ((e = f.error())) return e;
                    simdjson::ondemand::field& af = f.value_unsafe();
                    const raw_key k = af.key();
                    if (key_is(k, "ID")) e = af.value().get_string().get(aux_id);
                    else if (key_is(k, "Tag")) e = af.value().get_string().get(aux_tag);
                    else if (key_is(k, "Digest")) {
                        e = af.value().get_string().get(aux_digest);
                        has_push = true;
                    } else if (key_is(k, "Size")) e = get_count(af.value(), push_size);
                    if (e) return e;
                }
            } else if (key_is(key, "errorDetail")) {
                has_error = true;
                object details;
                if ((e = v.get_object().get(details))) return e;
                for (auto f : details) {
                    if ((e = f.error())) return e;
                    simdjson::ondemand::field& df = f.value_unsafe();
                    const raw_key k = df.key();
                    if (key_is(k, "message")) {
                        e = df.value().get_string().get(error_message);
                    } else if (key_is(k, "code")) {
                        std::int64_t code = 0;
                        e = df.value().get_int64().get(code);
                        if (!e && code >= INT32_MIN && code <= INT32_MAX) error_code = static_cast<int>(code);
                    }
                    if (e) return e;
                }
            } else if (key_is(key, "error")) {
                has_error = true;
                e = v.get_string().get(error_text);
            }
            if (e) return e;
        }
        if (!ndjson_reader::ends_its_line(doc, start)) return simdjson::TRAILING_CONTENT;

        if (has_stream) {
            text_.push(stream, [this](std::string_view line) { on_text_line(line); });
        }
        const bool other = has_status || !aux_id.empty() || has_push || has_error;
        if (other && text_.pending()) flush_text();
        if (has_status) {
            if (!id.empty()) {
                auto& p = slots_.get<events::progress>();
                detail::set(p.id, id);
                detail::set(p.status, status);
                p.current = current;
                p.total = total;
                emit<events::progress>();
            } else {
                auto& l = slots_.get<events::log_line>();
                detail::set(l.text, detail::terminal_line(status));
                l.vertex = 0;
                emit<events::log_line>();
                remember_status_push(status);
            }
        }
        if (!aux_id.empty()) image(aux_id);
        if (has_push) {
            status_push_.reset();  // Docker: aux says it again, with the same values
            auto& p = slots_.get<events::pushed>();
            p.tag.assign(aux_tag);
            p.digest.assign(aux_digest);
            p.size = push_size;
            emit<events::pushed>();
        }
        if (has_error) {
            auto& f = slots_.get<events::failure>();
            const auto message = detail::trim(error_message.empty() ? error_text : error_message);
            f.message.assign(message);
            f.exit_code = error_code ? error_code : detail::exit_code_in(message);
            f.step = summary_.last_step;
            if (f.step.empty()) {  // Podman names the step in its message: building at STEP "RUN x": ...
                if (const auto at = message.find("STEP \""); at != std::string_view::npos) {
                    const auto rest = message.substr(at + 6);
                    f.step.assign(rest.substr(0, rest.find('"')));
                }
            }
            emit<events::failure>();
        }
        return simdjson::SUCCESS;
    }

    void image(std::string_view id) {
        if (id == last_image_) return;
        last_image_.assign(id);
        slots_.get<events::image_built>().id.assign(id);
        emit<events::image_built>();
    }

    void on_text_line(std::string_view line) {
        if (!line.empty() && (line[0] == 'S')) {
            if (const auto h = detail::parse_step_line(line)) {
                auto& s = slots_.get<events::step>();
                s.index = h->index;
                s.total = h->total;
                s.instruction.assign(h->instruction);
                s.stage.clear();
                s.vertex = 0;
                emit<events::step>();
                return;
            }
        }
        auto& l = slots_.get<events::log_line>();
        detail::set(l.text, line);
        l.vertex = 0;
        emit<events::log_line>();
        if (!line.empty() && line[0] == 'C' && line.starts_with("COMMIT")) {
            saw_commit_ = true;
        } else if (saw_commit_ && detail::is_hex_id(line)) {
            std::string id = "sha256:";  // Podman's final line: the full image id
            id.append(line);
            image(id);
        }
    }

    /// "TAG: digest: sha256:HEX size: N", as both engines print a finished
    /// push; kept until aux repeats it (Docker) or the stream ends (Podman).
    void remember_status_push(std::string_view status) {
        const auto d = status.find(": digest: sha256:");
        if (d == std::string_view::npos || d == 0) return;
        const auto digest_at = d + 10;
        const auto size_at = status.find(" size: ", digest_at);
        if (size_at == std::string_view::npos) return;
        const auto digest = status.substr(digest_at, size_at - digest_at);
        const auto size_text = detail::trim(status.substr(size_at + 7));
        std::uint64_t size = 0;
        const auto r = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
        if (r.ec != std::errc{} || r.ptr != size_text.data() + size_text.size() || digest.size() != 71) return;
        events::pushed p;
        p.tag.assign(status.substr(0, d));
        p.digest.assign(digest);
        p.size = size;
        status_push_ = std::move(p);
    }

    Sink* sink_;
    std::optional<events::pushed> status_push_;
    ndjson_reader reader_;
    detail::line_assembler text_;
    detail::event_slots slots_;
    stream_summary summary_;
    std::string last_image_;
    bool saw_commit_ = false;
    std::exception_ptr pending_;
};

/// Decodes a whole recorded stream at once.
template <EventSink Sink>
stream_summary decode_engine_stream(std::string_view stream, Sink& sink, engine_stream_options options = {}) {
    engine_stream_decoder<Sink> d(sink, std::move(options));
    d.feed(stream);
    d.finish();
    return d.summary();
}

}  // namespace rtb
