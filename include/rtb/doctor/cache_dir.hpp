// Doctor check of rtb's cache directory (build locks, stat caches): it
// exists or can be made, is a directory, can be written (a file made and
// removed), and so can its `locks` subfolder. What the check makes, it removes.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/doctor/check.hpp"

namespace rtb::doctor {

namespace detail_doctor {

/// Makes and removes a file in `dir`; the error text when it cannot.
inline std::optional<std::string> try_write_in(const std::filesystem::path& dir) {
    std::string tmpl = (dir / ".rtb-doctor-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return std::string(std::strerror(errno));
    std::optional<std::string> failed;
    if (::write(fd, "x", 1) != 1) failed = std::string(std::strerror(errno));
    ::close(fd);
    if (::unlink(tmpl.c_str()) != 0 && !failed) failed = fmt::format("cannot remove a file: {}", std::strerror(errno));
    return failed;
}

/// Removes what the check made (from `top` down), on every path.
struct made_folder {
    std::optional<std::filesystem::path> top;
    ~made_folder() {
        if (!top) return;
        std::error_code ec;
        std::filesystem::remove_all(*top, ec);
    }
};

}  // namespace detail_doctor

/// "cache directory": `dir` usable by rtb. Failed, with what to do, when a
/// file is in its place (or in its path), it cannot be made, or it (or
/// `locks` in it) cannot be written.
inline check_result check_cache_directory(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    const std::string name = "cache directory";
    const auto shown = detail::printable(dir.string());
    const std::string elsewhere = "or choose another folder (--cache-dir, RTB_CACHE_DIR, cache_dir in the configuration)";
    if (dir.empty()) return check_result::failed(name, "no cache directory given", "set --cache-dir or RTB_CACHE_DIR");
    std::error_code ec;
    detail_doctor::made_folder made;
    const auto st = fs::status(dir, ec);
    bool existed = true;
    if (fs::exists(st)) {
        if (!fs::is_directory(st))
            return check_result::failed(name, fmt::format("{} is not a directory (a file is in its place)", shown),
                                        fmt::format("remove or rename that file, {}", elsewhere));
    } else {
        existed = false;
        // The first folder that does not exist yet is what the check makes (and removes).
        fs::path first = dir.lexically_normal();
        if (first.has_filename() == false) first = first.parent_path();
        while (first.has_parent_path() && first.parent_path() != first &&
               !fs::exists(fs::symlink_status(first.parent_path(), ec)))
            first = first.parent_path();
        ec.clear();
        fs::create_directories(dir, ec);
        if (ec)
            return check_result::failed(name, fmt::format("{} does not exist and cannot be created: {}", shown,
                                                          ec.message()),
                                        fmt::format("make sure its parent folders are directories this user may "
                                                    "write, {}",
                                                    elsewhere));
        made.top = first;
    }
    if (const auto why = detail_doctor::try_write_in(dir))
        return check_result::failed(name, fmt::format("{} cannot be written: {}", shown, *why),
                                    fmt::format("give this user write access to it (chown, chmod u+w; a read-only "
                                                "filesystem needs remounting), {}",
                                                elsewhere));
    const auto locks = dir / "locks";
    const auto lst = fs::status(locks, ec);
    if (fs::exists(lst)) {
        if (!fs::is_directory(lst))
            return check_result::failed(name, fmt::format("{} is not a directory", detail::printable(locks.string())),
                                        "remove or rename that file: rtb keeps its build locks in that folder");
        if (const auto why = detail_doctor::try_write_in(locks))
            return check_result::failed(name, fmt::format("{} cannot be written: {}", detail::printable(locks.string()),
                                                          *why),
                                        "give this user write access to it: rtb keeps its build locks there");
    } else {
        ec.clear();
        fs::create_directory(locks, ec);
        if (ec)
            return check_result::failed(name, fmt::format("{} cannot be created: {}", detail::printable(locks.string()),
                                                          ec.message()),
                                        "give this user write access to the cache directory");
        if (!made.top) made.top = locks;
        if (const auto why = detail_doctor::try_write_in(locks))
            return check_result::failed(name, fmt::format("{} cannot be written: {}", detail::printable(locks.string()),
                                                          *why),
                                        "give this user write access to the cache directory");
    }
    if (!existed)
        return check_result::ok(name, fmt::format("{} does not exist yet; rtb can create it and write there "
                                                  "(checked, then removed again)",
                                                  shown));
    return check_result::ok(name, fmt::format("{} is a writable directory; its locks folder is usable", shown));
}

}  // namespace rtb::doctor
