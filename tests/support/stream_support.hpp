// Test support for the stream decoders: fixture files, sinks that record or
// check events, and feeding a stream in every kind of chunking.
#pragma once

#include <cstddef>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <type_traits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rtb/stream/event.hpp"
#include "rtb/stream/event_text.hpp"
#include "support/print.hpp"

#ifndef RTB_FIXTURES_DIR
#error "RTB_FIXTURES_DIR must name tests/fixtures/engine-streams"
#endif

namespace rtb::test {

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A recorded engine stream from tests/fixtures/engine-streams.
inline std::string fixture(std::string_view name) { return read_file(std::string(RTB_FIXTURES_DIR) + "/" + std::string(name)); }

/// Keeps every event.
struct recording_sink {
    std::vector<build_event> events;
    void on_event(const build_event& e) { events.push_back(e); }

    template <class T>
    std::vector<T> all() const {
        std::vector<T> out;
        for (const auto& e : events)
            if (const auto* t = std::get_if<T>(&e)) out.push_back(*t);
        return out;
    }
    template <class T>
    std::size_t count() const {
        std::size_t n = 0;
        for (const auto& e : events) n += std::holds_alternative<T>(e);
        return n;
    }
    /// The log lines' texts, in order.
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        for (const auto& l : all<events::log_line>()) out.push_back(l.text);
        return out;
    }
};

/// Compares each event, as it arrives, with an expected sequence; keeps only
/// the first difference (no storage per event).
struct checking_sink {
    const std::vector<build_event>* expected = nullptr;
    std::size_t seen = 0;
    std::string first_mismatch;
    void on_event(const build_event& e) {
        if (first_mismatch.empty()) {
            if (seen >= expected->size()) {
                first_mismatch = "extra event #" + std::to_string(seen) + ": " + text(e);
            } else if (!(e == (*expected)[seen])) {
                first_mismatch = "event #" + std::to_string(seen) + ": got " + text(e) + ", expected " + text((*expected)[seen]);
            }
        }
        ++seen;
    }
    std::string verdict() const {
        if (!first_mismatch.empty()) return first_mismatch;
        if (seen != expected->size())
            return "got " + std::to_string(seen) + " events, expected " + std::to_string(expected->size());
        return {};
    }
    static std::string text(const build_event& e) {
        std::string s;
        append_event_text(s, e);
        return s;
    }
};

/// Feeds `data` to `feed` in pieces of `size` bytes.
template <class Feed>
void feed_in_chunks(std::string_view data, std::size_t size, Feed&& feed) {
    for (std::size_t at = 0; at < data.size(); at += size) feed(data.substr(at, size));
}

/// Feeds `data` in random pieces of 1..max_size bytes, from a seeded generator.
template <class Feed>
void feed_randomly(std::string_view data, unsigned seed, std::size_t max_size, Feed&& feed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> size(1, max_size);
    for (std::size_t at = 0; at < data.size();) {
        const auto n = size(rng);
        feed(data.substr(at, n));
        at += n;
    }
}

/// Copies each chunk into its own exactly-sized heap buffer before feeding,
/// so reading past a chunk's end is caught by the sanitizers and never
/// silently sees the next bytes of the whole stream.
template <class Feed>
auto isolated(Feed& feed) {
    return [&feed](std::string_view chunk) {
        std::vector<char> own(chunk.begin(), chunk.end());
        feed(std::string_view(own.data(), own.size()));
    };
}

}  // namespace rtb::test

// How Boost.Test prints the values it compares.
namespace rtb::events {
template <class T>
    requires std::is_constructible_v<rtb::build_event, T>
std::ostream& boost_test_print_type(std::ostream& os, const T& e) {
    return os << rtb::test::checking_sink::text(rtb::build_event(e));
}
}  // namespace rtb::events
