// rtb serve: the Runtime API build service (what OpenHands' remote runtime
// builder and `rtb build --transport remote` talk to), building on the
// engine at DOCKER_HOST (or --host). Runs until SIGINT/SIGTERM; says
// "rtb serve: listening on http://HOST:PORT" on stderr once it accepts.
// GET /metrics (Prometheus text format) needs the same API key.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "cli.hpp"
#include "rtb/serve/runtime_api_server.hpp"
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
    std::string work_dir;
    bool allow_non_loopback = false;
    bool quiet = false;
    bool push = false;
};

/// "HOST:PORT" ("[::1]:PORT" for IPv6); port 0 picks a free one.
std::pair<std::string, int> parse_listen(const std::string& s) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0)
        bad_value("--listen", s, "is not HOST:PORT (e.g. 127.0.0.1:8000)");
    std::string host = s.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    const int port = static_cast<int>(parse_integer(std::string_view(s).substr(colon + 1), "--listen port", 0, 65535));
    return {host, port};
}

}  // namespace

void add_serve(CLI::App& app, action& run) {
    auto o = std::make_shared<serve_options>();
    auto* cmd = app.add_subcommand(
        "serve", "Run the Runtime API build service (POST /build, GET /build_status, ..., GET /metrics)");
    cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (default 127.0.0.1:8000; port 0: any free port)");
    cmd->add_option("--api-key-file", o->key_file, "File with the accepted API keys, one per line")->required();
    cmd->add_option("--workers", o->workers, "Builds at once (default 2)");
    cmd->add_option("-H,--host", o->host, "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST)");
    cmd->add_option("--registry-prefix", o->registry_prefix, "What GET /registry_prefix answers (default local/rtb)");
    cmd->add_option("--rate", o->rate, "Requests per second allowed per API key (default 50)");
    cmd->add_option("--burst", o->burst, "Requests at once allowed per API key (default 100)");
    cmd->add_option("--max-queued", o->max_queued, "Builds waiting at most (default 64); more are refused with 503");
    cmd->add_option("--queue-timeout", o->queue_timeout, "A build waiting longer is EXPIRED (default 30m)");
    cmd->add_option("--keep-records", o->keep_records, "How long finished builds' records are kept (default 1h)");
    cmd->add_option("--build-timeout", o->build_timeout, "A build running longer ends as TIMEOUT (default 30m)");
    cmd->add_option("--max-upload", o->max_upload, "Largest request body in MiB (default 512); larger: 413");
    cmd->add_option("--max-context", o->max_context, "Largest context once decompressed, in MiB (default 2048)");
    cmd->add_option("--max-entries", o->max_entries, "Most entries in a context (default 100000)");
    cmd->add_option("--work-dir", o->work_dir, "Where uploads are kept while they wait (default: a new temp folder)");
    cmd->add_flag("--allow-non-loopback", o->allow_non_loopback, "Allow --listen on an address other machines can reach");
    cmd->add_flag("--quiet,-q", o->quiet, "Do not log requests");
    cmd->add_flag("--push", o->push,
                  "Push each build's tags to their registry once it succeeds (credentials from the docker config)");
    cmd->callback([o, &run] {
        run = [o] {
            serve::server_options so;
            std::tie(so.host, so.port) = parse_listen(o->listen);
            so.allow_non_loopback = o->allow_non_loopback;
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
            so.work_dir = o->work_dir;
            so.push = o->push;
            if (!o->host.empty()) so.engine.endpoint = http::parse_docker_host(o->host, {});
            if (!o->quiet) so.log = [](std::string_view line) { fmt::print(stderr, "rtb serve: {}\n", line); };
            auto keys = serve::api_keys::load(o->key_file);

            serve::runtime_api_server server(std::move(so), std::move(keys));
            server.start();
            const auto host = parse_listen(o->listen).first;
            fmt::print(stderr, "rtb serve: listening on http://{}:{}\n",
                       host.find(':') != std::string::npos ? "[" + host + "]" : host, server.port());
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
