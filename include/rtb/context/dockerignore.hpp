// `.dockerignore`, exactly as the docker CLI applies it when it sends a build
// context: moby/patternmatcher's pattern compilation and matching, its
// ignorefile reader, the CLI's rule that the Dockerfile and .dockerignore are
// always sent, and the walk rule for excluded directories. A PathFilter, so
// the context list, the context tar and the fast tree digest share it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/context/detail/go_regexp.hpp"
#include "rtb/context/detail/go_text.hpp"
#include "rtb/context/dockerignore_dialect.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/tree_walk.hpp"

namespace rtb {

/// Parses "moby" or "docker-20.10"; throws invalid_argument naming the value.
inline dockerignore_dialect parse_dockerignore_dialect(std::string_view s) {
    if (s == "moby") return dockerignore_dialect::moby;
    if (s == "docker-20.10" || s == "docker20") return dockerignore_dialect::docker_20_10;
    throw error(errc::invalid_argument,
                fmt::format("unknown .dockerignore dialect {}: use moby or docker-20.10", detail::printable(s)));
}

/// One pattern line as read from a file, with where it came from.
struct dockerignore_line {
    std::string pattern;  ///< after ignorefile.ReadAll's processing ("!" kept)
    std::string source;   ///< file name, or e.g. "--ignore"
    std::size_t line = 0; ///< 1-based line (or argument index)
};

/// Reads .dockerignore text as the docker CLI does (ignorefile.ReadAll): a
/// UTF-8 BOM dropped from the first line, lines split at '\n' with a final
/// '\r' dropped, lines *starting* with '#' skipped, whitespace trimmed,
/// blank lines skipped, each pattern path-cleaned with a leading '/'
/// removed. Lines of 64 KiB or more are an error, as in the CLI (its line
/// scanner's limit). Errors name `source` and the line.
std::vector<dockerignore_line> read_dockerignore(std::string_view text, std::string_view source);

/// One compiled pattern (moby's Pattern).
class dockerignore_pattern {
public:
    /// Compiles one pattern as PatternMatcher's constructor does (trim,
    /// clean, a leading '!' makes an exception, filepath.Match syntax check),
    /// then compiles its regexp. Returns std::nullopt for a pattern the
    /// constructor skips (blank). Throws invalid_argument naming the origin.
    static std::optional<dockerignore_pattern> compile(const dockerignore_line& line, dockerignore_dialect d);

    bool exclusion() const noexcept { return exclusion_; }
    /// The cleaned pattern without its '!' (moby's Pattern.String()).
    const std::string& text() const noexcept { return text_; }
    /// Number of '/'-separated parts of text() (moby's Pattern.dirs).
    std::size_t depth() const noexcept { return depth_; }
    const std::string& source() const noexcept { return source_; }
    std::size_t line() const noexcept { return line_; }

    /// Pattern.match: whether this pattern alone matches `path`
    /// (a cleaned relative path), without looking at parents.
    bool matches(std::string_view path) const;

    /// How the pattern is matched: "exact", "prefix", "suffix" or "regexp".
    std::string_view match_kind() const noexcept {
        switch (kind_) {
            case kind::exact: return "exact";
            case kind::prefix: return "prefix";
            case kind::suffix: return "suffix";
            case kind::regexp: return "regexp";
        }
        return "regexp";
    }

    /// The Go regexp moby compiles the pattern to (empty for the fast paths).
    const std::string& regexp_text() const noexcept { return regexp_text_; }

private:
    enum class kind : std::uint8_t { exact, prefix, suffix, regexp };
    kind kind_ = kind::exact;
    bool exclusion_ = false;
    std::string text_;
    std::size_t depth_ = 1;
    std::string regexp_text_;
    detail::go::regexp re_;
    std::string source_;
    std::size_t line_ = 0;
};

/// What for_context() needs to know.
struct dockerignore_options {
    dockerignore_dialect dialect = dockerignore_dialect::moby;
    /// The Dockerfile's path relative to the context ("" means "Dockerfile",
    /// or "dockerfile" when only that exists, as the docker CLI picks).
    std::string dockerfile;
    /// Patterns appended after the file's, in .dockerignore syntax.
    std::vector<std::string> extra_patterns;
    std::string extra_source = "--ignore";
};

/// A PatternMatcher over a list of patterns; a PathFilter for walk_tree.
/// Thread-safe: a walk calls it from several threads.
class dockerignore {
public:
    /// Matches nothing.
    dockerignore() = default;
    /// Compiles `lines` in order; throws invalid_argument naming the source
    /// and line of the first malformed pattern.
    explicit dockerignore(std::span<const dockerignore_line> lines,
                          dockerignore_dialect d = dockerignore_dialect::moby);

