// The API keys a Runtime API server accepts, read from a file, and the
// check of a presented key in constant time (its length and its bytes leak
// nothing through timing). Keys are never printed: errors and logs name a
// key by its line number ("key 2").
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/hash/hasher.hpp"

namespace rtb::serve {

class api_keys {
public:
    /// Keys shorter than this are refused: a guessable key is no key.
    static constexpr std::size_t min_length = 16;
    static constexpr std::size_t max_length = 4096;

    /// One key per line; blank lines and lines starting with '#' are skipped;
    /// surrounding blanks trimmed. A key is printable ASCII without spaces.
    static api_keys parse(std::string_view text, std::string_view display = "the API key file") {
        api_keys k;
        int line_no = 0;
        while (!text.empty()) {
            ++line_no;
            const auto nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
            if (line.empty() || line.front() == '#') continue;
            for (const char c : line)
                if (c <= 0x20 || c >= 0x7f)
                    throw error(errc::invalid_argument,
                                fmt::format("{}, line {}: a key is printable ASCII without spaces", display, line_no));
            if (line.size() < min_length || line.size() > max_length)
                throw error(errc::invalid_argument, fmt::format("{}, line {}: a key has {} to {} characters (this one {})",
                                                                display, line_no, min_length, max_length, line.size()));
            remember_secret(line);  // masked in every log line and error, whatever a client echoes
            k.digests_.push_back(fingerprint(line));
            k.lines_.push_back(line_no);
        }
        if (k.digests_.empty()) throw error(errc::invalid_argument, fmt::format("{} holds no key", display));
        return k;
    }

    /// Reads the keys from `file`.
    static api_keys load(const std::string& file) {
        std::ifstream in(file, std::ios::binary);
        if (!in) rtb::detail::throw_io("read the API key file", file);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.size() > (std::size_t{1} << 20))
            throw error(errc::invalid_argument, fmt::format("the API key file {} is larger than 1 MiB",
                                                            rtb::detail::printable(file)));
        return parse(text, fmt::format("the API key file {}", rtb::detail::printable(file)));
    }

    /// The index of the key `presented` is, or std::nullopt. Every key is
    /// compared, each in constant time over SHA-256 fingerprints, so neither
    /// which key matched nor how much of it leaks through timing.
    std::optional<std::size_t> match(std::string_view presented) const {
        const auto d = fingerprint(presented.substr(0, max_length + 1));
        std::optional<std::size_t> found;
        for (std::size_t i = 0; i < digests_.size(); ++i) {
            const bool same = CRYPTO_memcmp(d.data(), digests_[i].data(), d.size()) == 0;
            if (same && !found) found = i;
        }
        return found;
    }

    std::size_t size() const noexcept { return digests_.size(); }
    /// How a key is named in logs: "key 2 (line 3)".
    std::string describe(std::size_t index) const { return fmt::format("key {} (line {})", index + 1, lines_.at(index)); }

private:
    static std::string fingerprint(std::string_view key) {
        const auto d = hash_bytes(hash_algorithm::sha256, key);
        return std::string(reinterpret_cast<const char*>(d.bytes().data()), d.size());
    }
    std::vector<std::string> digests_;
    std::vector<int> lines_;
};

}  // namespace rtb::serve
