// redactor's member functions (rtb/policy/redactor.hpp): included by that
// header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION). Every logger holds a redactor; only the
// library's unit compiles the masking.
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
#include "rtb/policy/known_secrets.hpp"
#include "rtb/policy/redactor.hpp"

namespace rtb {

RTB_DECL void redactor::add_secret_to(std::vector<std::string>& list, std::string_view secret) {
    if (secret.empty()) return;
    if (std::find(list.begin(), list.end(), secret) != list.end()) return;
    list.emplace_back(secret);
    // longest first, so a secret containing another is masked whole
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

RTB_DECL std::string_view redactor::apply(std::string_view text, std::string& scratch) const {
    sync_known_secrets();
    ranges_.clear();
    for (const auto& s : secrets_) {
        for (auto pos = text.find(s); pos != std::string_view::npos; pos = text.find(s, pos + s.size()))
            ranges_.emplace_back(pos, pos + s.size());
    }
    if (options_.patterns && may_hold_pattern(text)) find_patterns(text);
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

RTB_DECL void redactor::sync_known_secrets() const {
    auto& known = known_secrets::global();
    if (known.version() == known_version_) return;
    known_version_ = known.version();
    for (auto& s : known.since(known_taken_)) {
        ++known_taken_;
        add_secret_to(secrets_, s);
    }
}

RTB_DECL bool redactor::may_hold_pattern(std::string_view text) noexcept {
    static constexpr auto trigger = [] {
        std::array<bool, 256> t{};
        for (const unsigned char c : {':', '=', '-', '_', 'A', 'B'}) t[c] = true;
        return t;
    }();
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!trigger[static_cast<unsigned char>(text[i])]) continue;
        const char c = text[i];
        if (c == 'A') {
            if (text.substr(i, 4) == "AKIA") return true;
        } else if (c == 'B') {
            if (text.substr(i, 7) == "Bearer ") return true;
        } else {
            return true;
        }
    }
    return false;
}

RTB_DECL bool redactor::names_secret(std::string_view key) noexcept {
    if (key.size() < 5) return false;  // shorter than "token", the shortest word
    char buf[64];
    if (key.size() > sizeof buf) key = key.substr(key.size() - sizeof buf);
    for (std::size_t i = 0; i < key.size(); ++i) buf[i] = lower(key[i]);
    const std::string_view k(buf, key.size());
    constexpr std::string_view words[] = {"password", "passwd", "secret", "token", "api_key", "apikey",
                                          "api-key", "access_key", "private_key", "credential", "authorization"};
    return std::any_of(std::begin(words), std::end(words), [&](auto w) { return k.find(w) != std::string_view::npos; });
}

RTB_DECL void redactor::mask_value_from(std::string_view text, std::size_t pos, bool whole_rest) const {
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

RTB_DECL void redactor::find_patterns(std::string_view text) const {
    static constexpr auto first = [] {
        std::array<bool, 256> t{};
        for (const unsigned char c : {':', '=', '-', 'B', 'g', 'x', 'A', 's'}) t[c] = true;
        return t;
    }();
    std::size_t dashes_from = 0;  // "--" is found without overlaps: "----" holds two, "---" one
    for (std::size_t p = 0; p < text.size(); ++p) {
        const char c = text[p];
        if (!first[static_cast<unsigned char>(c)]) continue;
        switch (c) {
            case ':':
                if (text.substr(p, 3) == "://") {  // a URL, not a key
                    url_password(text, p);
                    break;
                }
                key_value(text, p);
                break;
            case '=': key_value(text, p); break;
            case '-':
                if (p >= dashes_from && p + 1 < text.size() && text[p + 1] == '-') {
                    dashes_from = p + 2;
                    flag_value(text, p);
                }
                break;
            case 'B':
                if (text.substr(p, 7) == "Bearer ") mask_value_from(text, p + 7);  // Bearer tokens
                break;
            default: token(text, p); break;
        }
    }
}

RTB_DECL void redactor::url_password(std::string_view text, std::size_t p) const {
    const auto start = p + 3;
    auto end = start;
    while (end < text.size() && text[end] != '@' && text[end] != '/' && !ends_value(text[end])) ++end;
    if (end < text.size() && text[end] == '@') {
        const auto colon = text.substr(start, end - start).find(':');
        if (colon != std::string_view::npos && start + colon + 1 < end) ranges_.emplace_back(start + colon + 1, end);
    }
}

RTB_DECL void redactor::key_value(std::string_view text, std::size_t p) const {
    const char c = text[p];
    auto kend = p;
    while (kend > 0 && text[kend - 1] == ' ') --kend;
    const bool quoted_key = kend > 0 && (text[kend - 1] == '"' || text[kend - 1] == '\'');
    if (quoted_key) --kend;
    auto kbeg = kend;
    while (kbeg > 0 && is_key_char(text[kbeg - 1])) --kbeg;
    if (kbeg == kend || !names_secret(text.substr(kbeg, kend - kbeg))) return;
    if (quoted_key) {
        // "key": "value" (JSON) only: a quoted name followed by bare
        // words is a quoted file name in a message ('.../secret':
        // Permission denied), not a secret.
        auto v = p + 1;
        while (v < text.size() && text[v] == ' ') ++v;
        if (v >= text.size() || (text[v] != '"' && text[v] != '\'')) return;
    }
    const bool header = c == ':' && names_secret_header(text.substr(kbeg, kend - kbeg));
    mask_value_from(text, p + 1, header);
}

RTB_DECL void redactor::flag_value(std::string_view text, std::size_t p) const {
    auto kend = p + 2;
    while (kend < text.size() && is_key_char(text[kend])) ++kend;
    if (kend < text.size() && text[kend] == ' ' && names_secret(text.substr(p + 2, kend - p - 2)))
        mask_value_from(text, kend + 1);
}

RTB_DECL void redactor::token(std::string_view text, std::size_t p) const {
    constexpr std::pair<std::string_view, std::size_t> prefixes[] = {
        {"ghp_", 20}, {"gho_", 20}, {"ghu_", 20}, {"ghs_", 20},  {"ghr_", 20},  {"github_pat_", 20},
        {"glpat-", 16}, {"xoxb-", 10}, {"xoxp-", 10}, {"xoxa-", 10}, {"xoxr-", 10}, {"xoxs-", 10},
        {"AKIA", 16}, {"sk-", 20}};
    if (p > 0 && is_token_char(text[p - 1])) return;
    for (const auto& [prefix, min_len] : prefixes) {
        if (!text.substr(p).starts_with(prefix)) continue;
        auto end = p + prefix.size();
        while (end < text.size() && is_token_char(text[end])) ++end;
        if (end - p - prefix.size() >= min_len) ranges_.emplace_back(p, end);
    }
}

RTB_DECL bool redactor::names_secret_header(std::string_view key) noexcept {
    std::string lowered(key);
    for (auto& ch : lowered) ch = lower(ch);
    return lowered == "authorization" || lowered == "proxy-authorization";
}

}  // namespace rtb
