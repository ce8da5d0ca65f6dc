// An exclusive lock on a file (flock), held for a scope: one build of an image
// at a time across threads and processes. Waiting honours a stop token.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/policy/retry.hpp"

namespace rtb::detail {

class file_lock {
public:
    /// Takes the lock on `path` (created if missing), waiting while another
    /// holder has it. flock locks belong to an open file description, so two
    /// threads of one process exclude each other too. Throws cancelled when
    /// `stop` is requested while waiting. `waited` tells whether it had to
    /// wait; `on_wait`, when given, is called once as the waiting begins.
    file_lock(const std::filesystem::path& path, std::stop_token stop, const std::function<void()>& on_wait = {}) {
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        fd_ = unique_fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!fd_) throw_io("open the lock file", path.string());
        while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EINTR) continue;
            if (errno != EWOULDBLOCK) throw_io("lock", path.string());
            if (!waited_ && on_wait) on_wait();
            waited_ = true;
            if (!interruptible_sleep(std::chrono::milliseconds(50), stop))
                throw error(errc::cancelled,
                            fmt::format("cancelled while waiting for another build holding {}", printable(path.string())));
        }
    }
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;
    ~file_lock() {
        if (fd_) ::flock(fd_.get(), LOCK_UN);
    }
    bool waited() const noexcept { return waited_; }

private:
    unique_fd fd_;
    bool waited_ = false;
};

}  // namespace rtb::detail
