// A small decoder of the Engine API's JSON-lines streams (pull, push, build)
// into rtb::build_event. Interim: rtb/stream's simdjson decoder (issue 4)
// replaces it behind docker_engine's `stream_decoder` alias; both offer
//     void feed(std::string_view chunk, Sink&& on_event);
//     void finish(Sink&& on_event);
// where Sink is callable with `const build_event&`.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/stream/event.hpp"

namespace rtb::detail {

class interim_stream_decoder {
public:
    /// A line longer than this is a malformed stream, not a reason to grow forever.
    static constexpr std::size_t max_line = std::size_t{4} << 20;

    template <class Sink>
    void feed(std::string_view chunk, Sink&& on_event) {
        while (!chunk.empty()) {
            const auto nl = chunk.find('\n');
            if (nl == std::string_view::npos) {
                pending_.append(chunk);
                check_length();
                return;
            }
            if (pending_.empty()) {
                line(chunk.substr(0, nl), on_event);
            } else {
                pending_.append(chunk.substr(0, nl));
                check_length();
                line(pending_, on_event);
                pending_.clear();
            }
            chunk.remove_prefix(nl + 1);
        }
    }

    template <class Sink>
    void finish(Sink&& on_event) {
        if (!pending_.empty()) {
            std::string last;
            last.swap(pending_);
            line(last, on_event);
        }
    }

private:
    void check_length() const {
        if (pending_.size() > max_line)
            throw error(errc::parse_error, fmt::format("engine stream: a line is longer than {} bytes", max_line));
    }

    static std::string_view preview(std::string_view s) { return s.substr(0, 120); }

    /// "Step 3/7 : RUN make" (Docker) or "STEP 3/7: RUN make" (Podman).
    static bool step_line(std::string_view text, events::step& out) {
        std::string_view rest;
        if (text.starts_with("Step ")) rest = text.substr(5);
        else if (text.starts_with("STEP ")) rest = text.substr(5);
        else return false;
        int index = 0, total = 0;
        auto r = std::from_chars(rest.data(), rest.data() + rest.size(), index);
        if (r.ec != std::errc{} || r.ptr == rest.data() + rest.size() || *r.ptr != '/') return false;
        rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()) + 1);
        r = std::from_chars(rest.data(), rest.data() + rest.size(), total);
        if (r.ec != std::errc{}) return false;
        rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()));
        if (rest.starts_with(" : ")) rest.remove_prefix(3);
        else if (rest.starts_with(": ")) rest.remove_prefix(2);
        else return false;
        out = events::step{index, total, std::string(rest)};
        return true;
    }

    /// Podman's push result: "t1: digest: sha256:... size: 343".
    static bool podman_pushed(std::string_view status, events::pushed& out) {
        const auto d = status.find(": digest: ");
        const auto z = status.find(" size: ");
        if (d == std::string_view::npos || z == std::string_view::npos || z < d) return false;
        out.tag = std::string(status.substr(0, d));
        out.digest = std::string(status.substr(d + 10, z - d - 10));
        const auto size = status.substr(z + 7);
        std::from_chars(size.data(), size.data() + size.size(), out.size);
        return out.digest.starts_with("sha256:");
    }

    template <class Sink>
    void text_lines(std::string_view text, Sink& on_event) {
        while (!text.empty()) {
            const auto nl = text.find('\n');
            auto one = text.substr(0, nl);
            if (!one.empty() && one.back() == '\r') one.remove_suffix(1);
            events::step s;
            if (step_line(one, s)) on_event(build_event{std::move(s)});
            else if (!one.empty()) on_event(build_event{events::log_line{std::string(one)}});
            if (nl == std::string_view::npos) break;
            text.remove_prefix(nl + 1);
        }
    }

    template <class Sink>
    void line(std::string_view text, Sink& on_event) {
        while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
        if (text.empty()) return;
        simdjson::dom::element doc;
        if (parser_.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
            throw error(errc::parse_error,
                        fmt::format("engine stream: a line is not a JSON object: {}", ref::quote(preview(text))));
        std::string_view s;
        simdjson::dom::element detail;
        if (doc["errorDetail"].get(detail) == simdjson::SUCCESS || doc["error"].get_string().get(s) == simdjson::SUCCESS) {
            events::failure f;
            if (doc["error"].get_string().get(s) == simdjson::SUCCESS) f.message = s;
            if (detail.is_object()) {
                std::string_view m;
                if (f.message.empty() && detail["message"].get_string().get(m) == simdjson::SUCCESS) f.message = m;
                std::int64_t code = 0;
                if (detail["code"].get_int64().get(code) == simdjson::SUCCESS) f.exit_code = static_cast<int>(code);
            }
            on_event(build_event{std::move(f)});
            return;
        }
        simdjson::dom::element aux;
        if (doc["aux"].get(aux) == simdjson::SUCCESS && aux.is_object()) {
            if (aux["ID"].get_string().get(s) == simdjson::SUCCESS) {
                on_event(build_event{events::image_built{std::string(s)}});
                return;
            }
            if (aux["Digest"].get_string().get(s) == simdjson::SUCCESS) {
                events::pushed p;
                p.digest = s;
                if (aux["Tag"].get_string().get(s) == simdjson::SUCCESS) p.tag = s;
                std::uint64_t size = 0;
                if (aux["Size"].get_uint64().get(size) == simdjson::SUCCESS) p.size = size;
                on_event(build_event{std::move(p)});
                return;
            }
        }
        if (doc["stream"].get_string().get(s) == simdjson::SUCCESS) {
            text_lines(s, on_event);
            return;
        }
        std::string_view status;
        if (doc["status"].get_string().get(status) == simdjson::SUCCESS) {
            events::pushed p;
            if (podman_pushed(status, p)) {
                on_event(build_event{std::move(p)});
                return;
            }
            std::string_view id;
            if (doc["id"].get_string().get(id) == simdjson::SUCCESS) {
                events::progress pr;
                pr.id = id;
                pr.status = status;
                simdjson::dom::element pd;
                if (doc["progressDetail"].get(pd) == simdjson::SUCCESS && pd.is_object()) {
                    std::uint64_t n = 0;
                    if (pd["current"].get_uint64().get(n) == simdjson::SUCCESS) pr.current = n;
                    if (pd["total"].get_uint64().get(n) == simdjson::SUCCESS) pr.total = n;
                }
                on_event(build_event{std::move(pr)});
            } else {
                text_lines(status, on_event);
            }
        }
        // Anything else (an empty progressDetail, an unknown aux) carries nothing for a Logger.
    }

    std::string pending_;
    simdjson::dom::parser parser_;
};

}  // namespace rtb::detail
