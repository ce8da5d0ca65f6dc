// build_context's member functions (rtb/context/build_context.hpp): included by
// that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), with the tree walk, the path cleaning and the
// sent-files check they use.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/context/build_context.hpp"
#include "rtb/context/detail/go_text.hpp"
#include "rtb/context/detail/sent_files_check.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/tree_walk.hpp"

namespace rtb {

RTB_DECL build_context build_context::from_directory(const std::filesystem::path& dir, const any_path_filter& filter,
                                                     const walk_options& walk) {
    build_context c;
    c.complete_parents_ = false;
    c.add_tree(dir, "", filter, walk);
    return c;
}

RTB_DECL void build_context::add_tree(const std::filesystem::path& root, std::string_view prefix,
                                      const any_path_filter& filter, const walk_options& walk) {
    const std::string pre = prefix.empty() ? std::string() : checked_path(prefix);
    auto fd = std::make_shared<detail::unique_fd>(detail::open_root_dir(root));
    const std::size_t index = roots_.size();
    roots_.push_back({root, std::move(fd)});
    if (!pre.empty()) add_parents(pre + "/x");
    if (!pre.empty()) add_dir(pre);
    for (auto& e : walk_tree(root, filter, walk)) {
        context_entry c;
        c.path = pre.empty() ? e.path : pre + "/" + e.path;
        c.kind = e.kind;
        add_parents(c.path);
        if (e.kind == entry_kind::directory) {
            add_dir(c.path);
            continue;
        }
        c.executable = e.kind == entry_kind::file && e.executable();
        if (e.kind == entry_kind::file) {
            c.from = content_from::tree;
            c.root = index;
            c.source = std::move(e.path);
        } else if (e.kind == entry_kind::symlink) {
            c.link_target = std::move(e.link_target);
            c.from = content_from::tree;  // so a check can find it in the record of its tree
            c.root = index;
            c.source = std::move(e.path);
        }
        push(std::move(c));
    }
    snapshot_.reset();
}

RTB_DECL void build_context::add_file(std::string_view path, const std::filesystem::path& source) {
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) detail::throw_io("stat", source.string());
    if (!S_ISREG(st.st_mode))
        throw error(errc::invalid_argument,
                    fmt::format("{} is not a regular file", detail::printable(source.string())));
    context_entry c;
    c.path = checked_path(path);
    c.kind = entry_kind::file;
    c.executable = (st.st_mode & 0111) != 0;
    c.from = content_from::file;
    c.source = source.string();
    add_parents(c.path);
    push(std::move(c));
    snapshot_.reset();
}

RTB_DECL void build_context::add_bytes(std::string_view path, std::string content, bool executable) {
    context_entry c;
    c.path = checked_path(path);
    c.kind = entry_kind::file;
    c.executable = executable;
    c.from = content_from::memory;
    c.bytes = std::make_shared<const std::string>(std::move(content));
    add_parents(c.path);
    push(std::move(c));
    snapshot_.reset();
}

RTB_DECL void build_context::add_symlink(std::string_view path, std::string target) {
    context_entry c;
    c.path = checked_path(path);
    c.kind = entry_kind::symlink;
    c.link_target = std::move(target);
    add_parents(c.path);
    push(std::move(c));
    snapshot_.reset();
}

RTB_DECL void build_context::send_as_hashed(std::shared_ptr<const hashed_files> record) {
    hashed_ = std::move(record);
    snapshot_.reset();
}

RTB_DECL std::shared_ptr<const context_snapshot> build_context::snapshot() const {
    if (snapshot_) return snapshot_;
    auto s = std::make_shared<context_snapshot>();
    s->entries = entries_;
    s->roots = roots_;
    std::sort(s->entries.begin(), s->entries.end(),
              [](const context_entry& a, const context_entry& b) { return a.path < b.path; });
    // duplicates (a directory added twice is fine) and entries below non-directories
    std::vector<context_entry> out;
    out.reserve(s->entries.size());
    for (auto& e : s->entries) {
        if (!out.empty() && out.back().path == e.path) {
            if (out.back().kind == entry_kind::directory && e.kind == entry_kind::directory) continue;
            throw error(errc::invalid_argument,
                        fmt::format("the build context has two entries named {}", detail::printable(e.path)));
        }
        out.push_back(std::move(e));
    }
    s->entries = std::move(out);
    check_no_entry_below_leaf(s->entries);
    s->hashed = hashed_;
    snapshot_ = std::move(s);
    return snapshot_;
}

RTB_DECL std::string build_context::checked_path(std::string_view p) {
    const std::string cleaned = detail::go::clean(p);
    if (p.empty() || cleaned == "." || cleaned.starts_with("/") || cleaned == ".." || cleaned.starts_with("../") ||
        cleaned != p || p.find('\0') != std::string_view::npos)
        throw error(errc::invalid_argument,
                    fmt::format("{} is not a clean relative path inside a build context", detail::printable(p)));
    return cleaned;
}