    /// The filter the docker CLI applies to a context directory: DIR/.dockerignore
    /// (absent: nothing excluded) plus `extra_patterns`, then `!.dockerignore`
    /// and `!<Dockerfile>` appended when the patterns would exclude them (the
    /// CLI always sends both; the engine drops them after reading). Throws
    /// io_error when .dockerignore exists but cannot be read.
    static dockerignore for_context(const std::filesystem::path& dir, const dockerignore_options& options = {});

    /// MatchesOrParentMatches (moby) / Matches (20.10): whether `path`, a
    /// cleaned relative path with '/', is excluded. The last matching pattern
    /// decides; a pattern also matches a path when it matches one of its
    /// parent directories.
    bool matches(std::string_view path) const;

    /// The deprecated single-parent rule (patternmatcher.Matches), used by
    /// the CLI to decide whether to re-include the Dockerfile.
    bool matches_single_parent(std::string_view path) const;

    // PathFilter
    bool excluded(std::string_view path, bool /*is_dir*/) const { return matches(path); }
    /// Whether the walk must enter excluded directory `dir`: some exception
    /// pattern's text starts with "dir/" (the CLI's rule; it does not look
    /// for wildcards, so `!**/keep` does not bring back files below an
    /// excluded directory, exactly as in Docker).
    bool may_include_below(std::string_view dir) const;

    bool empty() const noexcept { return patterns_.empty(); }
    bool has_exclusions() const noexcept { return exclusions_; }
    dockerignore_dialect dialect() const noexcept { return dialect_; }
    const std::vector<dockerignore_pattern>& patterns() const noexcept { return patterns_; }
    /// The pattern lines as given (before compilation), for diagnostics.
    const std::vector<dockerignore_line>& lines() const noexcept { return lines_; }

private:
    using bits = std::vector<std::uint64_t>;
    // For a parent path: bit i set when pattern i matches one of its leading
    // runs of parts ("a", "a/b", "a/b/c" for "a/b/c").
    const bits& ancestor_bits(std::string_view parent) const;

    struct memo {
        std::shared_mutex mutex;
        std::unordered_map<std::string, bits> dirs;
        // never reused, unlike an address: tells a thread's cached entry apart
        const std::uint64_t id = next_id();
        static std::uint64_t next_id() {
            static std::atomic<std::uint64_t> n{0};
            return ++n;
        }
    };

