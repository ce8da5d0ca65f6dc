// Ctrl-C for the rtb program: SIGINT (and SIGTERM, SIGHUP) request a stop on
// one process-wide std::stop_source that every long operation is handed; the
// operation stops cleanly (the engine-side work is stopped, temporary files
// go), and main exits with 128 + the signal (130 for Ctrl-C). A second
// signal exits at once, after the cleanup registered with
// at_second_signal() (rtb serve removes its work folder there).
//
// The handler itself only writes a byte to a pipe (async-signal-safe); a
// thread reads it and calls request_stop(), which runs stop callbacks and
// so must not run inside a signal handler (nor may the cleanup).
#pragma once

#include <atomic>
#include <csignal>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace rtb::cli {

class interrupt_handler {
public:
    /// Installs the handlers; one per process, in main, before any work.
    interrupt_handler() {
        if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
            fds_[0] = fds_[1] = -1;
            return;  // no handler: Ctrl-C keeps its default (immediate exit)
        }
        // Touch the statics now: the handler must never be the one to construct them.
        received().store(0);
        write_fd().store(fds_[1]);
        struct sigaction sa {};
        sa.sa_handler = &interrupt_handler::on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        for (int i = 0; i < 3; ++i) ::sigaction(signals[i], &sa, &previous_[i]);
        // A parent may hand us these signals blocked (the mask is inherited
        // through exec); every thread started from here on inherits this.
        sigset_t ours;
        sigemptyset(&ours);
        for (int s : signals) sigaddset(&ours, s);
        ::pthread_sigmask(SIG_UNBLOCK, &ours, nullptr);
        watcher_ = std::thread([this] { watch(); });
    }
    interrupt_handler(const interrupt_handler&) = delete;
    interrupt_handler& operator=(const interrupt_handler&) = delete;
    ~interrupt_handler() {
        if (fds_[1] < 0) return;
        for (int i = 0; i < 3; ++i) ::sigaction(signals[i], &previous_[i], nullptr);
        write_fd().store(-1);
        const char quit = 0;
        [[maybe_unused]] const auto n = ::write(fds_[1], &quit, 1);
        watcher_.join();
        ::close(fds_[0]);
        ::close(fds_[1]);
    }

    /// The token every long operation watches.
    static std::stop_token token() noexcept { return source().get_token(); }
    /// The signal that asked to stop (SIGINT, SIGTERM, SIGHUP), or 0.
    static int signal() noexcept { return received().load(); }
    /// The exit status for an interrupted run: 128 + the signal.
    static int exit_status() noexcept { return 128 + signal(); }

    /// What must happen before a second signal ends the process at once
    /// (quick, no waiting: it runs on the watcher thread while the rest of
    /// the process may still be stopping). Empty: nothing.
    static void at_second_signal(std::function<void()> cleanup) {
        std::lock_guard lock(cleanup_mutex());
        cleanup_slot() = std::move(cleanup);
    }

private:
    static constexpr int signals[3] = {SIGINT, SIGTERM, SIGHUP};

    static std::stop_source& source() noexcept {
        static std::stop_source s;
        return s;
    }
    static std::atomic<int>& received() noexcept {
        static std::atomic<int> r{0};
        return r;
    }
    static std::atomic<int>& write_fd() noexcept {
        static std::atomic<int> fd{-1};
        return fd;
    }

    static std::mutex& cleanup_mutex() noexcept {
        static std::mutex m;
        return m;
    }
    static std::function<void()>& cleanup_slot() noexcept {
        static std::function<void()> f;
        return f;
    }

    // A byte per signal: the signal number, with second_flag for a second one.
    static constexpr char second_flag = 0x40;

    static void on_signal(int sig) noexcept {
        int expected = 0;
        const bool second = !received().compare_exchange_strong(expected, sig);
        const int fd = write_fd().load();
        const char c = static_cast<char>(sig | (second ? second_flag : 0));
        const bool told = fd >= 0 && ::write(fd, &c, 1) == 1;
        // The second one ends the process: through the watcher (which runs
        // the cleanup first), or here if the watcher cannot be told.
        if (second && !told) ::_exit(128 + sig);
    }

    void watch() {
        for (;;) {
            pollfd p{fds_[0], POLLIN, 0};
            if (::poll(&p, 1, -1) < 0) continue;
            char c = 0;
            if (::read(fds_[0], &c, 1) != 1) continue;
            if (c == 0) return;  // the destructor
            if (c & second_flag) {
                {
                    std::lock_guard lock(cleanup_mutex());
                    if (cleanup_slot()) {
                        try {
                            cleanup_slot()();
                        } catch (...) {
                        }
                    }
                }
                ::_exit(128 + (c & ~second_flag));
            }
            source().request_stop();
        }
    }

    int fds_[2] = {-1, -1};
    struct sigaction previous_[3] = {};
    std::thread watcher_;
};

}  // namespace rtb::cli
