// The redactor's patterns searched for one after the other, the way
// rtb::redactor did before it found them in one pass: the reference that
// test_redactor checks the one-pass search against on random text.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/policy/known_secrets.hpp"

namespace rtb::test {

/// rtb::redactor as it was before its patterns were found in one pass:
/// each pattern searched for in turn. Kept as the reference the one-pass
/// search is checked against.
///
/// Masks secrets in text.
///
/// Exact secrets: every occurrence of a string given to add_secret(), or
/// known to rtb process-wide (known_secrets: credentials and tokens rtb
/// handled), becomes the mask. Patterns (on by default) catch credentials nobody registered:
/// - the password of a URL (`https://user:***@host`)
/// - the value after a key naming a secret, in `KEY=value`, `key: value`,
///   `"key": "value"` and `--key value` forms; a key names a secret when it
///   contains password, passwd, secret, token, api_key/apikey/api-key,
///   access_key, private_key or credential (any case)
/// - `Authorization:` header values and `Bearer` tokens
/// - well-known token shapes: GitHub (ghp_, gho_, ghu_, ghs_, ghr_,
///   github_pat_), GitLab (glpat-), Slack (xox?-), AWS access key ids
///   (AKIA...), OpenAI-style (sk-...).
/// Patterns err on the side of masking. A secret split across two lines is
/// not found; loggers hand whole lines to apply(). Not thread-safe: one per
/// logger, like the logger itself.
class reference_redactor {
public:
    struct options {
        bool patterns = true;
        std::string mask = "***";
    };

    reference_redactor() = default;
    explicit reference_redactor(options o) : options_(std::move(o)) {}

    /// Registers a secret to mask wherever it appears. Empty strings are ignored.
    void add_secret(std::string_view secret) { add_secret_to(secrets_, secret); }
    std::size_t secret_count() const noexcept { return secrets_.size(); }
    const options& settings() const noexcept { return options_; }

private:
    static void add_secret_to(std::vector<std::string>& list, std::string_view secret) {
        if (secret.empty()) return;
        if (std::find(list.begin(), list.end(), secret) != list.end()) return;
        list.emplace_back(secret);
        // longest first, so a secret containing another is masked whole
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    }

public:
    /// `text` with secrets masked: a view of `text` itself when there was
    /// nothing to mask (no copy), else of `scratch`, which it overwrites.
    std::string_view apply(std::string_view text, std::string& scratch) const {
        sync_known_secrets();
        ranges_.clear();
        for (const auto& s : secrets_) {
            for (auto pos = text.find(s); pos != std::string_view::npos; pos = text.find(s, pos + s.size()))
                ranges_.emplace_back(pos, pos + s.size());
        }
        if (options_.patterns) find_patterns(text);
        if (ranges_.empty()) return text;
        std::sort(ranges_.begin(), ranges_.end());
        scratch.clear();
        std::size_t at = 0;
        for (std::size_t i = 0; i < ranges_.size();) {
            auto [b, e] = ranges_[i];
            for (++i; i < ranges_.size() && ranges_[i].first <= e; ++i) e = std::max(e, ranges_[i].second);
            if (b < at) b = at;
            scratch.append(text.substr(at, b - at));
            if (e > b) scratch.append(options_.mask);
            at = std::max(at, e);
        }
        scratch.append(text.substr(at));
        return scratch;
    }

    /// `text` with secrets masked, as a new string.
    std::string operator()(std::string_view text) const {
        std::string scratch;
        return std::string(apply(text, scratch));
    }

private:
    // Takes in the secrets rtb handled since the last call (known_secrets):
    // one atomic load when nothing changed.
    void sync_known_secrets() const {
        auto& known = known_secrets::global();
        if (known.version() == known_version_) return;
        known_version_ = known.version();
        for (auto& s : known.since(known_taken_)) {
            ++known_taken_;
            add_secret_to(secrets_, s);
        }
    }

    static constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
    static constexpr bool is_key_char(char c) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    }
    static constexpr bool is_token_char(char c) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    // where a secret value ends: whitespace, quotes, separators
    static constexpr bool ends_value(char c) noexcept {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\'' || c == ',' || c == ';' ||
               c == '&' || c == '}' || c == ')' || c == ']' || c == '>' || c == '`';
    }

    static bool names_secret(std::string_view key) noexcept {
        char buf[64];
        if (key.size() > sizeof buf) key = key.substr(key.size() - sizeof buf);
        for (std::size_t i = 0; i < key.size(); ++i) buf[i] = lower(key[i]);
        const std::string_view k(buf, key.size());
        constexpr std::string_view words[] = {"password", "passwd", "secret", "token", "api_key", "apikey",
                                              "api-key", "access_key", "private_key", "credential", "authorization"};
        return std::any_of(std::begin(words), std::end(words), [&](auto w) { return k.find(w) != std::string_view::npos; });
    }

