// The tree an uploaded context will unpack into, as its entries arrive, so
// that links are judged as they will be followed, not only as written: an
// entry below a symbolic link or a file is refused (unpacking would write
// through the link: `l -> .`, then `l/l/x`), an entry may not replace a
// non-directory or a directory that holds earlier entries, and once every
// entry is in, each symbolic link is followed through the others (`a -> .`,
// then `b -> a/../x` climbs out) with a bounded number of hops and a bounded
// total amount of work. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"

namespace rtb::serve {

class context_tree {
public:
    enum class kind { directory, file, symlink };
    /// Links followed while resolving one link; more is a loop (as ELOOP).
    static constexpr int max_hops = 40;
    /// Path components processed in all resolutions together; more is
    /// refused (a context built to make the check slow).
    static constexpr std::uint64_t max_steps = 4'000'000;

    /// Adds the entry at `path` (clean: relative, no "." or ".." parts, no
    /// empty parts) of `type`; a symlink's `target` as written; `index` (the
    /// entry's number) for later messages. Returns why the entry is refused,
    /// or std::nullopt.
    std::optional<std::string> add(const std::string& path, kind type, std::string_view target = {},
                                   std::uint64_t index = 0) {
        // Every directory above the entry: must not be a file or a link.
        for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
            const auto parent = path.substr(0, slash);
            auto it = nodes_.find(parent);
            if (it == nodes_.end()) {
                nodes_.emplace(parent, node{kind::directory, {}, 0, true});
                continue;
            }
            if (it->second.type == kind::symlink)
                return fmt::format("is below the symbolic link {} (unpacking would write through the link)",
                                   rtb::detail::printable(parent));
            if (it->second.type == kind::file)
                return fmt::format("is below the file {}", rtb::detail::printable(parent));
        }
        auto it = nodes_.find(path);
        if (it != nodes_.end()) {
            if (type == kind::directory && it->second.type == kind::directory) return std::nullopt;
            if (it->second.type == kind::directory)
                return fmt::format("would replace the directory {} that holds earlier entries",
                                   rtb::detail::printable(path));
            return "appears twice in the context (an entry may not replace an earlier one)";
        }
        nodes_.emplace(path, node{type, std::string(target), index, false});
        if (type == kind::symlink) links_.push_back(path);
        return std::nullopt;
    }

    /// A link that leads outside the root when followed: its entry number,
    /// path and why. Called once every entry is in.
    struct escape {
        std::uint64_t index = 0;
        std::string path;
        std::string why;
    };
    std::optional<escape> escaping_link() const {
        std::uint64_t steps = 0;
        for (const auto& path : links_) {
            const auto& n = nodes_.at(path);
            std::vector<std::string> dir;
            for (const auto part : split(path)) dir.emplace_back(part);
            dir.pop_back();  // the link's directory: real (no entry is below a link)
            if (auto why = resolve(std::move(dir), n.target, steps))
                return escape{n.index, path, std::move(*why)};
        }
        return std::nullopt;
    }

    /// How a path is: a known kind, or std::nullopt (never added).
    std::optional<kind> kind_of(const std::string& path) const {
        const auto it = nodes_.find(path);
        if (it == nodes_.end()) return std::nullopt;
        return it->second.type;
    }

private:
    struct node {
        kind type;
        std::string target;
        std::uint64_t index;
        bool implicit;  ///< a directory only named as a parent
    };

    static std::vector<std::string_view> split(std::string_view p) {
        std::vector<std::string_view> parts;
        while (true) {
            const auto slash = p.find('/');
            parts.push_back(p.substr(0, slash));
            if (slash == std::string_view::npos) break;
            p.remove_prefix(slash + 1);
        }
        return parts;
    }

    static std::string join(const std::vector<std::string>& parts) {
        std::string out;
        for (const auto& p : parts) {
            if (!out.empty()) out += '/';
            out += p;
        }
        return out;
    }

    // Follows `target` from directory `dir` through the tree's links; why it
    // escapes, or std::nullopt when it stays inside (or dangles inside).
    std::optional<std::string> resolve(std::vector<std::string> dir, std::string_view target,
                                       std::uint64_t& steps) const {
        if (target.starts_with('/')) return "an absolute target";
        std::deque<std::string> todo;
        for (const auto part : split(target)) todo.emplace_back(part);
        int hops = 0;
        while (!todo.empty()) {
            if (++steps > max_steps) return "links too many or too long to follow (a context built to slow the check?)";
            const auto part = std::move(todo.front());
            todo.pop_front();
            if (part.empty() || part == ".") continue;
            if (part == "..") {
                if (dir.empty()) return "leads above the context root";
                dir.pop_back();
                continue;
            }
            dir.push_back(part);
            const auto it = nodes_.find(join(dir));
            if (it == nodes_.end() || it->second.type != kind::symlink) continue;
            if (++hops > max_hops) return fmt::format("goes through more than {} links (a loop?)", max_hops);
            const auto& next = it->second.target;
            if (next.starts_with('/'))
                return fmt::format("leads through the link {} to an absolute path", rtb::detail::printable(join(dir)));
            dir.pop_back();
            const auto parts = split(next);
            for (auto p = parts.rbegin(); p != parts.rend(); ++p) todo.emplace_front(*p);
        }
        return std::nullopt;
    }

    std::map<std::string, node, std::less<>> nodes_;
    std::vector<std::string> links_;
};

}  // namespace rtb::serve
