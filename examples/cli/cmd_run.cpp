// rtb run: start a runtime image as a sandbox container, with docker run's
// spelling for what a sandbox needs; attached, its output and exit status
// are the container's; detached, its id is printed.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>


#include "cli.hpp"
#include "runtime_options.hpp"
#include "signals.hpp"
#include "rtb/sandbox/container.hpp"
#include "rtb/sandbox/parse.hpp"
#include "rtb/units.hpp"

namespace rtb::cli {

namespace {

/// Progress of the pull launch() makes when the engine lacks the image: a
/// line when it starts, and one per layer when the layer's state changes
/// (not per byte), on stderr.
event_sink pull_progress(const std::string& image) {
    auto last = std::make_shared<std::map<std::string, std::string>>();
    auto started = std::make_shared<bool>(false);
    return [image, last, started](const build_event& e) {
        if (!*started) {
            *started = true;
            fmt::print(stderr, "rtb: {} is not in the engine: pulling it from its registry\n", redacted(image));
        }
        const auto* p = std::get_if<events::progress>(&e);
        if (!p || p->id.empty() || last->size() > 4096) return;
        auto& seen = (*last)[p->id];
        if (seen == p->status) return;
        seen = p->status;
        fmt::print(stderr, "rtb: pull: {}: {}{}\n", redacted(p->id), redacted(p->status),
                   p->total ? fmt::format(" ({})", format_bytes(p->total)) : "");
    };
}

}  // namespace


void add_run(CLI::App& command, action& run) {
    struct options {
        std::string image;
        std::vector<std::string> command;
        std::vector<std::string> env, publish, mounts, tmpfs, labels;
        std::string memory, memory_swap, cpus, cpu_quota, cpu_period, pids_limit, shm_size;
        std::string network = "none";
        std::string pull = "missing";
        std::string workdir, user, name, host;
        std::optional<std::string> entrypoint_set;
        std::string health_cmd, health_interval = "1s", ready_timeout = "60s", stop_timeout = "10";
        bool rm = false, detach = false, tty = false, read_only = false;
        bool allow_engine_socket = false, allow_root = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    cmd->add_option("IMAGE", o->image, "The image to run")->required();
    cmd->add_option("COMMAND", o->command, "The command and its arguments (after --); default: the image's");
    one_value_each(cmd->add_option("-e,--env", o->env, "NAME=VALUE in the sandbox's environment (repeatable)"));
    one_value_each(cmd->add_option("-p,--publish", o->publish,
                                   "[IP:][HOST:]CONTAINER[/PROTO]: publish a port; on 127.0.0.1 unless IP is given "
                                   "(repeatable)"));
    one_value_each(cmd->add_option("--mount,-v,--volume", o->mounts,
                                   "SOURCE:TARGET[:ro]: an absolute host path (must exist) or a volume name (repeatable)"));
    one_value_each(cmd->add_option("--tmpfs", o->tmpfs, "TARGET[:size=64m,mode=1777]: a tmpfs mount (repeatable)"));
    one_value_each(cmd->add_option("-l,--label", o->labels, "NAME=VALUE label on the container (repeatable)"));
    cmd->add_option("-m,--memory", o->memory, "Memory limit: 512m, 1.5g, ... (at least 6m)");
    cmd->add_option("--memory-swap", o->memory_swap, "Memory + swap limit; -1: unlimited swap");
    cmd->add_option("--cpus", o->cpus, "CPUs: 1.5 ...");
    cmd->add_option("--cpu-quota", o->cpu_quota, "CPU time per period, microseconds");
    cmd->add_option("--cpu-period", o->cpu_period, "CPU period, microseconds (default 100000)");
    cmd->add_option("--pids-limit", o->pids_limit, "Most processes and threads; -1: unlimited");
    cmd->add_option("--shm-size", o->shm_size, "Size of /dev/shm: 64m ...");
    cmd->add_option("--network", o->network, "none (default), host, or a network's name");
    cmd->add_option("-w,--workdir", o->workdir, "Working directory in the sandbox (absolute)");
    cmd->add_option("-u,--user", o->user, "uid[:gid] or name[:group] to run as");
    cmd->add_option("--name", o->name, "The container's name");
    cmd->add_option("--entrypoint", o->entrypoint_set, "Replace the image's entrypoint (\"\" clears it)");
    cmd->add_flag("--read-only", o->read_only, "Mount the image's filesystem read-only");
    cmd->add_flag("-t,--tty", o->tty, "Give the sandbox a terminal (its output is all stdout)");
    cmd->add_option("--health-cmd", o->health_cmd, "A shell command whose success means healthy; run waits for it");
    cmd->add_option("--health-interval", o->health_interval, "Time between health checks (default 1s)");
    cmd->add_option("--ready-timeout", o->ready_timeout, "How long to wait for running/healthy (default 60s)");
    cmd->add_option("--stop-timeout", o->stop_timeout, "Seconds between SIGTERM and SIGKILL when stopping (default 10)");
    cmd->add_flag("--rm", o->rm, "Remove the container when it exits");
    cmd->add_flag("-d,--detach", o->detach, "Print the container's id and leave it running");
    cmd->add_flag("--allow-engine-socket", o->allow_engine_socket, "Allow mounting an engine's API socket");
    cmd->add_flag("--allow-root-mount", o->allow_root, "Allow mounting the host's /");
    cmd->add_option("-H,--host", o->host, "The engine: unix:///path or tcp://host:port (default: DOCKER_HOST)");
    cmd->add_option("--pull", o->pull,
                    "missing (default: pull the image from its registry when the engine lacks it) or never")
        ->check(CLI::IsMember({"missing", "never"}));
    cmd->callback([o, &run] {
        run = [o]() -> int {
            // Everything is parsed and checked before the engine is asked.
            container_spec s;
            s.image = o->image;
            s.command = o->command;
            for (const auto& e : o->env) {
                auto [k, v] = parse_assignment(e, "--env");
                s.env.insert_or_assign(std::move(k), std::move(v));  // the last one wins, as with docker run
            }
            for (const auto& l : o->labels) {
                auto [k, v] = parse_assignment(l, "--label");
                s.labels.insert_or_assign(std::move(k), std::move(v));
            }
            for (const auto& p : o->publish) s.ports.push_back(parse_port_mapping(p, "--publish"));
            for (const auto& m : o->mounts) s.mounts.push_back(parse_mount(m, "--mount"));
            for (const auto& t : o->tmpfs) s.tmpfs.push_back(parse_tmpfs(t, "--tmpfs"));
            if (!o->memory.empty()) s.limits.memory = parse_byte_size(o->memory, "--memory");
            if (!o->memory_swap.empty())
                s.limits.memory_swap = o->memory_swap == "-1" ? -1 : parse_byte_size(o->memory_swap, "--memory-swap");
            if (!o->cpus.empty()) s.limits.nano_cpus = parse_cpus(o->cpus, "--cpus");
            if (!o->cpu_quota.empty()) s.limits.cpu_quota = parse_integer(o->cpu_quota, "--cpu-quota", 1, 1LL << 40);
            if (!o->cpu_period.empty()) s.limits.cpu_period = parse_integer(o->cpu_period, "--cpu-period", 1, 1LL << 40);
            if (!o->pids_limit.empty()) s.limits.pids_limit = parse_integer(o->pids_limit, "--pids-limit", -1, 1LL << 40);
            if (!o->shm_size.empty()) s.limits.shm_size = parse_byte_size(o->shm_size, "--shm-size");
            s.network = o->network;
            s.working_dir = o->workdir;
            s.user = o->user;
            s.name = o->name;
            if (o->entrypoint_set) {
                s.entrypoint = std::vector<std::string>{};
                if (!o->entrypoint_set->empty()) s.entrypoint->push_back(*o->entrypoint_set);
            }
            s.read_only_rootfs = o->read_only;
            s.tty = o->tty;
            s.allow_engine_socket_mount = o->allow_engine_socket;
            s.allow_root_mount = o->allow_root;
            s.pull = o->pull == "never" ? image_pull::never : image_pull::missing;
            if (!o->health_cmd.empty()) {
                health_check h;
                h.shell = o->health_cmd;
                h.interval = parse_duration(o->health_interval, "--health-interval");
                h.retries = 1'000'000;  // run waits for healthy until --ready-timeout
                s.health = h;
                s.ready = readiness::healthy;
            }
            s.ready_timeout = parse_duration(o->ready_timeout, "--ready-timeout");
            s.stop_grace = std::chrono::seconds(parse_integer(o->stop_timeout, "--stop-timeout", 0, 3600));
            // Detached, --rm is the engine's job; attached, the handle removes
            // the container once its output and exit code are read.
            s.auto_remove = o->rm && o->detach;

            docker_engine::options eo;
            if (!o->host.empty()) eo.endpoint = http::parse_docker_host(o->host, {});
            docker_engine engine(eo);  // connects on first use: launch() validates the spec before that

            const auto on_pull = pull_progress(s.image);
            if (o->detach) {
                auto c = launch(engine, s, {}, on_pull);
                fmt::print("{}\n", c.detach());
                return ok;
            }

            // main's interrupt_handler turns Ctrl-C into a stop request; a
            // second Ctrl-C exits at once (the engine then keeps the container).
            const auto stop = interrupt_handler::token();
            auto c = launch(engine, s, stop, on_pull);
            try {
                c.logs(
                    [](std_stream st, std::string_view bytes) {
                        std::FILE* f = st == std_stream::err ? stderr : stdout;
                        std::fwrite(bytes.data(), 1, bytes.size(), f);
                        std::fflush(f);
                    },
                    stop);
                const int code = c.wait(stop);
                if (!o->rm) c.detach();  // like docker run: the exited container stays without --rm
                return code >= 0 && code <= 255 ? code : failure;
            } catch (const error& e) {
                if (e.value() != errc::cancelled) throw;
                print_error(fmt::format("signal {}: stopping container {}", interrupt_handler::signal(), c.id().substr(0, 12)));
                c.stop();
                if (!o->rm) c.detach();
                return interrupted;
            }
        };
    });
}

}  // namespace rtb::cli
