// Builds on rtb serve reach no network: RUN gets network none from the
// engine, and this scan refuses, before the build, the Dockerfile lines that
// would fetch from a network or the host anyway: ADD with a remote source
// (http://, https://, git://, anything with "://", git@host:), an ADD source the
// builder would expand from a variable (its value cannot be checked here),
// and RUN flags that pick a network or mount (--network other than none,
// --mount, --security). ONBUILD instructions count too.
//
// The Dockerfile is read as the builder reads it: parser directives at the
// top (`# escape=` changes the line continuation character), comment and
// blank lines dropped also inside a continuation, continuations joined,
// instructions case-insensitive, ADD's JSON form (`ADD ["http://x", "/y"]`),
// quotes and escapes removed from a source before it is judged. Heredocs
// (`<<EOF`) are not understood by the builders rtb serve drives (dockerd
// 20.10's classic builder, Podman 4's buildah), so their lines are read as
// instructions: a remote ADD inside one is refused too. Pure.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/serve/log_text.hpp"

namespace rtb::serve {

/// One refused instruction.
struct dockerfile_finding {
    std::size_t line = 0;     ///< 1-based line where the instruction starts
    std::string instruction;  ///< "ADD", "ONBUILD ADD", "RUN", ...
    std::string what;         ///< the source or flag, escaped for a message
    std::string why;          ///< the rule it breaks
    /// "Dockerfile line 3: ADD 'http://...' fetches from the network (...)".
    std::string describe() const {
        return fmt::format("Dockerfile line {}: {} '{}' {}", line, instruction, what, why);
    }
};

/// The instructions of `dockerfile` that would reach a network or the host
/// (see above), at most `max_findings` of them, in order.
inline std::vector<dockerfile_finding> network_reaching_instructions(std::string_view dockerfile,
                                                                     std::size_t max_findings = 16);

/// Whether an ADD source (quotes and escapes already removed) is remote:
/// it holds "://" ("http://", "git://", any scheme) or is an scp-like git
/// address ("git@github.com:org/repo").
inline bool is_remote_source(std::string_view source);

/// The escape character the parser directives at the top of `dockerfile`
/// choose ('\\' unless `# escape=`` ` ``).
inline char dockerfile_escape_char(std::string_view dockerfile);

// ---------------------------------------------------------------------------

namespace detail {

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// Physical lines, without their "\n" (a trailing "\r" stays: trim removes it).
inline std::vector<std::string_view> physical_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return lines;
}

/// A parser directive line ("# name = value"): its lowercased name and value.
inline std::optional<std::pair<std::string, std::string>> directive(std::string_view line) {
    auto s = trim(line);
    if (!s.starts_with('#')) return std::nullopt;
    s = trim(s.substr(1));
    std::size_t n = 0;
    while (n < s.size() && (std::isalnum(static_cast<unsigned char>(s[n])) || s[n] == '_')) ++n;
    if (n == 0 || !std::isalpha(static_cast<unsigned char>(s[0]))) return std::nullopt;
    const auto name = s.substr(0, n);
    auto rest = trim(s.substr(n));
    if (!rest.starts_with('=')) return std::nullopt;
    rest = trim(rest.substr(1));
    if (rest.empty()) return std::nullopt;
    return std::pair{lower(name), std::string(rest)};
}

/// A logical line: an instruction with its continuations joined.
struct logical_line {
    std::size_t line;
    std::string text;
};

inline std::vector<logical_line> logical_lines(std::string_view dockerfile, char escape) {
    const auto lines = physical_lines(dockerfile);
    std::vector<logical_line> out;
    std::size_t i = 0;
    // Parser directives: at the top only; the first line that is not a known
    // one ends them (it is then a comment, a blank or an instruction).
    for (; i < lines.size(); ++i) {
        const auto d = directive(lines[i]);
        if (!d || (d->first != "escape" && d->first != "syntax" && d->first != "check")) break;
    }
    std::optional<logical_line> current;
    for (; i < lines.size(); ++i) {
        const auto raw = lines[i];
        const auto t = trim(raw);
        if (t.empty() || t.starts_with('#')) continue;  // blank and comment lines, also inside a continuation
        // A continuation: the escape character, then only blanks, at the end.
        const bool continues = !t.empty() && t.back() == escape;
        std::string_view piece = t;
        if (continues) piece = t.substr(0, t.size() - 1);
        if (!current) current = logical_line{i + 1, {}};
        current->text.append(piece);
        if (!continues) {
            out.push_back(std::move(*current));
            current.reset();
        }
    }
    if (current) out.push_back(std::move(*current));
    return out;
}

/// Splits on blanks.
inline std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        const auto start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
        if (i > start) out.emplace_back(s.substr(start, i - start));
    }
    return out;
}

