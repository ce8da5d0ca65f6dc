// run_streaming: runs a long program (a `docker build`, a `podman build`)
// with an argument vector, never a shell, in a process group of its own;
// feeds its stdin from a pull-style source while handing its output to a
// callback as it arrives; stops the whole group on a stop request; always
// reaps the child. Internal; docker_cli is its user.
//
// Why extend rtb's posix_spawn wrapper (detail/subprocess.hpp) and not use
// Boost.Process: Debian 12 ships Boost 1.74, whose Boost.Process (v1) has no
// way to signal a process group (its group type is a Windows job object
// emulation that only SIGKILLs, with no graceful SIGINT first), needs
// Boost.Asio for output and input at the same time without deadlock (or two
// threads per child), and needs Boost.Filesystem linked into every program
// including a header-only library. A poll() loop over three descriptors is
// ~200 lines and gives exactly what a build needs: stdin written only when
// the child can take it, stdout and stderr read as they fill (never a full
// pipe), SIGINT to the group on a stop (what Ctrl-C in a terminal does, so
// docker and podman cancel the build engine-side) and SIGKILL after a grace
// period, and every exit path reaping the child.
#pragma once

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/detail/subprocess.hpp"
#include "rtb/error.hpp"

extern char** environ;

namespace rtb::detail {

/// What run_streaming() needs besides the argument vector.
struct streaming_options {
    /// Environment changes for the child: "NAME=value" sets, "NAME" alone
    /// removes; the rest of this process's environment is inherited.
    std::vector<std::string> environment;
    /// Pulls the next bytes for the child's stdin into the buffer; 0 is the
    /// end (stdin is then closed). Unset: stdin is empty.
    std::function<std::size_t(std::span<std::byte>)> input;
    /// Receives stdout and stderr, merged in the order the child wrote them
    /// (one pipe for both, as `2>&1`), in chunks of any size.
    std::function<void(std::string_view)> on_output;
    /// After a stop request, how long the group has to end after SIGINT
    /// before it is SIGKILLed.
    std::chrono::milliseconds grace{10'000};
    /// After a stop request that found descendants outside the child's
    /// group (and killed them), how long the child has to end by itself
    /// before its group gets SIGINT.
    std::chrono::milliseconds settle{3'000};
    /// How long output may gather in the pipe between two reads once stdin
    /// is done (fewer wake-ups for a chatty build; 0: read every write).
    std::chrono::milliseconds batch{5};
    /// After the child exits, how long processes it left in its group may
    /// hold the output pipe open before they are killed.
    std::chrono::milliseconds linger{5'000};
};

/// How a streamed program ended.
struct streaming_result {
    int exit_code = 0;      ///< the exit status; 128 + signal when a signal ended it
    bool signaled = false;  ///< a signal ended it
};

namespace subprocess {

/// The child and its process group: on every exit path that did not reap
/// it, the whole group is SIGKILLed and the child reaped.
struct group_child {
    pid_t pid = -1;
    bool reaped = false;
    int status = 0;
    group_child() = default;
    group_child(const group_child&) = delete;
    group_child& operator=(const group_child&) = delete;
    void signal_group(int sig) const noexcept {
        if (pid > 0) ::kill(-pid, sig);  // the group's id is the child's pid (setpgroup 0)
    }
    bool try_reap() noexcept {
        if (reaped || pid <= 0) return reaped;
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) reaped = true;
        return reaped;
    }
    ~group_child() {
        // Once reaped, the pid may be reused: only an unreaped child's group
        // is certainly still ours to signal.
        if (pid <= 0 || reaped) return;
        signal_group(SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
};

/// A process as /proc/PID/stat describes it.
struct proc_entry {
    pid_t pid = 0, ppid = 0, pgid = 0;
    unsigned long long start = 0;  ///< start time in clock ticks since boot: a pid's identity with its number
};

/// /proc/PID/stat of one process, or pid 0 when it is gone (or a zombie).
inline proc_entry read_proc(pid_t pid) {
    proc_entry e;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    const int f = ::open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return e;
    char buf[1024];
    const auto n = ::read(f, buf, sizeof buf - 1);
    ::close(f);
    if (n <= 0) return e;
    buf[n] = 0;
    const char* close = std::strrchr(buf, ')');  // the name may hold anything, up to the last ')'
    if (!close || close[1] != ' ') return e;
    char state = 0;
    long ppid = 0, pgid = 0;
    unsigned long long start = 0;
    // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice threads itrealvalue starttime
    if (std::sscanf(close + 2, "%c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &state, &ppid, &pgid, &start) != 4 || state == 'Z' || state == 'X')
        return e;
    e.pid = pid;
    e.ppid = static_cast<pid_t>(ppid);
    e.pgid = static_cast<pid_t>(pgid);
    e.start = start;
    return e;
}

/// Every live descendant of `root` (children, their children, ...).
inline std::vector<proc_entry> descendants(pid_t root) {
    std::vector<proc_entry> all;
    if (DIR* d = ::opendir("/proc")) {
        while (const auto* ent = ::readdir(d)) {
            char* end = nullptr;
            const long pid = std::strtol(ent->d_name, &end, 10);
            if (pid <= 0 || *end) continue;
            if (auto e = read_proc(static_cast<pid_t>(pid)); e.pid) all.push_back(e);
        }
        ::closedir(d);
    }
    std::vector<proc_entry> out;
    std::vector<pid_t> frontier{root};
    while (!frontier.empty()) {
        const pid_t p = frontier.back();
        frontier.pop_back();
        for (const auto& e : all)
            if (e.ppid == p) {
                out.push_back(e);
                frontier.push_back(e.pid);
            }
    }
    return out;
}

/// SIGKILLs each process still alive as the same process (same start time).
inline void kill_if_same(const std::vector<proc_entry>& procs) {
    for (const auto& p : procs)
        if (const auto now = read_proc(p.pid); now.pid && now.start == p.start) ::kill(p.pid, SIGKILL);
}

/// The environment for the child: ours, changed as `changes` says.
inline std::vector<std::string> child_environment(const std::vector<std::string>& changes) {
    std::vector<std::string> out;
    for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
    for (const auto& c : changes) {
        const auto eq = c.find('=');
        const std::string name = c.substr(0, eq);
        if (name.empty() || c.find('\0') != std::string::npos)
            throw error(errc::invalid_argument,
                        fmt::format("environment change {} has no variable name", printable(c)));
        std::erase_if(out, [&](const std::string& v) { return v.size() > name.size() && v.starts_with(name) && v[name.size()] == '='; });
        if (eq != std::string::npos) out.push_back(c);
    }
    return out;
}

}  // namespace subprocess

/// Runs `argv` (argv[0] looked up in PATH) in a new process group and
/// streams as the top of this file says. Returns how it ended (a non-zero
/// exit is not an error). Throws not_found when the program does not exist,
/// invalid_argument for an argument holding a NUL byte, cancelled after a
/// stop request (the group was stopped: SIGINT, then SIGKILL after
/// options.grace; descendants outside its group SIGKILLed first), io_error when it cannot be run, and whatever the input
/// source or the output callback throws (the group is killed first).
inline streaming_result run_streaming(const std::vector<std::string>& argv, const streaming_options& o,
                                      std::stop_token stop = {}) {
    using subprocess::fd;
    if (argv.empty() || argv.front().empty()) throw error(errc::invalid_argument, "run_streaming: no program given");
    for (const auto& a : argv)
        if (a.find('\0') != std::string::npos)
            throw error(errc::invalid_argument,
                        fmt::format("argument {} for {} holds a NUL byte, which no program can receive",
                                    printable(a), printable(argv.front())));
    const std::string& name = argv.front();
    const auto sys_fail = [&](std::string_view what) {
        const int e = errno;
        return error(errc::io_error, fmt::format("cannot run {}: {}: {}", name, what, std::strerror(e)));
    };
    if (stop.stop_requested()) throw error(errc::cancelled, fmt::format("{}: cancelled before it started", name));

    const auto env_strings = subprocess::child_environment(o.environment);
    std::vector<char*> envp;
    for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    // stdin is a socket pair: writing after the child closed it is EPIPE
    // (MSG_NOSIGNAL), never SIGPIPE here. One pipe carries stdout and stderr.
    int in_pair[2], out_pipe[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) throw sys_fail("socketpair");
    fd in_child(in_pair[0]), in_parent(in_pair[1]);
    if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw sys_fail("pipe");
    fd out_parent(out_pipe[0]), out_child(out_pipe[1]);
    ::fcntl(out_parent.v, F_SETPIPE_SZ, 1 << 20);  // room for `batch` of output; the default if refused
    // the child's end must block (programs do not expect EAGAIN on stdout)
    ::fcntl(out_child.v, F_SETFL, ::fcntl(out_child.v, F_GETFL) & ~O_NONBLOCK);
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
    posix_spawn_file_actions_adddup2(&actions, out_child.v, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    // Its own group: a stop signals everything it started (docker-buildx,
    // podman's runtime helpers) and a terminal's Ctrl-C reaches only us, so
    // we decide how the build is stopped.
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    subprocess::group_child c;
    if (const int rc = ::posix_spawnp(&c.pid, name.c_str(), &actions, &attr, args.data(), envp.data()); rc != 0) {
        c.pid = -1;
        if (rc == ENOENT) throw error(errc::not_found, fmt::format("program {} was not found in PATH", printable(name)));
        throw error(errc::io_error, fmt::format("cannot run {}: {}", printable(name), std::strerror(rc)));
    }
    in_child.reset();
    out_child.reset();

    std::stop_callback on_stop(stop, [&wake] {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake.v, &one, sizeof one);
    });

    using clock = std::chrono::steady_clock;
    std::vector<std::byte> pending;  // input read from the source, not yet taken by the child
    std::size_t pending_at = 0;
    bool input_done = !o.input;
    if (input_done) in_parent.reset();
    std::array<char, 65536> buffer;
    bool stopping = false;
    bool interrupted = false;
    clock::time_point sigint_at{}, kill_at{}, linger_until{}, next_reap_check{}, last_drain{};
    // Readable once the child exits (Linux 5.3+); -1 elsewhere, then exits are polled.
    fd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0)));
    bool child_exited = false;
    // SIGKILLs the child's descendants outside its group; says whether there were any.
    const auto kill_escaped = [&] {
        auto escaped = subprocess::descendants(c.pid);
        std::erase_if(escaped, [&](const subprocess::proc_entry& e) { return e.pgid == c.pid; });
        subprocess::kill_if_same(escaped);
        return !escaped.empty();
    };

    // Reads what the pipe holds now; false once it is closed.
    const auto drain = [&]() -> bool {
        for (;;) {
            const auto got = ::read(out_parent.v, buffer.data(), buffer.size());
            if (got > 0) {
                if (o.on_output) o.on_output({buffer.data(), static_cast<std::size_t>(got)});
                continue;
            }
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && errno == EAGAIN) return true;
            out_parent.reset();
            return false;
        }
    };

    while (out_parent.v >= 0 || !c.reaped) {
        // waitpid when the pidfd says the child exited, or (no pidfd: an
        // old kernel) now and then: a chatty build wakes this loop
        // thousands of times a second
        if (!c.reaped && (child_exited || (exit_fd.v < 0 && (out_parent.v < 0 || clock::now() >= next_reap_check)))) {
            if (c.try_reap()) linger_until = clock::now() + o.linger;
            next_reap_check = clock::now() + std::chrono::milliseconds(50);
        }
        if (c.reaped && out_parent.v < 0) break;
        if (stop.stop_requested() && !stopping) {
            stopping = true;
            in_parent.reset();  // no more context: the build is being stopped
            input_done = true;
            // First what the child started outside its group: a container's
            // init that the runtime put in a session of its own (Podman's
            // RUN steps). Killing it fails the step, and the client cleans
            // up as after any failed step (Podman removes its working
            // container; interrupted instead, it leaves the container and
            // the RUN running). The group gets SIGINT (as Ctrl-C) once
            // that has had `settle` to work, or at once when nothing escaped.
            const bool any = kill_escaped();
            sigint_at = clock::now() + (any ? o.settle : std::chrono::milliseconds(0));
            kill_at = clock::now() + o.grace;
        }
        const auto now = clock::now();
        if (stopping && !c.reaped) {
            if (now < sigint_at) kill_escaped();  // a step that starts meanwhile fails too
            else if (!interrupted) {
                c.signal_group(SIGINT);
                interrupted = true;
            }
            if (now >= kill_at) {
                c.signal_group(SIGKILL);
                kill_at = now + std::chrono::hours(1);
            }
        }
        if (c.reaped && out_parent.v >= 0 && now >= linger_until) {
            // The child is gone but something it started still holds the
            // pipe: that is a leftover of its group; end it.
            c.signal_group(SIGKILL);
            drain();
            out_parent.reset();
            break;
        }
        // Fill the pending input from the source when the last piece is gone.
        if (!input_done && pending_at == pending.size()) {
            pending.resize(256 * 1024);
            const auto n = o.input(pending);
            pending.resize(n);
            pending_at = 0;
            if (n == 0) {
                input_done = true;
                in_parent.reset();  // EOF for the child
            }
        }

        std::array<pollfd, 4> p{};
        nfds_t n = 0;
        p[n++] = {wake.v, POLLIN, 0};
        const int exit_slot = exit_fd.v >= 0 && !c.reaped ? static_cast<int>(n) : -1;
        if (exit_slot >= 0) p[n++] = {exit_fd.v, POLLIN, 0};
        const int out_slot = out_parent.v >= 0 ? static_cast<int>(n) : -1;
        if (out_parent.v >= 0) p[n++] = {out_parent.v, POLLIN, 0};
        const int in_slot = in_parent.v >= 0 ? static_cast<int>(n) : -1;
        if (in_parent.v >= 0) p[n++] = {in_parent.v, POLLOUT, 0};
        // SIGCHLD is not ours to catch (the program may be a library
        // user's): the pidfd tells of the exit; without one, short waits.
        const int wait_ms = exit_fd.v >= 0 ? 200 : c.reaped ? 50 : (out_parent.v >= 0 ? 200 : 5);
        const int r = ::poll(p.data(), n, wait_ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw sys_fail("poll");
        }
        if (exit_slot >= 0 && p[static_cast<std::size_t>(exit_slot)].revents) child_exited = true;
        if (out_slot >= 0 && p[static_cast<std::size_t>(out_slot)].revents) {
            // A client writes a line at a time; reading each as it comes
            // costs a wake-up per line. Once stdin is done, let output
            // gather for `batch` between reads (the pipe is enlarged so the
            // client rarely waits; events are at most `batch` late).
            if (input_done && o.batch.count() > 0 && !stopping) {
                const auto due = last_drain + o.batch;
                if (const auto t = clock::now(); t < due) std::this_thread::sleep_for(due - t);
            }
            drain();
            last_drain = clock::now();
        }
        if (in_slot >= 0 && in_parent.v >= 0 && p[static_cast<std::size_t>(in_slot)].revents) {
            const auto w = ::send(in_parent.v, pending.data() + pending_at, pending.size() - pending_at,
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) pending_at += static_cast<std::size_t>(w);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                // The child closed its stdin before reading it all (it
                // failed early, say): its exit status tells why.
                in_parent.reset();
                input_done = true;
            }
        }
    }
    if (stopping) throw error(errc::cancelled, fmt::format("{}: cancelled; its process group was stopped", name));
    streaming_result result;
    if (WIFEXITED(c.status)) {
        result.exit_code = WEXITSTATUS(c.status);
    } else if (WIFSIGNALED(c.status)) {
        result.signaled = true;
        result.exit_code = 128 + WTERMSIG(c.status);
    }
    return result;
}

}  // namespace rtb::detail
