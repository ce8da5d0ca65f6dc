// redactor: masks secrets (API keys, passwords, tokens) in text before any
// logger writes it. Every stock logger owns one; add_secret() registers the
// exact strings to hide, and common credential shapes are masked as well.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/detail/config.hpp"

namespace rtb {

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
class redactor {
public:
    struct options {
        bool patterns = true;
        std::string mask = "***";
    };

    redactor() = default;
    explicit redactor(options o) : options_(std::move(o)) {}

    /// Registers a secret to mask wherever it appears. Empty strings are ignored.
    void add_secret(std::string_view secret) { add_secret_to(secrets_, secret); }
    std::size_t secret_count() const noexcept { return secrets_.size(); }
    const options& settings() const noexcept { return options_; }

private:
    static void add_secret_to(std::vector<std::string>& list, std::string_view secret);

public:
    /// `text` with secrets masked: a view of `text` itself when there was
    /// nothing to mask (no copy), else of `scratch`, which it overwrites.
    std::string_view apply(std::string_view text, std::string& scratch) const;

    /// `text` with secrets masked, as a new string.
    std::string operator()(std::string_view text) const {
        std::string scratch;
        return std::string(apply(text, scratch));
    }

private:
    // Takes in the secrets rtb handled since the last call (known_secrets):
    // one atomic load when nothing changed.
    void sync_known_secrets() const;

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

    // Every pattern needs one of these: ':' (URLs, `key: value`), '=',
    // '-' (--flags; glpat-, xox?-, sk- tokens), '_' (GitHub tokens), "AKIA"
    // or "Bearer ". One pass over text without them spares the dozen
    // searches of find_patterns(): most engine output (progress, ids) has none.
    static bool may_hold_pattern(std::string_view text) noexcept;

    static bool names_secret(std::string_view key) noexcept;

    void mask_value_from(std::string_view text, std::size_t pos, bool whole_rest = false) const;

    // One pass over the text, each pattern tried where its first byte is.
    // The ranges are those of searching for each pattern in turn (they are
    // sorted and merged afterwards); a dozen searches per string cost more
    // than writing the event they were for.
    void find_patterns(std::string_view text) const;

    // URL passwords: scheme://user:password@host (p: the "://")
    void url_password(std::string_view text, std::size_t p) const;

    // KEY=value, key: value, "key": "value" (p: the '=' or ':')
    void key_value(std::string_view text, std::size_t p) const;

    // --password value / --token value (p: the "--")
    void flag_value(std::string_view text, std::size_t p) const;

    // well-known token shapes starting at p
    void token(std::string_view text, std::size_t p) const;

    static bool names_secret_header(std::string_view key) noexcept;

    options options_;
    mutable std::vector<std::string> secrets_;  // mutable: known secrets join on first use
    mutable std::uint64_t known_version_ = 0;
    mutable std::size_t known_taken_ = 0;
    mutable std::vector<std::pair<std::size_t, std::size_t>> ranges_;  // scratch, reused
};

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/policy/impl/redactor.ipp"
#endif