/// A JSON array of strings (ADD's exec form); std::nullopt when `s` is not
/// one (the builder then reads the line as words).
inline std::optional<std::vector<std::string>> json_strings(std::string_view s) {
    s = trim(s);
    if (!s.starts_with('[') || !s.ends_with(']')) return std::nullopt;
    std::vector<std::string> out;
    std::size_t i = 1;
    auto skip = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    skip();
    if (i < s.size() && s[i] == ']') return i + 1 == s.size() ? std::optional(out) : std::nullopt;
    while (i < s.size()) {
        skip();
        if (i >= s.size() || s[i] != '"') return std::nullopt;
        ++i;
        std::string item;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\') {
                if (++i >= s.size()) return std::nullopt;
                const char e = s[i];
                if (e == 'u') {
                    // \uXXXX, decoded as the builder's JSON reader does: "\u0068ttp://" is "http://".
                    if (i + 4 >= s.size()) return std::nullopt;
                    unsigned cp = 0;
                    for (std::size_t k = 1; k <= 4; ++k) {
                        const char h = s[i + k];
                        cp <<= 4;
                        if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
                        else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
                        else return std::nullopt;
                    }
                    i += 4;
                    if (cp < 0x80) {
                        item += static_cast<char>(cp);
                    } else if (cp < 0x800) {
                        item += static_cast<char>(0xc0 | (cp >> 6));
                        item += static_cast<char>(0x80 | (cp & 0x3f));
                    } else {
                        item += static_cast<char>(0xe0 | (cp >> 12));
                        item += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
                        item += static_cast<char>(0x80 | (cp & 0x3f));
                    }
                } else {
                    item += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
                }
            } else {
                item += s[i];
            }
            ++i;
        }
        if (i >= s.size()) return std::nullopt;
        ++i;  // the closing quote
        out.push_back(std::move(item));
        skip();
        if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
        }
        if (i < s.size() && s[i] == ']' && i + 1 == s.size()) return out;
        return std::nullopt;
    }
    return std::nullopt;
}

/// What the builder's word processing would leave of a source for the
/// purpose of the URL check: quotes and escape characters removed.
inline std::string unquoted(std::string_view word, char escape) {
    std::string out;
    for (const char c : word)
        if (c != '"' && c != '\'' && c != escape) out += c;
    return out;
}

/// Whether `word` refers to a variable ($X, ${X}) the builder would expand.
inline bool expands_variable(std::string_view word, char escape) {
    for (std::size_t i = 0; i < word.size(); ++i) {
        if (word[i] == escape) {
            ++i;  // the next character is literal
            continue;
        }
        if (word[i] == '$') return true;
    }
    return false;
}

}  // namespace detail

inline bool is_remote_source(std::string_view source) {
    // Any "://" (a local path cannot sensibly hold one), whatever precedes it.
    const auto s = detail::lower(detail::trim(source));
    return s.starts_with("git@") || s.find("://") != std::string::npos;
}

inline char dockerfile_escape_char(std::string_view dockerfile) {
    char escape = '\\';
    for (const auto line : detail::physical_lines(dockerfile)) {
        const auto d = detail::directive(line);
        if (!d || (d->first != "escape" && d->first != "syntax" && d->first != "check")) break;
        if (d->first == "escape" && (d->second == "`" || d->second == "\\")) escape = d->second[0];
    }
    return escape;
}

inline std::vector<dockerfile_finding> network_reaching_instructions(std::string_view dockerfile,
                                                                     std::size_t max_findings) {
    const char escape = dockerfile_escape_char(dockerfile);
    std::vector<dockerfile_finding> found;
    auto add = [&](std::size_t line, std::string instruction, std::string_view what, std::string why) {
        if (found.size() < max_findings)
            found.push_back({line, std::move(instruction), log_escape(what, 120), std::move(why)});
    };
    for (const auto& l : detail::logical_lines(dockerfile, escape)) {
        auto w = detail::words(l.text);
        if (w.empty()) continue;
        std::string instruction = detail::lower(w[0]);
        std::string_view rest = detail::trim(std::string_view(l.text).substr(l.text.find(w[0]) + w[0].size()));
        std::string shown = detail::lower(w[0]);
        if (instruction == "onbuild" && w.size() > 1) {
            instruction = detail::lower(w[1]);
            rest = detail::trim(rest.substr(rest.find(w[1]) + w[1].size()));
            shown = "onbuild " + instruction;
        }
        for (auto& c : shown) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (instruction != "add" && instruction != "run") continue;
        // Leading flags: --name or --name=value words.
        std::vector<std::string> flags;
        while (true) {
            const auto r = detail::trim(rest);
            if (!r.starts_with("--")) break;
            const auto end = r.find_first_of(" \t");
            flags.emplace_back(r.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view{} : r.substr(end);
        }
        if (instruction == "run") {
            for (const auto& f : flags) {
                const auto name = detail::lower(f.substr(0, f.find('=')));
                const auto value = f.find('=') == std::string::npos ? std::string() : f.substr(f.find('=') + 1);
                if (name == "--network" && detail::lower(detail::unquoted(value, escape)) != "none")
                    add(l.line, shown, f, "picks a network for the step; builds on this service have none");
                else if (name == "--mount")
                    add(l.line, shown, f, "mounts into the step (host paths, caches, images or secrets); not allowed "
                                          "on this service");
                else if (name == "--security")
                    add(l.line, shown, f, "changes the step's sandbox; not allowed on this service");
            }
            continue;
        }
        // ADD: every argument but the destination is a source. Both readings
        // of the line are judged (the JSON form when it parses, and words),
        // so a difference between this parser and the builder's cannot hide one.
        std::vector<std::string> sources;
        auto take_sources = [&](std::vector<std::string> args) {
            for (std::size_t k = 0; k + 1 < args.size(); ++k)
                if (std::find(sources.begin(), sources.end(), args[k]) == sources.end()) sources.push_back(args[k]);
        };
        if (auto json = detail::json_strings(rest)) take_sources(std::move(*json));
        take_sources(detail::words(rest));
        for (const auto& src : sources) {
            if (detail::expands_variable(src, escape))
                add(l.line, shown, src, "takes its source from a variable, which cannot be checked before the build "
                                        "(remote sources are refused); name the source, or use COPY");
            else if (is_remote_source(detail::unquoted(src, escape)))
                add(l.line, shown, src, "fetches from the network; builds on this service reach no network (send "
                                        "the file in the context and COPY it, or ask the operator for "
                                        "--allow-remote-add)");
        }
    }
    return found;
}

}  // namespace rtb::serve
