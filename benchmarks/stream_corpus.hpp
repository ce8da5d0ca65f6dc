// The benchmark inputs for engine output, built deterministically from the
// recorded fixtures: a >= 50 MB engine JSON stream (builds, pushes, pulls,
// failures, plus pull progress shaped like a real multi-layer pull) and a
// >= 50 MB BuildKit plain log.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::bench {

inline std::string read_fixture(const std::string& name) {
    std::ifstream in(std::string(RTB_FIXTURES_DIR) + "/" + name, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read fixture " + name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A pull of one image as dockerd reports it: `layers` layers downloaded
/// three at a time, a Downloading event per ~1% of a layer, then extraction,
/// with the human "progress" bar field real streams carry.
inline std::string pull_progress(std::mt19937_64& rng, int layers) {
    auto hex = [&](int n) {
        static const char digits[] = "0123456789abcdef";
        std::string s;
        for (int i = 0; i < n; ++i) s += digits[rng() % 16];
        return s;
    };
    auto bar = [](std::uint64_t cur, std::uint64_t total) {
        const auto filled = total ? static_cast<int>(50.0 * static_cast<double>(cur) / static_cast<double>(total)) : 0;
        std::string b = "[";
        b.append(static_cast<std::size_t>(filled), '=');
        b += filled < 50 ? "\\u003e" : "";
        b.append(static_cast<std::size_t>(std::max(0, 49 - filled)), ' ');
        return b + "]  " + std::to_string(cur / 1000) + "kB/" + std::to_string(total / 1000) + "kB";
    };
    std::string out = "{\"status\":\"Pulling from library/python\",\"id\":\"3.12\"}\n";
    struct layer {
        std::string id;
        std::uint64_t size;
    };
    std::vector<layer> ls;
    for (int i = 0; i < layers; ++i) {
        ls.push_back({hex(12), 1'000'000 + rng() % 300'000'000});
        out += "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"" + ls.back().id + "\"}\n";
    }
    for (std::size_t first = 0; first < ls.size(); first += 3) {
        const auto last = std::min(ls.size(), first + 3);
        for (int step = 1; step <= 100; ++step) {
            for (auto i = first; i < last; ++i) {
                const auto cur = ls[i].size * static_cast<std::uint64_t>(step) / 100;
                out += "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":" + std::to_string(cur) +
                       ",\"total\":" + std::to_string(ls[i].size) + "},\"progress\":\"" + bar(cur, ls[i].size) +
                       "\",\"id\":\"" + ls[i].id + "\"}\n";
            }
        }
        for (auto i = first; i < last; ++i) {
            out += "{\"status\":\"Verifying Checksum\",\"progressDetail\":{},\"id\":\"" + ls[i].id + "\"}\n";
            out += "{\"status\":\"Download complete\",\"progressDetail\":{},\"id\":\"" + ls[i].id + "\"}\n";
        }
    }
    for (auto& l : ls) {
        for (int step = 1; step <= 50; ++step) {
            const auto cur = l.size * static_cast<std::uint64_t>(step) / 50;
            out += "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":" + std::to_string(cur) +
                   ",\"total\":" + std::to_string(l.size) + "},\"progress\":\"" + bar(cur, l.size) + "\",\"id\":\"" +
                   l.id + "\"}\n";
        }
        out += "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"" + l.id + "\"}\n";
    }
    out += "{\"status\":\"Digest: sha256:" + hex(64) + "\"}\n";
    out += "{\"status\":\"Status: Downloaded newer image for python:3.12\"}\n";
    return out;
}

/// >= `min_bytes` of engine JSON stream: the recorded build, failure, push
/// and pull streams (Docker and Podman) interleaved with synthetic pulls.
inline std::string engine_corpus(std::size_t min_bytes = 52'000'000) {
    const std::string fixtures[] = {read_fixture("build_stream.ndjson"), read_fixture("push_stream.ndjson"),
                                    read_fixture("podman_build_stream.ndjson"), read_fixture("pull_stream.ndjson"),
                                    read_fixture("build_fail_stream.ndjson"),
                                    read_fixture("podman_build_fail_stream.ndjson")};
    std::mt19937_64 rng(20261128);
    std::string out;
    out.reserve(min_bytes + (1 << 20));
    for (std::size_t round = 0; out.size() < min_bytes; ++round) {
        out += fixtures[round % std::size(fixtures)];
        out += pull_progress(rng, 4 + static_cast<int>(rng() % 8));
    }
    return out;
}

/// >= `min_bytes` of BuildKit plain output: the recorded logs repeated with
/// their vertices renumbered, as one long build session would print them.
inline std::string plain_corpus(std::size_t min_bytes = 52'000'000) {
    const std::string logs[] = {read_fixture("buildkit_plain.log"), read_fixture("buildkit_plain_fail.log")};
    std::string out;
    out.reserve(min_bytes + (1 << 20));
    for (std::size_t round = 0; out.size() < min_bytes; ++round) {
        const auto& log = logs[round % 5 == 4 ? 1 : 0];
        const auto offset = static_cast<long>(round * 16);
        std::size_t at = 0;
        while (at < log.size()) {
            auto nl = log.find('\n', at);
            if (nl == std::string::npos) nl = log.size();
            const std::string_view line(log.data() + at, nl - at);
            if (line.size() > 1 && line[0] == '#' && line[1] >= '0' && line[1] <= '9') {
                std::size_t digits = 1;
                while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') ++digits;
                out += '#';
                out += std::to_string(std::stol(std::string(line.substr(1, digits - 1))) + offset);
                out.append(line.substr(digits));
            } else {
                out.append(line);
            }
            out += '\n';
            at = nl + 1;
        }
    }
    return out;
}

}  // namespace rtb::bench
