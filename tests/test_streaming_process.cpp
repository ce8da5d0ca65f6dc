// run_streaming with real local programs (/bin/sh, cat): exit codes, merged
// output, stdin and stdout both far bigger than a pipe (no deadlock), the
// environment, a stop that ends the whole group and what escaped it, and a
// leftover holding the pipe. No timing assertions: every wait is for an event.
#define BOOST_TEST_MODULE streaming_process
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <filesystem>
#include <thread>

#include <unistd.h>

#include "rtb/detail/streaming_process.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::detail;
using namespace rtb::test;

namespace {

streaming_result run(std::vector<std::string> argv, std::string& out, streaming_options o = {}, std::stop_token stop = {}) {
    o.on_output = [&out](std::string_view c) { out.append(c); };
    return run_streaming(argv, o, stop);
}

bool alive(pid_t pid) { return subprocess::read_proc(pid).pid == pid; }

/// Waits (for an event, with a generous bound) until `pid` is gone.
bool gone_eventually(pid_t pid) {
    for (int i = 0; i < 600 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return !alive(pid);
}

}  // namespace

BOOST_AUTO_TEST_CASE(exit_status_and_merged_output_are_reported) {
    std::string out;
    const auto r = run({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}, out);
    BOOST_TEST(r.exit_code == 3);
    BOOST_TEST(!r.signaled);
    BOOST_TEST(contains(out, "to-stdout\n"));
    BOOST_TEST(contains(out, "to-stderr\n"));
}

BOOST_AUTO_TEST_CASE(a_signal_death_is_128_plus_the_signal) {
    std::string out;
    const auto r = run({"/bin/sh", "-c", "kill -TERM $$"}, out);
    BOOST_TEST(r.signaled);
    BOOST_TEST(r.exit_code == 128 + SIGTERM);
}

BOOST_AUTO_TEST_CASE(big_input_and_big_output_at_once_never_deadlock) {
    // cat echoes 8 MiB of stdin while we are still writing it: both pipes
    // fill many times over; a writer that waited for the end would hang.
    const std::size_t size = std::size_t{8} << 20;
    std::string input(size, 'x');
    for (std::size_t i = 0; i < size; i += 4096) input[i] = static_cast<char>('a' + (i / 4096) % 26);
    std::size_t at = 0;
    streaming_options o;
    o.input = [&](std::span<std::byte> b) {
        const auto n = std::min(b.size(), input.size() - at);
        std::memcpy(b.data(), input.data() + at, n);
        at += n;
        return n;
    };
    std::string out;
    const auto r = run({"cat"}, out, o);
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(out.size() == size);
    BOOST_TEST((out == input));
}

BOOST_AUTO_TEST_CASE(a_child_that_closes_stdin_early_is_not_an_error) {
    std::size_t offered = 0;
    streaming_options o;
    o.input = [&](std::span<std::byte> b) {
        offered += b.size();
        std::memset(b.data(), 'y', b.size());
        return offered > (std::size_t{64} << 20) ? std::size_t{0} : b.size();
    };
    std::string out;
    const auto r = run({"/bin/sh", "-c", "exec 0<&-; echo closed; exit 5"}, out, o);
    BOOST_TEST(r.exit_code == 5);
    BOOST_TEST(contains(out, "closed"));
}

BOOST_AUTO_TEST_CASE(environment_changes_set_and_remove_variables) {
    ::setenv("RTB_TEST_REMOVED", "still-here", 1);
    streaming_options o;
    o.environment = {"RTB_TEST_SET=value with spaces", "RTB_TEST_REMOVED"};
    std::string out;
    run({"/bin/sh", "-c", "echo \"set=$RTB_TEST_SET removed=${RTB_TEST_REMOVED-unset}\""}, out, o);
    BOOST_TEST(contains(out, "set=value with spaces removed=unset"));
    o.environment = {"=x"};
    BOOST_TEST(error_of([&] { run({"true"}, out, o); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(arguments_reach_the_program_verbatim_never_through_a_shell) {
    std::string out;
    const auto marker = fmt::format("/tmp/rtb-stream-pwned-{}", ::getpid());
    run({"/bin/echo", fmt::format("$(touch {}); `touch {}` | & ; *", marker, marker)}, out);
    BOOST_TEST(contains(out, "$(touch"));
    BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(bad_programs_and_arguments_are_named) {
    std::string out;
    const auto missing = error_of([&] { run({"/nonexistent/rtb-no-such-program"}, out); });
    BOOST_TEST(missing.value() == errc::not_found);
    BOOST_TEST(contains(missing.what(), "rtb-no-such-program"));
    BOOST_TEST(error_of([&] { run({}, out); }).value() == errc::invalid_argument);
    BOOST_TEST(contains(message_of([&] { run({"/bin/echo", std::string("a\0b", 3)}, out); }), "NUL"));
}

BOOST_AUTO_TEST_CASE(a_stop_ends_the_group_and_processes_that_left_it) {
    // The child starts a grandchild in its group that ignores SIGINT (only
    // SIGKILL after the grace ends it) and one in a session of its own
    // (as a container runtime does), then reports both pids.
    std::string out;
    std::stop_source stop;
    pid_t in_group = 0, escaped = 0;
    streaming_options o;
    o.grace = std::chrono::milliseconds(300);
    o.settle = std::chrono::milliseconds(300);
    o.on_output = [&](std::string_view c) {
        out.append(c);
        if (std::sscanf(out.c_str(), "pids %d %d\n", &in_group, &escaped) == 2 && out.find('\n') != std::string::npos)
            stop.request_stop();
    };
    const auto e = error_of([&] {
        run_streaming({"/bin/sh", "-c",
                       "trap '' INT; sleep 1001 & a=$!; setsid sleep 1002 & b=$!; sleep 0.2; echo pids $a $b; wait"},
                      o, stop.get_token());
    });
    BOOST_TEST(e.value() == errc::cancelled);
    BOOST_REQUIRE(in_group > 0);
    BOOST_REQUIRE(escaped > 0);
    BOOST_TEST(gone_eventually(in_group));
    BOOST_TEST(gone_eventually(escaped));
}

BOOST_AUTO_TEST_CASE(a_stop_before_the_start_runs_nothing) {
    std::stop_source stop;
    stop.request_stop();
    std::string out;
    BOOST_TEST(error_of([&] { run({"/bin/echo", "never"}, out, {}, stop.get_token()); }).value() == errc::cancelled);
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(a_leftover_holding_the_pipe_after_the_child_exits_is_killed) {
    std::string out;
    pid_t left = 0;
    streaming_options o;
    o.linger = std::chrono::milliseconds(200);
    const auto r = run({"/bin/sh", "-c", "sleep 1003 & echo left $!; exit 0"}, out, o);
    BOOST_TEST(r.exit_code == 0);
    BOOST_REQUIRE(std::sscanf(out.c_str(), "left %d", &left) == 1);
    BOOST_TEST(gone_eventually(left));
}

BOOST_AUTO_TEST_CASE(an_exception_from_the_output_callback_kills_and_reaps_the_child) {
    streaming_options o;
    pid_t child = 0;
    std::string out;
    o.on_output = [&](std::string_view c) {
        out.append(c);
        if (std::sscanf(out.c_str(), "me %d", &child) == 1 && out.find('\n') != std::string::npos)
            throw error(errc::parse_error, "the consumer gave up");
    };
    const auto e = error_of([&] { run_streaming({"/bin/sh", "-c", "echo me $$; exec sleep 1004"}, o); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_REQUIRE(child > 0);
    BOOST_TEST(!alive(child));  // killed and reaped before the exception left run_streaming
}

BOOST_AUTO_TEST_CASE(proc_entries_describe_a_live_process_and_not_a_missing_one) {
    const auto me = subprocess::read_proc(::getpid());
    BOOST_TEST(me.pid == ::getpid());
    BOOST_TEST(me.ppid == ::getppid());
    BOOST_TEST(me.start > 0u);
    BOOST_TEST(subprocess::read_proc(0x3fffffff).pid == 0);
}