    std::vector<dockerignore_pattern> patterns_;
    std::vector<dockerignore_line> lines_;
    dockerignore_dialect dialect_ = dockerignore_dialect::moby;
    bool exclusions_ = false;
    std::shared_ptr<memo> memo_ = std::make_shared<memo>();
};

static_assert(PathFilter<dockerignore>);

// ---------------------------------------------------------------------------

namespace detail {

inline constexpr std::size_t dockerignore_max_line = 64 * 1024;  // bufio.MaxScanTokenSize

// Go's text/scanner as moby uses it: runes, invalid bytes as U+FFFD, a BOM
// at the very start skipped.
class rune_scanner {
public:
    explicit rune_scanner(std::string_view s) : s_(s) {
        const auto d = go::decode_rune(s_);
        if (d.width && d.rune == 0xFEFF) s_.remove_prefix(d.width);
    }
    static constexpr char32_t eof = 0xFFFFFFFF;
    char32_t peek() const { return s_.empty() ? eof : go::decode_rune(s_).rune; }
    char32_t next() {
        if (s_.empty()) return eof;
        const auto d = go::decode_rune(s_);
        s_.remove_prefix(d.width);
        return d.rune;
    }

private:
    std::string_view s_;
};

inline std::string dockerignore_where(const dockerignore_line& l) {
    return fmt::format("{}:{}", l.source, l.line);
}

}  // namespace detail

inline std::vector<dockerignore_line> read_dockerignore(std::string_view text, std::string_view source) {
    std::vector<dockerignore_line> out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.size() >= detail::dockerignore_max_line)
            throw error(errc::invalid_argument,
                        fmt::format("{}:{}: line is {} bytes long; the docker CLI rejects lines of {} bytes or more",
                                    source, line_no, line.size(), detail::dockerignore_max_line));
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
        if (!line.empty() && line[0] == '#') continue;
        std::string_view p = detail::go::trim_space(line);
        if (p.empty()) continue;
        const bool invert = p[0] == '!';
        if (invert) p = detail::go::trim_space(p.substr(1));
        std::string pattern(p);
        if (!pattern.empty()) {
            pattern = detail::go::clean(pattern);
            if (pattern.size() > 1 && pattern[0] == '/') pattern.erase(0, 1);
        }
        if (invert) pattern.insert(0, 1, '!');
        out.push_back({std::move(pattern), std::string(source), line_no});
    }
    return out;
}

inline std::optional<dockerignore_pattern> dockerignore_pattern::compile(const dockerignore_line& line,
                                                                         dockerignore_dialect dialect) {
    namespace go = detail::go;
    const std::string where = detail::dockerignore_where(line);
    std::string p(go::trim_space(line.pattern));
    if (p.empty()) return std::nullopt;
    p = go::clean(p);
    dockerignore_pattern out;
    out.source_ = line.source;
    out.line_ = line.line;
    if (p[0] == '!') {
        if (p.size() == 1)
            throw error(errc::invalid_argument,
                        fmt::format("{}: illegal exclusion pattern {}: a '!' needs a pattern after it", where,
                                    detail::printable(line.pattern)));
        out.exclusion_ = true;
        p.erase(0, 1);
    }
    if (!go::filepath_match(p, "."))
        throw error(errc::invalid_argument,
                    fmt::format("{}: malformed pattern {}: syntax error in pattern (an unclosed '[', a bad "
                                "range or a trailing '\\')",
                                where, detail::printable(line.pattern)));
    out.text_ = p;
    out.depth_ = 1 + static_cast<std::size_t>(std::count(p.begin(), p.end(), '/'));

    // Pattern.compile: translate to a Go regexp, noting whether a fast path fits.
    std::string reg = "^";
    kind detected = dialect == dockerignore_dialect::moby ? kind::exact : kind::regexp;
    detail::rune_scanner scan(p);
    auto should_escape = [&](char32_t c) {
        if (dialect == dockerignore_dialect::docker_20_10) return c == '.' || c == '$';
        switch (c) {
            case '.': case '+': case '(': case ')': case '|': case '{': case '}': case '$': return true;
            default: return false;
        }
    };
    for (int i = 0; scan.peek() != detail::rune_scanner::eof; ++i) {
        const char32_t ch = scan.next();
        if (ch == '*') {
            if (scan.peek() == '*') {
                scan.next();
                if (scan.peek() == '/') scan.next();
                if (scan.peek() == detail::rune_scanner::eof) {
                    if (detected == kind::exact) {
                        detected = kind::prefix;
                    } else {
                        reg += ".*";
                        if (dialect == dockerignore_dialect::moby) detected = kind::regexp;
                    }
                } else {
                    reg += "(.*/)?";
                    detected = kind::regexp;
                }
                if (i == 0 && dialect == dockerignore_dialect::moby) detected = kind::suffix;
            } else {
                reg += "[^/]*";
                detected = kind::regexp;
            }
        } else if (ch == '?') {
            reg += "[^/]";
            detected = kind::regexp;
        } else if (should_escape(ch)) {
            reg += '\\';
            go::append_rune(reg, ch);
        } else if (ch == '\\') {
            if (scan.peek() != detail::rune_scanner::eof) {
                reg += '\\';
                go::append_rune(reg, scan.next());
                detected = kind::regexp;
            } else {
                reg += '\\';
            }
        } else if (ch == '[' || ch == ']') {
            go::append_rune(reg, ch);
            detected = kind::regexp;
        } else {
            go::append_rune(reg, ch);
        }
    }
    if (dialect == dockerignore_dialect::docker_20_10) {
        // 20.10 turned "**" at the end into ".*" even as the first token
        // and had no fast paths: everything is a regexp.
        detected = kind::regexp;
    }
    out.kind_ = detected;
    if (detected == kind::regexp) {
        reg += '$';
        go::regexp_error err;
        if (!go::regexp::compile(reg, out.re_, err)) {
            if (err.unsupported)
                throw error(errc::invalid_argument,
                            fmt::format("{}: pattern {} is not supported by rtb: {}", where,
                                        detail::printable(line.pattern), err.message));
            throw error(errc::invalid_argument,
                        fmt::format("{}: malformed pattern {}: Docker turns it into the regexp {} which Go "
                                    "rejects: {}",
                                    where, detail::printable(line.pattern), detail::printable(reg), err.message));
        }
        out.regexp_text_ = std::move(reg);
    }
    return out;
}

