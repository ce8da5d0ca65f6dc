// rtb::image_ref: OCI / Docker image references, parsed, validated and
// normalized the way the docker CLI does (docker.io, library/).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "rtb/detail/quote.hpp"
#include "rtb/error.hpp"

namespace rtb {

/// A parsed image reference: `[registry/]repository[:tag][@digest]`.
///
/// `parse` follows distribution/reference's ParseNormalizedNamed: a first
/// component with a `.` or `:`, or equal to `localhost`, or with an upper-case
/// letter is a registry; otherwise the registry is `docker.io`, and a
/// one-component repository there gets `library/`. `index.docker.io` is
/// `docker.io`. Repository names must be lowercase; tags may not be.
class image_ref {
public:
    static constexpr std::string_view default_registry = "docker.io";
    static constexpr std::size_t max_name_length = 255;  // registry/repository
    static constexpr std::size_t max_tag_length = 128;
    /// The longest reference: a full name, a tag and a sha512 digest.
    static constexpr std::size_t max_reference_length = max_name_length + 1 + max_tag_length + 1 + 7 + 128;

    /// Parses and normalizes `text`; throws rtb::error(invalid_argument) that
    /// quotes the reference and names the offending part.
    static image_ref parse(std::string_view text);

    const std::string& registry() const noexcept { return registry_; }
    const std::string& repository() const noexcept { return repository_; }
    const std::optional<std::string>& tag() const noexcept { return tag_; }
    const std::optional<std::string>& digest() const noexcept { return digest_; }

    /// The tag, or "latest" when neither a tag nor a digest was given.
    std::string_view tag_or_latest() const noexcept {
        if (tag_) return *tag_;
        return digest_ ? std::string_view{} : std::string_view{"latest"};
    }

    /// `registry/repository`, fully qualified.
    std::string name() const { return registry_ + '/' + repository_; }

    /// The canonical form: `registry/repository[:tag][@digest]`.
    std::string str() const {
        std::string s = name();
        if (tag_) s += ':' + *tag_;
        if (digest_) s += '@' + *digest_;
        return s;
    }

    /// The short form the docker CLI prints: no `docker.io/`, no `library/`.
    /// Unlike the CLI, `docker.io/` stays when dropping it would make the
    /// repository's first component read as a registry (`docker.io/a.b/c`):
    /// this form is what rtb sends to engines, so it must name the same image.
    std::string familiar() const {
        std::string s;
        const auto first = std::string_view(repository_).substr(0, repository_.find('/'));
        const bool first_reads_as_registry = repository_.find('/') != std::string::npos &&
                                             (first.find_first_of(".:") != std::string_view::npos || first == "localhost");
        if (registry_ != default_registry || first_reads_as_registry) s = registry_ + '/';
        std::string_view repo = repository_;
        if (registry_ == default_registry && repo.starts_with("library/") &&
            repo.find('/', 8) == std::string_view::npos)
            repo.remove_prefix(8);
        s += repo;
        if (tag_) s += ':' + *tag_;
        if (digest_) s += '@' + *digest_;
        return s;
    }

    /// The same repository with another tag (and no digest).
    image_ref with_tag(std::string_view tag) const;

