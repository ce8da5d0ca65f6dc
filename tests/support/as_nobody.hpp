// Runs a check in a child process with the privileges of "nobody", so tests
// of unreadable files mean something when the suite runs as root.
#pragma once

#include <functional>
#include <string>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rtb::test {

/// Runs `fn` in a forked child (as uid/gid 65534 when we are root) and returns
/// what it returned; "<child failed>" if it crashed or could not drop privileges.
inline std::string as_nobody(const std::function<std::string()>& fn) {
    int fds[2];
    if (::pipe(fds) != 0) return "<pipe failed>";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
            ::_exit(3);
        std::string out;
        try {
            out = fn();
        } catch (...) {
            out = "<unexpected exception>";
        }
        const char* p = out.data();
        std::size_t left = out.size();
        while (left) {
            const auto n = ::write(fds[1], p, left);
            if (n <= 0) break;
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    while (true) {
        const auto n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "<child failed>";
    return out;
}

}  // namespace rtb::test