inline bool dockerignore_pattern::matches(std::string_view path) const {
    switch (kind_) {
        case kind::exact: return path == text_;
        case kind::prefix: return path.starts_with(std::string_view(text_).substr(0, text_.size() - 2));
        case kind::suffix: {
            const std::string_view suffix = std::string_view(text_).substr(2);
            if (path.ends_with(suffix)) return true;
            return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
        }
        case kind::regexp: return re_.match(path);
    }
    return false;
}

inline dockerignore::dockerignore(std::span<const dockerignore_line> lines, dockerignore_dialect d)
    : lines_(lines.begin(), lines.end()), dialect_(d) {
    for (const auto& l : lines_) {
        if (auto p = dockerignore_pattern::compile(l, d)) {
            exclusions_ = exclusions_ || p->exclusion();
            patterns_.push_back(std::move(*p));
        }
    }
}

inline dockerignore dockerignore::for_context(const std::filesystem::path& dir, const dockerignore_options& options) {
    std::vector<dockerignore_line> lines;
    const auto file = dir / ".dockerignore";
    detail::unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd) {
        std::string text;
        char buf[65536];
        while (true) {
            const auto n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                detail::throw_io("read", file.string());
            }
            if (n == 0) break;
            text.append(buf, static_cast<std::size_t>(n));
            if (text.size() > (std::size_t{64} << 20))
                throw error(errc::invalid_argument,
                            fmt::format("{}: larger than 64 MiB; that is not a .dockerignore",
                                        detail::printable(file.string())));
        }
        lines = read_dockerignore(text, file.string());
    } else if (errno != ENOENT && errno != ENOTDIR) {  // no file, or no directory: the walk says which
        detail::throw_io("open", file.string());
    }
    std::size_t index = 0;
    for (const auto& p : options.extra_patterns) {
        ++index;
        if (p.find('\n') != std::string::npos)
            throw error(errc::invalid_argument, fmt::format("{} #{}: a pattern cannot contain a newline: {}",
                                                            options.extra_source, index, detail::printable(p)));
        for (auto& l : read_dockerignore(p, options.extra_source)) {
            l.line = index;
            lines.push_back(std::move(l));
        }
    }

    // TrimBuildFilesFromExcludes, with the single-parent Matches the CLI uses there.
    std::string dockerfile = options.dockerfile;
    if (dockerfile.empty()) {
        dockerfile = "Dockerfile";
        struct stat st {};
        if (::lstat((dir / "Dockerfile").c_str(), &st) != 0 && ::lstat((dir / "dockerfile").c_str(), &st) == 0)
            dockerfile = "dockerfile";
    }
    dockerignore probe(lines, options.dialect);
    if (probe.matches_single_parent(".dockerignore")) lines.push_back({"!.dockerignore", "(always sent)", 0});
    const std::string df = detail::go::clean(dockerfile);
    if (df != "." && dockerignore(lines, options.dialect).matches_single_parent(df))
        lines.push_back({"!" + dockerfile, "(always sent)", 0});
    return dockerignore(lines, options.dialect);
}