    void mask_value_from(std::string_view text, std::size_t pos, bool whole_rest = false) const {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
        const bool quoted = pos < text.size() && (text[pos] == '"' || text[pos] == '\'');
        const char quote = quoted ? text[pos] : 0;
        if (quoted) ++pos;
        auto end = pos;
        if (whole_rest) {  // a header value: up to a closing quote or the end of the line
            end = quoted ? text.find(quote, pos) : text.find_first_of("\"'\n", pos);
            if (end == std::string_view::npos) end = text.size();
            while (end > pos && (text[end - 1] == ' ' || text[end - 1] == '\r')) --end;
        } else if (quoted) {
            while (end < text.size() && text[end] != quote) end += text[end] == '\\' ? 2 : 1;
            end = std::min(end, text.size());
        } else {
            while (end < text.size() && !ends_value(text[end])) ++end;
        }
        if (end > pos) ranges_.emplace_back(pos, end);
    }

    void find_patterns(std::string_view text) const {
        // URL passwords: scheme://user:password@host
        for (auto p = text.find("://"); p != std::string_view::npos; p = text.find("://", p + 3)) {
            const auto start = p + 3;
            auto end = start;
            while (end < text.size() && text[end] != '@' && text[end] != '/' && !ends_value(text[end])) ++end;
            if (end < text.size() && text[end] == '@') {
                const auto colon = text.substr(start, end - start).find(':');
                if (colon != std::string_view::npos && start + colon + 1 < end) ranges_.emplace_back(start + colon + 1, end);
            }
        }
        // KEY=value, key: value, "key": "value"
        for (std::size_t p = 0; p < text.size(); ++p) {
            const char c = text[p];
            if (c != '=' && c != ':') continue;
            if (c == ':' && p + 2 < text.size() && text[p + 1] == '/' && text[p + 2] == '/') continue;  // a URL
            auto kend = p;
            while (kend > 0 && text[kend - 1] == ' ') --kend;
            const bool quoted_key = kend > 0 && (text[kend - 1] == '"' || text[kend - 1] == '\'');
            if (quoted_key) --kend;
            auto kbeg = kend;
            while (kbeg > 0 && is_key_char(text[kbeg - 1])) --kbeg;
            if (kbeg == kend || !names_secret(text.substr(kbeg, kend - kbeg))) continue;
            if (quoted_key) {
                // "key": "value" (JSON) only: a quoted name followed by bare
                // words is a quoted file name in a message ('.../secret':
                // Permission denied), not a secret.
                auto v = p + 1;
                while (v < text.size() && text[v] == ' ') ++v;
                if (v >= text.size() || (text[v] != '"' && text[v] != '\'')) continue;
            }
            const bool header = c == ':' && names_secret_header(text.substr(kbeg, kend - kbeg));
            mask_value_from(text, p + 1, header);
        }
        // --password value / --token value
        for (auto p = text.find("--"); p != std::string_view::npos; p = text.find("--", p + 2)) {
            auto kend = p + 2;
            while (kend < text.size() && is_key_char(text[kend])) ++kend;
            if (kend < text.size() && text[kend] == ' ' && names_secret(text.substr(p + 2, kend - p - 2)))
                mask_value_from(text, kend + 1);
        }
        // Bearer tokens
        for (auto p = text.find("Bearer "); p != std::string_view::npos; p = text.find("Bearer ", p + 7))
            mask_value_from(text, p + 7);
        // well-known token shapes
        constexpr std::pair<std::string_view, std::size_t> prefixes[] = {
            {"ghp_", 20}, {"gho_", 20}, {"ghu_", 20}, {"ghs_", 20},  {"ghr_", 20},  {"github_pat_", 20},
            {"glpat-", 16}, {"xoxb-", 10}, {"xoxp-", 10}, {"xoxa-", 10}, {"xoxr-", 10}, {"xoxs-", 10},
            {"AKIA", 16}, {"sk-", 20}};
        for (const auto& [prefix, min_len] : prefixes) {
            for (auto p = text.find(prefix); p != std::string_view::npos; p = text.find(prefix, p + 1)) {
                if (p > 0 && is_token_char(text[p - 1])) continue;
                auto end = p + prefix.size();
                while (end < text.size() && is_token_char(text[end])) ++end;
                if (end - p - prefix.size() >= min_len) ranges_.emplace_back(p, end);
            }
        }
    }

    static bool names_secret_header(std::string_view key) noexcept {
        std::string lowered(key);
        for (auto& ch : lowered) ch = lower(ch);
        return lowered == "authorization" || lowered == "proxy-authorization";
    }

    options options_;
    mutable std::vector<std::string> secrets_;  // mutable: known secrets join on first use
    mutable std::uint64_t known_version_ = 0;
    mutable std::size_t known_taken_ = 0;
    mutable std::vector<std::pair<std::size_t, std::size_t>> ranges_;  // scratch, reused
};

}  // namespace rtb::test
