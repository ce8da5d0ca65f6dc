// run_program: runs a program with an argument vector (never a shell), feeds
// its stdin, collects its stdout and stderr, within a time limit and a stop
// token; the child is always reaped. For short helpers (docker credential
// helpers); internal.
//
// Why posix_spawn and not Boost.Process: rtb is header-only and Boost.Process
// (1.74 in Debian 12) needs Boost.Filesystem linked into every program that
// includes it, for one call site that needs ~150 lines. posix_spawn also
// gives what a credential helper call needs and nothing more: no shell, the
// parent's other descriptors closed in the child (closefrom), default signal
// dispositions, its own process group, and a bounded wait that kills and
// reaps on timeout or stop.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/error.hpp"

extern char** environ;

namespace rtb::detail {

/// How a program ended and what it wrote.
struct program_result {
    int exit_code = 0;       ///< the exit status; 128 + signal when a signal ended it
    bool signaled = false;   ///< a signal ended it
    std::string out, err;    ///< stdout and stderr, cut at run_options::max_output each
};

struct run_options {
    std::string input;                             ///< written to stdin, which is then closed
    std::chrono::milliseconds timeout{10'000};     ///< the child is killed after this
    std::size_t max_output = std::size_t{1} << 20; ///< more output than this is dropped
};

namespace subprocess {

/// An owned descriptor.
struct fd {
    int v = -1;
    fd() = default;
    explicit fd(int x) : v(x) {}
    fd(const fd&) = delete;
    fd& operator=(const fd&) = delete;
    fd(fd&& o) noexcept : v(std::exchange(o.v, -1)) {}
    ~fd() { reset(); }
    void reset() noexcept {
        if (v >= 0) ::close(v);
        v = -1;
    }
};

/// Kills (SIGKILL) and reaps a child unless it was reaped; used on every exit path.
struct child {
    pid_t pid = -1;
    bool reaped = false;
    int status = 0;
    ~child() {
        if (pid > 0 && !reaped) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
};

}  // namespace subprocess

/// Runs `argv` (argv[0] looked up in PATH as execvp does) and waits for it.
/// Throws not_found when the program does not exist, timeout when it runs
/// past `o.timeout` (it is killed), cancelled on a stop request (killed too),
/// io_error when it cannot be started. A non-zero exit is not an error: the
/// caller reads program_result::exit_code.
inline program_result run_program(const std::vector<std::string>& argv, const run_options& o = {},
                                  std::stop_token stop = {}) {
    using subprocess::fd;
    if (argv.empty() || argv.front().empty()) throw error(errc::invalid_argument, "run_program: no program given");
    const std::string& name = argv.front();
    const auto sys_fail = [&](std::string_view what) {
        const int e = errno;
        return error(errc::io_error, fmt::format("cannot run {}: {}: {}", name, what, std::strerror(e)));
    };
    if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("{}: cancelled before it started", name));

    // stdin is a socket pair, so writing to a child that closed it is EPIPE
    // (MSG_NOSIGNAL), never SIGPIPE in this process.
    int in_pair[2], out_pipe[2], err_pipe[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) throw sys_fail("socketpair");
    fd in_child(in_pair[0]), in_parent(in_pair[1]);
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw sys_fail("pipe");
    fd out_parent(out_pipe[0]), out_child(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw sys_fail("pipe");
    fd err_parent(err_pipe[0]), err_child(err_pipe[1]);
    fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake.v < 0) throw sys_fail("eventfd");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    struct spawn_cleanup {
        posix_spawn_file_actions_t* a;
        posix_spawnattr_t* t;
        ~spawn_cleanup() {
            posix_spawn_file_actions_destroy(a);
            posix_spawnattr_destroy(t);
        }
    } cleanup{&actions, &attr};
    posix_spawn_file_actions_adddup2(&actions, in_child.v, 0);
    posix_spawn_file_actions_adddup2(&actions, out_child.v, 1);
    posix_spawn_file_actions_adddup2(&actions, err_child.v, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // nothing else of ours reaches the child
#endif  // elsewhere: only descriptors opened with O_CLOEXEC stay behind
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);  // a Ctrl-C at the terminal reaches us, not the helper
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    subprocess::child c;
    if (const int rc = ::posix_spawnp(&c.pid, name.c_str(), &actions, &attr, args.data(), environ); rc != 0) {
        c.pid = -1;
        if (rc == ENOENT)
            throw error(errc::not_found, fmt::format("program {} was not found in PATH", name));
        throw error(errc::io_error, fmt::format("cannot run {}: {}", name, std::strerror(rc)));
    }
    in_child.reset();
    out_child.reset();
    err_child.reset();

    std::stop_callback on_stop(stop, [&wake] {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake.v, &one, sizeof one);
    });

    program_result result;
    std::string_view input = o.input;
    if (input.empty()) in_parent.reset();
    const auto until = std::chrono::steady_clock::now() + o.timeout;
    std::array<char, 16384> buffer;
    while (out_parent.v >= 0 || err_parent.v >= 0) {
        std::array<pollfd, 4> p{};
        nfds_t n = 0;
        p[n++] = {wake.v, POLLIN, 0};
        const nfds_t first_io = n;
        if (in_parent.v >= 0) p[n++] = {in_parent.v, POLLOUT, 0};
        if (out_parent.v >= 0) p[n++] = {out_parent.v, POLLIN, 0};
        if (err_parent.v >= 0) p[n++] = {err_parent.v, POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            throw error(errc::timeout, fmt::format("{} did not finish within {} ms and was killed", name,
                                                   o.timeout.count()));
        const int r = ::poll(p.data(), n, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
        if (r < 0) {
            if (errno == EINTR) continue;
            throw sys_fail("poll");
        }
        if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("{}: cancelled; it was killed", name));
        for (nfds_t i = first_io; i < n; ++i) {
            if (!p[i].revents) continue;
            if (p[i].fd == in_parent.v) {
                const auto w = ::send(in_parent.v, input.data(), input.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) input.remove_prefix(static_cast<std::size_t>(w));
                if (w < 0 && errno != EAGAIN && errno != EINTR) input = {};  // the child closed stdin: fine
                if (input.empty()) in_parent.reset();
                continue;
            }
            fd& src = p[i].fd == out_parent.v ? out_parent : err_parent;
            std::string& dst = p[i].fd == out_parent.v ? result.out : result.err;
            const auto got = ::read(src.v, buffer.data(), buffer.size());
            if (got > 0) {
                const auto room = o.max_output - std::min(o.max_output, dst.size());
                dst.append(buffer.data(), std::min(room, static_cast<std::size_t>(got)));
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                src.reset();
            }
        }
    }
    in_parent.reset();
    // Both outputs closed: the child is exiting (or handed them on). Wait for
    // it within what is left of the time limit.
    for (;;) {
        const pid_t w = ::waitpid(c.pid, &c.status, WNOHANG);
        if (w == c.pid) {
            c.reaped = true;
            break;
        }
        if (w < 0 && errno != EINTR) throw sys_fail("waitpid");
        if (std::chrono::steady_clock::now() >= until)
            throw error(errc::timeout, fmt::format("{} did not exit within {} ms and was killed", name,
                                                   o.timeout.count()));
        if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("{}: cancelled; it was killed", name));
        pollfd p{wake.v, POLLIN, 0};
        ::poll(&p, 1, 10);
    }
    if (WIFEXITED(c.status)) {
        result.exit_code = WEXITSTATUS(c.status);
    } else if (WIFSIGNALED(c.status)) {
        result.signaled = true;
        result.exit_code = 128 + WTERMSIG(c.status);
    }
    return result;
}

}  // namespace rtb::detail
