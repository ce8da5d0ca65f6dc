// docker_cli's member functions (rtb/transport/docker_cli.hpp): included
// by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a unit that only constructs the Transport
// parses none of the context packer, the client's process handling, the
// progress parser or the registry client.
#pragma once

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "rtb/context/request_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/detail/streaming_process.hpp"
#include "rtb/leftover_images.hpp"
#include "rtb/stream/buildkit_plain.hpp"
#include "rtb/transport/docker_cli.hpp"
#include "rtb/transport/registry.hpp"

namespace rtb {

namespace detail {

/// A folder of the build's own under TMPDIR, removed on every exit path
/// with whatever is in it: it holds the --iidfile, and the client runs
/// with it as its TMPDIR, so what a client leaves behind when it is
/// stopped goes too (Podman 4.3 stopped mid-build leaves buildah* folders).
struct cli_scratch_folder {
    std::string dir;
    std::string path;  ///< the --iidfile
    cli_scratch_folder() {
        const char* parent = std::getenv("TMPDIR");
        std::string tmpl = fmt::format("{}/rtb-cli-XXXXXX", parent && *parent ? parent : "/tmp");
        if (!::mkdtemp(tmpl.data())) detail::throw_io("create a temporary folder in", parent && *parent ? parent : "/tmp");
        dir = std::move(tmpl);
        path = dir + "/iid";
    }
    cli_scratch_folder(const cli_scratch_folder&) = delete;
    cli_scratch_folder& operator=(const cli_scratch_folder&) = delete;
    ~cli_scratch_folder() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    /// The id the client wrote: "sha256:<hex>" (Podman writes the bare hex).
    std::string read_id() const {
        std::ifstream in(path, std::ios::binary);
        std::string id;
        std::getline(in, id);
        const auto t = detail::cli::trim(id);
        id = std::string(t);
        if (id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos) id = "sha256:" + id;
        return id;
    }
};

}  // namespace detail

RTB_DECL docker_cli::docker_cli(options o) : opts_(std::move(o)) {
    if (opts_.program.empty()) throw error(errc::invalid_argument, "docker_cli: no client program given");
    if (!opts_.registry) opts_.registry = make_registry_lookup(registry_client::options{});
}

RTB_DECL const cli_capabilities& docker_cli::capabilities() {
    if (caps_) return *caps_;
    const auto version = run_short({"--version"});
    if (version.exit_code != 0)
        throw error(errc::unsupported_version,
                    fmt::format("{} --version failed (exit status {}): {}", who(), version.exit_code,
                                detail::cli::output_excerpt(version.output)));
    const auto client = parse_cli_version(version.output, opts_.program);
    std::optional<std::string> server;
    std::optional<std::string> buildx;
    if (client.kind == cli_kind::docker) {
        const auto s = run_short({"version", "--format={{.Server.Version}}"});
        if (s.exit_code != 0) throw daemon_error(s.output, "asking for the daemon's version");
        server = parse_server_version(s.output, opts_.program).first;
        const auto b = run_short({"buildx", "version"});
        buildx = parse_buildx_version(b.exit_code, b.output);
    }
    caps_ = choose_build_path(opts_.program, client, server, std::move(buildx), opts_.mode);
    return *caps_;
}

RTB_DECL server_info docker_cli::info() {
    const auto& c = capabilities();
    server_info s;
    s.is_podman = c.kind == cli_kind::podman;
    s.product = s.is_podman ? "Podman" : "Docker Engine";
    s.version = c.server_version;
    s.api_version = fmt::format("{} client {}", s.is_podman ? "podman" : "docker", c.client_version);
    s.buildkit = c.path == cli_build_path::buildx || c.path == cli_build_path::buildkit;
    return s;
}

RTB_DECL bool docker_cli::image_exists(const image_ref& ref, lookup mode) {
    if (exists_locally(ref)) return true;
    switch (mode) {
        case lookup::local:
            return false;
        case lookup::local_then_pull: {
            const auto r = run_short({"pull", "--quiet", "--", name_of(ref)}, std::chrono::hours(1));
            if (r.exit_code == 0) return exists_locally(ref);
            if (says_not_found(r.output)) return false;
            throw command_error(r, fmt::format("pulling {}", ref.str()));
        }
        case lookup::local_then_registry:
            return opts_.registry(ref, {});
    }
    return false;
}

RTB_DECL bool docker_cli::exists_locally(const image_ref& ref) {
    const auto& c = capabilities();
    const auto name = name_of(ref);
    const auto r = c.kind == cli_kind::podman ? run_short({"image", "exists", name})
                                              : run_short({"image", "inspect", "--format={{.Id}}", "--", name});
    if (r.exit_code == 0) return true;
    if (c.kind == cli_kind::podman ? r.exit_code == 1 : says_not_found(r.output)) return false;
    throw command_error(r, fmt::format("checking for image {}", ref.str()));
}

RTB_DECL events::pushed docker_cli::push_with(const image_ref& ref, const on_event_fn& on_event,
                                             std::stop_token stop) {
    const auto r = run_short({"push", name_of(ref)}, opts_.push_timeout, stop);
    for (const auto line : detail::cli::lines_of(r.output)) on_event(build_event{events::log_line{std::string(line)}});
    if (r.exit_code != 0) {
        if (says_not_found(r.output))
            throw error(errc::not_found, fmt::format("pushing {} through {}: {}", ref.str(), who(),
                                                     detail::cli::output_excerpt(r.output)));
        if (r.output.find("unauthorized") != std::string::npos || r.output.find("denied") != std::string::npos)
            throw error(errc::unauthorized, fmt::format("pushing {} through {}: {}", ref.str(), who(),
                                                        detail::cli::output_excerpt(r.output)));
        throw command_error(r, fmt::format("pushing {}", ref.str()));
    }
    events::pushed out;
    out.tag = ref.tag().value_or("latest");
    if (const auto at = r.output.rfind("digest: sha256:"); at != std::string::npos) {
        const auto digest = std::string_view(r.output).substr(at + 8, 7 + 64);
        if (digest.size() == 71 && digest.substr(7).find_first_not_of("0123456789abcdef") == std::string_view::npos)
            out.digest = digest;
        if (const auto size_at = r.output.find(" size: ", at); size_at != std::string::npos) {
            std::uint64_t n = 0;
            for (std::size_t i = size_at + 7; i < r.output.size() && i < size_at + 27 && std::isdigit(static_cast<unsigned char>(r.output[i])); ++i)
                n = n * 10 + static_cast<std::uint64_t>(r.output[i] - '0');
            out.size = n;
        }
    }
    return out;
}

RTB_DECL void docker_cli::tag(const image_ref& from, const image_ref& to) {
    const auto r = run_short({"tag", name_of(from), name_of(to)});
    if (r.exit_code == 0) return;
    if (says_not_found(r.output))
        throw error(errc::not_found, fmt::format("tagging {} as {} through {}: no such image: {}", from.str(), to.str(),
                                                 who(), detail::cli::output_excerpt(r.output)));
    throw command_error(r, fmt::format("tagging {} as {}", from.str(), to.str()));
}

RTB_DECL bool docker_cli::remove(const image_ref& ref, bool force) {
    std::vector<std::string> args{"rmi"};
    if (force) args.push_back("--force");
    args.push_back(name_of(ref));
    const auto r = run_short(args);
    if (r.exit_code == 0) return true;
    if (says_not_found(r.output)) return false;
    throw command_error(r, fmt::format("removing image {}", ref.str()));
}

RTB_DECL std::optional<image_summary> docker_cli::describe_image(std::string_view name_or_id, std::stop_token) {
    const std::string name = docker_api::is_image_id(name_or_id) ? std::string(name_or_id)
                                                                  : name_of(image_ref::parse(name_or_id));
    const auto r = run_short({"image", "inspect", "--", name});
    if (r.exit_code != 0) {
        if (says_not_found(r.output)) return std::nullopt;
        throw command_error(r, fmt::format("inspecting image {}", detail::printable(name_or_id)));
    }
    return parse_cli_image_inspect(r.output);
}

RTB_DECL image_removal docker_cli::remove_unused_image(std::string_view id, std::stop_token) {
    if (!docker_api::is_image_id(id))
        throw error(errc::invalid_argument,
                    fmt::format("remove_unused_image takes an image id, not {}", detail::printable(id)));
    const auto r = run_short({"image", "rm", std::string(id)});
    if (const auto outcome = parse_cli_image_removal(r.exit_code, r.output)) return *outcome;
    throw command_error(r, fmt::format("removing image {}", id));
}

RTB_DECL build_result docker_cli::build_with(const build_request& req, const on_event_fn& on_event,
                                             const on_log_fn& on_log, std::stop_token stop) {
    const auto& caps = capabilities();
    const auto started = std::chrono::steady_clock::now();
    detail::cli_scratch_folder iid;
    cli_build_settings settings{opts_.global_args, opts_.builder, opts_.load, opts_.extra_build_args};
    auto inv = build_invocation(req, caps, settings, iid.path);  // validates before anything runs
    inv.environment.insert(inv.environment.begin(), opts_.environment.begin(), opts_.environment.end());
    inv.environment.push_back("TMPDIR=" + iid.dir);

    auto snapshot = context_snapshot_of(req);
    tar_stream tar(std::move(snapshot), tar_options::from_environment());

    if (on_log) on_log(log_level::info, fmt::format("building through {}: {}", who(), caps.reason));

    const auto what = fmt::format("building {} through {}",
                                  req.tags.empty() ? std::string("an image") : req.tags.front(), who());
    struct sink_t {
        const on_event_fn* out;
        std::deque<std::string> tail;
        std::size_t keep;
        std::optional<events::step> last_step;
        std::string last_layer;  // the legacy builder's " ---> <id>" of the last step done
        void remember(std::string line) {
            tail.push_back(std::move(line));
            if (tail.size() > keep) tail.pop_front();
        }
        void on_event(const build_event& e) {
            if (const auto* s = std::get_if<events::step>(&e)) {
                last_step = *s;
                remember(step_text(*s));
            } else if (const auto* l = std::get_if<events::log_line>(&e)) {
                if (last_step && last_step->index > 1)  // step 1's id is the base image's
                    if (const auto id = docker_api::step_image_of(l->text); !id.empty()) last_layer = id;
                remember(l->text);
            }
            (*out)(e);
        }
    } sink{&on_event, {}, opts_.log_tail_lines, {}, {}};
    buildkit_plain_parser<sink_t> parser(sink, {.source = what});

    detail::streaming_options so;
    so.environment = inv.environment;
    so.grace = opts_.stop_grace;
    so.input = [&tar](std::span<std::byte> b) { return tar.read(b); };
    so.on_output = [&parser](std::string_view chunk) { parser.feed(chunk); };
    detail::streaming_result ended;
    try {
        ended = detail::run_streaming(inv.argv, so, stop);
    } catch (const error& e) {
        if (e.value() == errc::cancelled)
            throw error(errc::cancelled, fmt::format("{}: cancelled; the client was stopped", what));
        throw;
    }
    parser.finish();
    const auto& summary = parser.summary();
    if (ended.exit_code != 0) {
        std::string all;
        for (const auto& l : sink.tail) all.append(l).push_back('\n');
        if (!summary.failed() && says_no_daemon(all))
            throw error(errc::connection_failed, fmt::format("{}: {}", what, detail::cli::output_excerpt(all)));
        if (!opts_.keep_failed_build_layers)
            if (const auto note = remove_failed_build_step(*this, sink.last_layer); !note.empty())
                if (on_log) on_log(log_level::info, note);
        build_failure bf;
        std::string message;
        if (summary.failure) {
            bf.exit_code = summary.failure->exit_code;
            bf.failing_step = summary.failure->step;
            message = summary.failure->message;
        }
        if (!bf.exit_code) bf.exit_code = ended.exit_code;
        if (bf.failing_step.empty() && sink.last_step) bf.failing_step = step_text(*sink.last_step);
        if (message.empty()) message = sink.tail.empty() ? std::string("no output") : sink.tail.back();
        bf.log_tail.assign(sink.tail.begin(), sink.tail.end());
        error e(errc::build_failed,
                fmt::format("{} failed{} (exit code {}; {} exited with {}): {}", what,
                            bf.failing_step.empty() ? "" : " at " + bf.failing_step, *bf.exit_code, who(),
                            ended.exit_code, message));
        e.with_build_failure(std::move(bf));
        throw e;
    }
    build_result out;
    out.image_id = iid.read_id();
    if (out.image_id.empty()) out.image_id = summary.image_id;
    if (out.image_id.empty())
        throw error(errc::parse_error, fmt::format("{}: the client exited 0 but named no image id", what));
    out.tags = req.tags;
    out.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return out;
}

RTB_DECL docker_cli::short_result docker_cli::run_short(std::vector<std::string> args,
                                                        std::optional<std::chrono::milliseconds> timeout,
                                                        std::stop_token stop) {
    std::vector<std::string> argv{opts_.program};
    argv.insert(argv.end(), opts_.global_args.begin(), opts_.global_args.end());
    argv.insert(argv.end(), args.begin(), args.end());
    short_result r;
    detail::streaming_options so;
    so.environment = opts_.environment;
    so.grace = std::chrono::milliseconds(2'000);
    so.on_output = [&r](std::string_view chunk) {
        if (r.output.size() < (std::size_t{1} << 20)) r.output.append(chunk.substr(0, (std::size_t{1} << 20) - r.output.size()));
    };
    std::stop_source limit;
    std::stop_callback caller(stop, [&limit] { limit.request_stop(); });  // the caller's stop ends it too
    const auto until = std::chrono::steady_clock::now() + timeout.value_or(opts_.command_timeout);
    std::jthread timer([&limit, until](std::stop_token done) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        if (!cv.wait_until(lock, done, until, [] { return false; }) && !done.stop_requested()) limit.request_stop();
    });
    try {
        r.exit_code = detail::run_streaming(argv, so, limit.get_token()).exit_code;
    } catch (const error& e) {
        if (e.value() == errc::cancelled && !stop.stop_requested())
            throw error(errc::timeout, fmt::format("{} {} did not finish within {} ms and was stopped", who(),
                                                   args.empty() ? "" : args.front(),
                                                   timeout.value_or(opts_.command_timeout).count()));
        throw;
    }
    return r;
}

RTB_DECL bool docker_cli::says_not_found(std::string_view out) {
    for (const auto* marker : {"No such image", "no such image", "image not known", "not found", "manifest unknown",
                               "pull access denied", "does not exist"})
        if (out.find(marker) != std::string_view::npos) return true;
    return false;
}

RTB_DECL bool docker_cli::says_no_daemon(std::string_view out) {
    return out.find("Cannot connect to the Docker daemon") != std::string_view::npos ||
           out.find("Is the docker daemon running") != std::string_view::npos ||
           out.find("error during connect") != std::string_view::npos;
}

RTB_DECL error docker_cli::daemon_error(std::string_view out, std::string_view doing) const {
    const auto code = says_no_daemon(out) ? errc::connection_failed : errc::server_error;
    return error(code, fmt::format("{} through {}: {}", doing, who(), detail::cli::output_excerpt(out)));
}

RTB_DECL error docker_cli::command_error(const short_result& r, std::string_view doing) const {
    if (says_no_daemon(r.output)) return daemon_error(r.output, doing);
    return error(errc::server_error, fmt::format("{} through {} failed (exit status {}): {}", doing, who(),
                                                 r.exit_code, detail::cli::output_excerpt(r.output)));
}

}  // namespace rtb