RTB_DECL void build_context::add_dir(const std::string& p) {
    if (!dirs_added_.insert(p).second) return;
    context_entry d;
    d.path = p;
    d.kind = entry_kind::directory;
    push(std::move(d));
}

RTB_DECL void build_context::add_parents(std::string_view path) {
    if (!complete_parents_) return;
    for (auto slash = path.rfind('/'); slash != std::string_view::npos && slash > 0;
         slash = path.rfind('/', slash - 1)) {
        const std::string_view parent = path.substr(0, slash);
        if (dirs_added_.count(parent)) break;
        add_dir(std::string(parent));
    }
}

RTB_DECL void build_context::check_no_entry_below_leaf(const std::vector<context_entry>& entries) {
    // In bytewise order, "a/..." sorts after "a" but possibly after
    // siblings such as "a-b": look up each entry's parent directly.
    std::set<std::string_view> leaves;
    for (const auto& e : entries)
        if (e.kind != entry_kind::directory) leaves.insert(e.path);
    for (const auto& e : entries) {
        std::string_view p = e.path;
        for (auto slash = p.rfind('/'); slash != std::string_view::npos; slash = p.rfind('/', slash - 1)) {
            if (leaves.count(p.substr(0, slash)))
                throw error(errc::invalid_argument,
                            fmt::format("the build context has {} below {}, which is not a directory",
                                        detail::printable(e.path), detail::printable(p.substr(0, slash))));
            if (slash == 0) break;
        }
    }
}

RTB_DECL void build_context::write_to(const std::filesystem::path& dir) const {
    const auto snap = snapshot();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw error(errc::io_error, fmt::format("cannot create {}: {}", detail::printable(dir.string()), ec.message()));
    if (!std::filesystem::is_empty(dir, ec) || ec)
        throw error(errc::invalid_argument,
                    fmt::format("{} is not an empty directory", detail::printable(dir.string())));
    const detail::unique_fd out = detail::open_root_dir(dir);
    auto buf = std::make_unique_for_overwrite<char[]>(1 << 20);
    detail::sent_files_check check(*snap);
    for (const auto& e : snap->entries) {
        const std::string display = dir.string() + "/" + e.path;
        // parents first (a tree's excluded-but-entered directories are not listed)
        for (auto slash = e.path.find('/'); slash != std::string::npos; slash = e.path.find('/', slash + 1)) {
            const std::string parent = e.path.substr(0, slash);
            if (::mkdirat(out.get(), parent.c_str(), 0755) != 0 && errno != EEXIST)
                detail::throw_io("create directory", dir.string() + "/" + parent);
        }
        switch (e.kind) {
            case entry_kind::directory:
                if (::mkdirat(out.get(), e.path.c_str(), 0755) != 0 && errno != EEXIST)
                    detail::throw_io("create directory", display);
                if (::fchmodat(out.get(), e.path.c_str(), 0755, 0) != 0) detail::throw_io("chmod", display);
                break;
            case entry_kind::symlink:
                check.link(e);
                if (::symlinkat(e.link_target.c_str(), out.get(), e.path.c_str()) != 0)
                    detail::throw_io("create symbolic link", display);
                break;
            case entry_kind::file: {
                const mode_t mode = e.executable ? 0755 : 0644;
                detail::unique_fd dst(
                    ::openat(out.get(), e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
                if (!dst) detail::throw_io("create", display);
                if (::fchmod(dst.get(), mode) != 0) detail::throw_io("chmod", display);  // whatever the umask
                auto write_or_throw = [&](const char* p, std::size_t n) {
                    if (const int err = detail::write_all(dst.get(), p, n); err != 0)
                        detail::throw_io("write", display, err);
                };
                if (e.from == content_from::memory) {
                    write_or_throw(e.bytes->data(), e.bytes->size());
                } else {
                    struct stat st {};
                    check.before_open(e);
                    detail::unique_fd src;
                    try {
                        src = detail::open_context_file(*snap, e, st);
                    } catch (const error&) {
                        check.open_failed(e);
                        throw;
                    }
                    check.start(e, static_cast<std::uint64_t>(st.st_size));
                    while (true) {
                        const auto n = ::read(src.get(), buf.get(), std::size_t{1} << 20);
                        if (n < 0) {
                            if (errno == EINTR) continue;
                            detail::throw_io("read", detail::context_file_display(*snap, e));
                        }
                        if (n == 0) break;
                        check.update(std::as_bytes(std::span(buf.get(), static_cast<std::size_t>(n))));
                        write_or_throw(buf.get(), static_cast<std::size_t>(n));
                    }
                    check.finish_file();
                }
                break;
            }
        }
    }
    check.finish_all();
}

}  // namespace rtb