    friend bool operator==(const image_ref&, const image_ref&) = default;

private:
    std::string registry_, repository_;
    std::optional<std::string> tag_, digest_;
};

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
constexpr bool is_valid_tag(std::string_view tag) noexcept {
    if (tag.empty() || tag.size() > image_ref::max_tag_length) return false;
    auto word = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    if (!word(tag[0])) return false;
    for (char c : tag.substr(1))
        if (!word(c) && c != '.' && c != '-') return false;
    return true;
}

namespace detail::ref {

constexpr bool lower_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
constexpr bool alnum(char c) noexcept { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
constexpr bool hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

[[noreturn]] inline void fail(std::string_view ref, std::string_view why) {
    throw error(errc::invalid_argument, fmt::format("invalid image reference {}: {}", quote(ref), why));
}

/// A repository path component: [a-z0-9]+ joined by `.`, `_`, `__` or runs of `-`.
/// Returns an explanation when invalid.
inline std::optional<std::string> check_path_component(std::string_view c) {
    if (c.empty()) return "empty path component (a doubled or trailing '/')";
    for (char ch : c)
        if (ch >= 'A' && ch <= 'Z') return fmt::format("repository name must be lowercase (component {})", quote(c));
    if (!lower_alnum(c.front()) || !lower_alnum(c.back()))
        return fmt::format("path component {} must start and end with a lowercase letter or digit", quote(c));
    for (std::size_t i = 0; i < c.size();) {
        if (lower_alnum(c[i])) {
            ++i;
            continue;
        }
        // a separator run: '.', '_', '__' or '-'+
        std::size_t j = i;
        if (c[i] == '-') {
            while (j < c.size() && c[j] == '-') ++j;
        } else if (c[i] == '_') {
            j = (i + 1 < c.size() && c[i + 1] == '_') ? i + 2 : i + 1;
        } else if (c[i] == '.') {
            j = i + 1;
        } else {
            return fmt::format("invalid character {} in path component {}", quote(c.substr(i, 1)), quote(c));
        }
        if (j >= c.size() || !lower_alnum(c[j]))
            return fmt::format("invalid separator {} in path component {}", quote(c.substr(i, j - i + 1)), quote(c));
        i = j;
    }
    return std::nullopt;
}

/// A registry: hostname components ([A-Za-z0-9] with inner '-') joined by '.',
/// or a bracketed IPv6 address, then an optional ':port'.
inline std::optional<std::string> check_registry(std::string_view r) {
    std::string_view host = r, port;
    if (r.starts_with('[')) {
        const auto close = r.find(']');
        if (close == std::string_view::npos) return "unterminated '[' in registry address";
        const auto inner = r.substr(1, close - 1);
        if (inner.empty()) return "empty IPv6 address in registry";
        for (char c : inner)
            if (!hex(c) && c != ':') return fmt::format("invalid IPv6 address {}", quote(inner));
        host = r.substr(0, close + 1);
        const auto rest = r.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return fmt::format("unexpected {} after IPv6 address", quote(rest));
            port = rest.substr(1);
            if (port.empty()) return "empty port in registry";
        }
    } else {
        const auto colon = r.find(':');
        if (colon != std::string_view::npos) {
            host = r.substr(0, colon);
            port = r.substr(colon + 1);
            if (port.empty()) return "empty port in registry";
        }
        if (host.empty()) return "empty registry host";
        std::size_t start = 0;
        while (true) {
            const auto dot = host.find('.', start);
            const auto comp = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
            if (comp.empty()) return fmt::format("empty label in registry host {}", quote(host));
            if (!alnum(comp.front()) || !alnum(comp.back()))
                return fmt::format("registry host label {} must start and end with a letter or digit", quote(comp));
            for (char c : comp)
                if (!alnum(c) && c != '-')
                    return fmt::format("invalid character {} in registry host {}", quote(std::string_view(&c, 1)),
                                       quote(host));
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
    }
    if (!port.empty()) {
        if (port.size() > 5) return fmt::format("port {} is out of range", quote(port));
        unsigned value = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return fmt::format("port {} is not a number", quote(port));
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value > 65535) return fmt::format("port {} is out of range", quote(port));
    }
    return std::nullopt;
}

/// `algorithm:hex`: algorithm components [A-Za-z][A-Za-z0-9]* joined by [+._-];
/// hex at least 32 digits; sha256 exactly 64 lowercase, sha512 exactly 128.
inline std::optional<std::string> check_digest(std::string_view d) {
    const auto colon = d.find(':');
    if (colon == std::string_view::npos) return fmt::format("digest {} has no 'algorithm:' prefix", quote(d));
    const auto algo = d.substr(0, colon), hexpart = d.substr(colon + 1);
    if (algo.empty()) return "digest algorithm is empty";
    bool expect_letter = true;
    for (char c : algo) {
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (expect_letter) {
            if (!letter) return fmt::format("invalid digest algorithm {}", quote(algo));
            expect_letter = false;
        } else if (c == '+' || c == '.' || c == '_' || c == '-') {
            expect_letter = true;
        } else if (!letter && !(c >= '0' && c <= '9')) {
            return fmt::format("invalid digest algorithm {}", quote(algo));
        }
    }
    if (expect_letter) return fmt::format("invalid digest algorithm {}", quote(algo));
    for (char c : hexpart)
        if (!hex(c)) return fmt::format("digest {} is not hexadecimal", quote(hexpart));
    if (hexpart.size() < 32) return fmt::format("digest {} is shorter than 32 hex digits", quote(hexpart));
    auto lower_hex_of = [&](std::size_t n) -> std::optional<std::string> {
        if (hexpart.size() != n) return fmt::format("{} digest must have {} hex digits, not {}", algo, n, hexpart.size());
        for (char c : hexpart)
            if (c >= 'A' && c <= 'F') return fmt::format("{} digest must be lowercase hex", algo);
        return std::nullopt;
    };
    if (algo == "sha256") return lower_hex_of(64);
    if (algo == "sha512") return lower_hex_of(128);
    return std::nullopt;
}

}  // namespace detail::ref

inline image_ref image_ref::parse(std::string_view text) {
    using namespace detail::ref;
    if (text.empty()) fail(text, "the reference is empty");
    if (text.size() > max_reference_length)
        fail(text.substr(0, 64), fmt::format("the reference is {} bytes long; at most {} are allowed", text.size(),
                                             max_reference_length));
    for (unsigned char c : text)
        if (c <= 0x20 || c >= 0x7f) fail(text, "contains whitespace, a control character or a non-ASCII byte");

    image_ref r;
    std::string_view rest = text;
    if (const auto at = rest.find('@'); at != std::string_view::npos) {
        const auto digest = rest.substr(at + 1);
        if (auto why = check_digest(digest)) fail(text, *why);
        r.digest_ = std::string(digest);
        rest = rest.substr(0, at);
    }
    // A ':' after the last '/' separates the tag (a ':' before it is a registry port).
    const auto last_slash = rest.rfind('/');
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
        const auto tag = rest.substr(colon + 1);
        if (tag.empty()) fail(text, "the tag after ':' is empty");
        if (!is_valid_tag(tag))
            fail(text, fmt::format("invalid tag {}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                                   quote(tag)));
        r.tag_ = std::string(tag);
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) fail(text, "the repository name is empty");

    // Is the first component a registry? (distribution/reference splitDockerDomain)
    std::string_view registry = default_registry, repo = rest;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        const auto first = rest.substr(0, slash);
        const bool has_upper = first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos;
        if (first.find_first_of(".:[") != std::string_view::npos || first == "localhost" || has_upper) {
            registry = first;
            repo = rest.substr(slash + 1);
        }
    }
    if (registry != default_registry) {
        if (auto why = check_registry(registry)) fail(text, *why);
    }
    if (registry == "index.docker.io") registry = default_registry;
    if (repo.empty()) fail(text, "the repository name is empty");
    if (repo.size() == 64 && registry == default_registry &&
        repo.find_first_not_of("0123456789abcdef") == std::string_view::npos)
        fail(text, "a 64-digit hexadecimal string is an image id, not a repository name");

    std::size_t start = 0;
    while (true) {
        const auto slash = repo.find('/', start);
        const auto comp = repo.substr(start, slash == std::string_view::npos ? repo.npos : slash - start);
        if (auto why = check_path_component(comp)) fail(text, *why);
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    r.registry_ = std::string(registry);
    r.repository_ = std::string(repo);
    if (r.registry_ == default_registry && repo.find('/') == std::string_view::npos)
        r.repository_ = "library/" + r.repository_;
    if (r.name().size() > max_name_length)
        fail(text, fmt::format("the name is {} characters long; at most {} are allowed", r.name().size(),
                               max_name_length));
    // Normalizing adds up to 18 bytes (docker.io/library/): the canonical form
    // must still parse (found by fuzzing).
    if (const auto canonical = r.str().size(); canonical > max_reference_length)
        fail(text.substr(0, 64), fmt::format("the reference is {} bytes long in full; at most {} are allowed",
                                             canonical, max_reference_length));
    return r;
}

inline image_ref image_ref::with_tag(std::string_view tag) const {
    if (!is_valid_tag(tag))
        throw error(errc::invalid_argument,
                    fmt::format("invalid tag {}: a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
                                detail::ref::quote(tag)));
    image_ref r = *this;
    r.tag_ = std::string(tag);
    r.digest_.reset();
    return r;
}

}  // namespace rtb
