// rtb serve: the Runtime API build service (what OpenHands' remote runtime
// builder and `rtb build --transport remote` talk to), building on the
// engine at DOCKER_HOST (or --host). Runs until SIGINT/SIGTERM; says
// "rtb serve: listening on http://HOST:PORT" on stderr once it accepts.
// Listens on --listen HOST:PORT, on an inherited socket (--listen fd:N), or
// on the socket systemd-style activation hands over (LISTEN_PID/LISTEN_FDS).
// GET /metrics (Prometheus text format) needs a key too.
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "cli.hpp"
#include "rtb/serve/runtime_api_server.hpp"
#include "rtb/serve/tenant_file.hpp"
#include "runtime_options.hpp"
#include "signals.hpp"
#include "files.hpp"

namespace rtb::cli {

namespace {

struct serve_options {
    std::string listen = "127.0.0.1:8000";
    std::string key_file;
    std::string workers = "2";
    std::string host;
    std::string registry_prefix = "local/rtb";
    std::string rate = "50";
    std::string burst = "100";
    std::string max_queued = "64";
    std::string queue_timeout = "30m";
    std::string keep_records = "1h";
    std::string build_timeout = "30m";
    std::string max_upload = "512";           // MiB
    std::string max_context = "2048";         // MiB, decompressed
    std::string max_entries = "100000";
    std::string max_uploads = "32";
    std::string header_timeout = "10s";
    std::string idle_timeout = "60s";
    std::string min_body_rate = "16";         // KiB/s
    std::string max_connections = "1024";
    std::string max_per_address = "256";
    std::string io_threads = "2";
    std::string work_dir;
    bool allow_non_loopback = false;
    bool allow_remote_add = false;
    bool quiet = false;
    bool push = false;
};

}  // namespace

void add_serve(CLI::App& command, action& run) {
    auto o = std::make_shared<serve_options>();
    auto* cmd = &command;
    auto* listen = cmd->add_option(
        "--listen", o->listen,
        "HOST:PORT to listen on (default 127.0.0.1:8000; port 0: any free port), or fd:N: a listening socket "
        "handed over (systemd-style LISTEN_FDS is used when --listen is not given)");
    cmd->add_option("--api-key-file", o->key_file,
                    "The accepted API keys: one per line (each its own tenant), or a .toml file naming tenants and "
                    "their image prefixes; readable by its owner only")
        ->required();
    cmd->add_option("--workers", o->workers, "Builds at once (default 2)");
    cmd->add_option("-H,--host", o->host, "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST)");
    cmd->add_option("--registry-prefix", o->registry_prefix,
                    "Tenants build under PREFIX/TENANT unless the key file says otherwise (default local/rtb)");
    cmd->add_option("--rate", o->rate, "Requests per second allowed per API key (default 50)");
    cmd->add_option("--burst", o->burst, "Requests at once allowed per API key (default 100)");
    cmd->add_option("--max-queued", o->max_queued, "Builds waiting at most (default 64); more are refused with 503");
    cmd->add_option("--queue-timeout", o->queue_timeout, "A build waiting longer is EXPIRED (default 30m)");
    cmd->add_option("--keep-records", o->keep_records, "How long finished builds' records are kept (default 1h)");
    cmd->add_option("--build-timeout", o->build_timeout, "A build running longer ends as TIMEOUT (default 30m)");
    cmd->add_option("--max-upload", o->max_upload, "Largest POST /build body in MiB (default 512); larger: 413");
    cmd->add_option("--max-context", o->max_context,
                    "Largest context once decompressed and as written, in MiB (default 2048)");
    cmd->add_option("--max-entries", o->max_entries, "Most entries in a context (default 100000)");
    cmd->add_option("--max-uploads", o->max_uploads, "Uploads received or checked at once (default 32); more: 503");
    cmd->add_option("--header-timeout", o->header_timeout, "Time a client has for a whole request head (default 10s)");
    cmd->add_option("--idle-timeout", o->idle_timeout, "An idle kept-alive connection is closed after (default 60s)");
    cmd->add_option("--min-body-rate", o->min_body_rate,
                    "KiB/s a request body must keep on average after 10 s (default 16); slower: disconnected");
    cmd->add_option("--max-connections", o->max_connections, "Connections open at once (default 1024)");
    cmd->add_option("--max-connections-per-address", o->max_per_address,
                    "Connections open at once from one address (default 256)");
    cmd->add_option("--io-threads", o->io_threads,
                    "Threads serving connections (default 2; they never wait on a client or the engine)");
    cmd->add_option("--work-dir", o->work_dir, "Where uploads are kept while they wait (default: a new temp folder)");
    cmd->add_flag("--allow-non-loopback", o->allow_non_loopback, "Allow listening on an address other machines can reach");
    cmd->add_flag("--allow-remote-add", o->allow_remote_add,
                  "Allow ADD from URLs in uploaded Dockerfiles (the engine then fetches from the network)");
    cmd->add_flag("--quiet,-q", o->quiet, "Do not log requests");
    cmd->add_flag("--push", o->push,
                  "Push each build's tags to their registry once it succeeds (credentials from the docker config)");
    cmd->callback([o, listen, &run] {
        const bool listen_given = listen->count() > 0;
        run = [o, listen_given] {
            serve::server_options so;
            // Socket activation names this process in LISTEN_PID; the
            // variables go, so that nothing rtb starts inherits them.
            const auto activated = serve::activation_fd(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"), ::getpid());
            ::unsetenv("LISTEN_PID");
            ::unsetenv("LISTEN_FDS");
            ::unsetenv("LISTEN_FDNAMES");
            if (listen_given || !activated) {
                const auto spec = serve::parse_listen(o->listen);
                so.host = spec.host;
                so.port = spec.port;
                so.listen_fd = spec.fd;
            } else {
                so.listen_fd = *activated;
            }
            so.allow_non_loopback = o->allow_non_loopback;
            so.allow_remote_add = o->allow_remote_add;
            so.workers = static_cast<std::size_t>(parse_integer(o->workers, "--workers", 1, 256));
            so.registry_prefix = o->registry_prefix;
            so.rate.per_second = static_cast<double>(parse_integer(o->rate, "--rate", 1, 1'000'000));
            so.rate.burst = static_cast<double>(parse_integer(o->burst, "--burst", 1, 1'000'000));
            so.max_queued = static_cast<std::size_t>(parse_integer(o->max_queued, "--max-queued", 1, 100'000));
            so.max_wait = parse_duration(o->queue_timeout, "--queue-timeout");
            so.keep_finished = parse_duration(o->keep_records, "--keep-records");
            so.build_timeout = parse_duration(o->build_timeout, "--build-timeout");
            so.max_upload = static_cast<std::uint64_t>(parse_integer(o->max_upload, "--max-upload", 1, 1 << 20)) << 20;
            so.limits.max_bytes = static_cast<std::uint64_t>(parse_integer(o->max_context, "--max-context", 1, 1 << 20)) << 20;
            so.limits.max_entries = static_cast<std::uint64_t>(parse_integer(o->max_entries, "--max-entries", 1, 100'000'000));
            so.max_uploads = static_cast<std::size_t>(parse_integer(o->max_uploads, "--max-uploads", 1, 10'000));
            so.http.header_timeout = parse_duration(o->header_timeout, "--header-timeout");
            so.http.idle_timeout = parse_duration(o->idle_timeout, "--idle-timeout");
            so.http.min_body_rate =
                static_cast<std::uint64_t>(parse_integer(o->min_body_rate, "--min-body-rate", 1, 1 << 20)) << 10;
            so.http.max_connections =
                static_cast<std::size_t>(parse_integer(o->max_connections, "--max-connections", 1, 1'000'000));
            so.http.max_connections_per_address = static_cast<std::size_t>(
                parse_integer(o->max_per_address, "--max-connections-per-address", 1, 1'000'000));
            so.io_threads = static_cast<std::size_t>(parse_integer(o->io_threads, "--io-threads", 1, 64));
            so.work_dir = o->work_dir;
            so.push = o->push;
            if (!o->host.empty()) so.engine.endpoint = http::parse_docker_host(o->host, {});
            if (!o->quiet) so.log = [](std::string_view line) { fmt::print(stderr, "rtb serve: {}\n", line); };
            // Every connection is a descriptor: the limit must leave room for
            // them, the engine connections and the uploads.
            rlimit files{};
            if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
                files.rlim_cur = files.rlim_max;
                ::setrlimit(RLIMIT_NOFILE, &files);
                ::getrlimit(RLIMIT_NOFILE, &files);
            }
            if (files.rlim_cur != RLIM_INFINITY && so.http.max_connections + 256 > files.rlim_cur)
                bad_value("--max-connections", o->max_connections,
                          fmt::format("needs {} file descriptors with the rest rtb serve opens; the limit is {} "
                                      "(ulimit -n)",
                                      so.http.max_connections + 256, files.rlim_cur));
            auto keys = serve::load_api_keys(o->key_file, o->registry_prefix);

            serve::runtime_api_server server(std::move(so), std::move(keys));
            // A second signal ends rtb at once: the uploads must not outlive it.
            // It says so first (one write(2): the process may be ending
            // under it), so the operator knows why the builds' ends are unlogged.
            interrupt_handler::at_second_signal([&server] {
                static constexpr char said[] = "rtb serve: a second signal: removing the uploads and exiting now\n";
                [[maybe_unused]] const auto n = ::write(STDERR_FILENO, said, sizeof said - 1);
                server.remove_work_files();
            });
            struct forget_cleanup {
                ~forget_cleanup() { interrupt_handler::at_second_signal({}); }
            } forget;
            server.start();
            fmt::print(stderr, "rtb serve: listening on http://{}\n", server.address());
            std::fflush(stderr);
            // Serve until SIGINT/SIGTERM; then stop, cancel and clean up.
            const auto stop = interrupt_handler::token();
            std::mutex m;
            std::condition_variable_any cv;
            std::unique_lock lock(m);
            cv.wait(lock, stop, [] { return false; });
            fmt::print(stderr, "rtb serve: stopping\n");
            server.stop();
            return ok;
        };
    });
}

}  // namespace rtb::cli