inline bool dockerignore::matches_single_parent(std::string_view file) const {
    const std::string cleaned = detail::go::clean(file);
    if (cleaned == ".") return false;
    const std::string parent_owned = detail::go::dir(cleaned);
    const std::string_view parent = parent_owned;
    std::vector<std::string_view> parent_dirs;
    for (std::string_view rest = parent;;) {
        const auto slash = rest.find('/');
        parent_dirs.push_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    bool matched = false;
    for (const auto& p : patterns_) {
        if (p.exclusion() != matched) continue;
        bool m = p.matches(cleaned);
        if (!m && parent != "." && p.depth() <= parent_dirs.size()) {
            // the first depth() parts of the parent, joined
            std::size_t len = 0;
            for (std::size_t i = 0; i < p.depth(); ++i) len += parent_dirs[i].size() + (i ? 1 : 0);
            m = p.matches(parent.substr(0, len));
        }
        if (m) matched = !p.exclusion();
    }
    return matched;
}

inline const dockerignore::bits& dockerignore::ancestor_bits(std::string_view parent) const {
    {
        std::shared_lock lock(memo_->mutex);
        if (auto it = memo_->dirs.find(std::string(parent)); it != memo_->dirs.end()) return it->second;
    }
    // Go splits the parent at '/' and tries each leading run of parts joined
    // back ("a", "a/b", ...); a prefix's bits extend the shorter prefix's.
    bits b((patterns_.size() + 63) / 64, 0);
    const auto slash = parent.rfind('/');
    if (slash != std::string_view::npos) b = ancestor_bits(parent.substr(0, slash));
    for (std::size_t i = 0; i < patterns_.size(); ++i)
        if (!(b[i / 64] >> (i % 64) & 1) && patterns_[i].matches(parent)) b[i / 64] |= std::uint64_t{1} << (i % 64);
    std::unique_lock lock(memo_->mutex);
    // unordered_map never moves its elements: the reference stays valid
    return memo_->dirs.try_emplace(std::string(parent), std::move(b)).first->second;
}

inline bool dockerignore::matches(std::string_view path) const {
    if (patterns_.empty()) return false;
    if (dialect_ == dockerignore_dialect::docker_20_10) {
        // 20.10's PatternMatcher.Matches is the single-parent rule.
        return matches_single_parent(path);
    }
    // Files come directory by directory: remember the last parent per thread.
    struct last_parent {
        std::uint64_t memo_id = 0;
        std::string path;
        const bits* up = nullptr;
    };
    thread_local last_parent last;
    const bits* up = nullptr;
    const auto slash = path.rfind('/');
    if (last.memo_id == memo_->id && slash != std::string_view::npos && path.substr(0, slash) == last.path) {
        up = last.up;
    } else {
        const std::string parent = detail::go::dir(path);
        up = parent == "." ? nullptr : &ancestor_bits(parent);
        last = {memo_->id, parent, up};
    }
    bool matched = false;
    for (std::size_t i = 0; i < patterns_.size(); ++i) {
        const auto& p = patterns_[i];
        if (p.exclusion() != matched) continue;
        const bool m = p.matches(path) || (up && ((*up)[i / 64] >> (i % 64) & 1));
        if (m) matched = !p.exclusion();
    }
    return matched;
}

inline bool dockerignore::may_include_below(std::string_view dir) const {
    if (!exclusions_) return false;
    const std::string dir_slash = std::string(dir) + "/";
    for (const auto& p : patterns_) {
        if (!p.exclusion()) continue;
        if ((p.text() + "/").starts_with(dir_slash)) return true;
    }
    return false;
}

}  // namespace rtb
