// The property both stream decoders must have: the events and the error they
// report do not depend on how the stream was cut into chunks.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "rtb/error.hpp"
#include "rtb/stream/event.hpp"
#include "fuzz_support.hpp"

namespace rtb::fuzz {

struct event_log {
    std::vector<build_event> events;
    void on_event(const build_event& e) {
        if (events.size() < 100'000) events.push_back(e);
    }
};

struct decode_outcome {
    std::vector<build_event> events;
    std::optional<std::string> error;  // the message of the rtb::error, if one ended the decode
};

/// Runs a decoder made by `make(sink)` over `text`, fed whole or in `chunks`.
template <class Make>
decode_outcome decode(Make&& make, std::string_view text, const std::vector<std::size_t>* chunks) {
    event_log sink;
    decode_outcome out;
    try {
        auto decoder = make(sink);
        if (!chunks) {
            decoder->feed(text);
        } else {
            std::size_t at = 0;
            for (auto n : *chunks) {
                if (at >= text.size()) break;
                // Each chunk in its own buffer: reading past a chunk's end is caught.
                std::string own(text.substr(at, n));
                decoder->feed(own);
                at += n;
            }
        }
        decoder->finish();
    } catch (const rtb::error& e) {
        out.error = e.what();
    }
    out.events = std::move(sink.events);
    return out;
}

/// The part of an error that must not depend on chunking: what failed and
/// where. simdjson's own diagnosis of a malformed line after "at byte N:"
/// may differ, because a line parsed in place sees other padding bytes than
/// one copied into the decoder's buffer.
inline std::optional<std::string> where_it_failed(const std::optional<std::string>& message) {
    if (!message) return message;
    const auto at = message->find(" at byte ");
    if (at == std::string::npos) return message;
    return message->substr(0, message->find(": ", at));
}

template <class Make>
void check_chunking_does_not_matter(Make&& make, std::uint8_t seed, std::string_view text) {
    const auto whole = decode(make, text, nullptr);
    const auto sizes = chunk_sizes(seed, text.size());
    const auto cut = decode(make, text, &sizes);
    if (where_it_failed(whole.error) != where_it_failed(cut.error)) {
        std::fprintf(stderr, "whole: %s\nchunked: %s\n", whole.error ? whole.error->c_str() : "(no error)",
                     cut.error ? cut.error->c_str() : "(no error)");
        property_failed("the error depends on the chunking");
    }
    if (whole.events != cut.events) property_failed("the events depend on the chunking");
}

}  // namespace rtb::fuzz
