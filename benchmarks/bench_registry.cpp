// image_exists for an image the engine does not have: rtb's registry lookup
// (lookup::local_then_registry: a manifest HEAD, never a pull) against the
// OpenHands' way (lookup::local_then_pull: the engine pulls the image to answer),
// on dockerd and the loopback registry of scripts/engines, for an image of
// 100+ MB that run-registry-bench pushes (RTB_BENCH_IMAGE, name relative to
// the registry). Every byte between the clients and the registry goes
// through a counting TCP proxy on 127.0.0.1, so "bytes transferred" is
// measured on the wire, both directions, headers included.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtb/transport/docker_engine.hpp"
#include "rtb/transport/registry.hpp"

namespace {

std::string need_env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run benchmarks/run-registry-bench");
    return v;
}

/// A loopback TCP proxy to `target_port` that counts the bytes it relays.
class counting_proxy {
public:
    explicit counting_proxy(int target_port) : target_(target_port) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_, 64) != 0 ||
            ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("proxy: cannot listen");
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~counting_proxy() {
        stopping_ = true;
        acceptor_.join();
        std::lock_guard lock(mutex_);
        for (auto& t : pipes_) t.join();
        ::close(listen_);
    }
    int port() const { return port_; }
    std::uint64_t bytes() const { return bytes_.load(); }

private:
    void accept_loop() {
        while (!stopping_) {
            pollfd p{listen_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int client = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(static_cast<std::uint16_t>(target_));
            if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                ::close(client);
                ::close(server);
                continue;
            }
            std::lock_guard lock(mutex_);
            pipes_.emplace_back([this, client, server] { relay(client, server); });
        }
    }
    void relay(int a, int b) {
        std::vector<char> buf(1 << 16);
        for (bool open = true; open && !stopping_;) {
            pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
            if (::poll(p, 2, 50) <= 0) continue;
            for (int i = 0; i < 2 && open; ++i) {
                if (!p[i].revents) continue;
                const int from = i == 0 ? a : b, to = i == 0 ? b : a;
                const auto n = ::recv(from, buf.data(), buf.size(), 0);
                if (n <= 0) {
                    open = false;
                    break;
                }
                bytes_ += static_cast<std::uint64_t>(n);
                for (ssize_t off = 0; off < n;) {
                    const auto w = ::send(to, buf.data() + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
                    if (w <= 0) {
                        open = false;
                        break;
                    }
                    off += w;
                }
            }
        }
        ::close(a);
        ::close(b);
    }

    int target_, listen_ = -1, port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> bytes_{0};
    std::mutex mutex_;
    std::thread acceptor_;
    std::vector<std::thread> pipes_;
};

struct setup {
    std::string registry = need_env("RTB_REGISTRY");
    std::string image = need_env("RTB_BENCH_IMAGE");  // e.g. rtb-bench/big:1
    counting_proxy proxy{std::stoi(registry.substr(registry.rfind(':') + 1))};
    rtb::image_ref ref = rtb::image_ref::parse(fmt::format("127.0.0.1:{}/{}", proxy.port(), image));

    rtb::docker_engine engine(bool with_registry = true) const {
        rtb::docker_engine::options o;
        o.endpoint = rtb::http::parse_docker_host(need_env("RTB_DOCKER_HOST"));
        o.docker_config = std::filesystem::path("/nonexistent/rtb-bench/config.json");
        if (with_registry) {
            rtb::registry_client::options r;
            r.docker_config = o.docker_config;
            o.registry = rtb::make_registry_lookup(r);
        }
        return rtb::docker_engine(o);
    }
};
setup& env() {
    static setup s;
    return s;
}

void report(benchmark::State& state, std::uint64_t bytes) {
    state.counters["bytes_per_lookup"] =
        benchmark::Counter(static_cast<double>(bytes) / static_cast<double>(state.iterations()));
}

/// rtb: the engine lacks the image, the registry is asked (kept clients).
void registry_lookup(benchmark::State& state) {
    auto& s = env();
    auto engine = s.engine();
    engine.remove(s.ref, true);
    if (!engine.image_exists(s.ref, rtb::lookup::local_then_registry)) state.SkipWithError("not in the registry");
    const auto before = s.proxy.bytes();
    for (auto _ : state)
        if (!engine.image_exists(s.ref, rtb::lookup::local_then_registry)) state.SkipWithError("missing");
    report(state, s.proxy.bytes() - before);
    if (engine.exists_locally(s.ref)) state.SkipWithError("the registry lookup pulled the image");
}

/// rtb with a new engine client and registry client per question: connects,
/// negotiates, takes the 401 round trip if any, every time.
void registry_lookup_new_client(benchmark::State& state) {
    auto& s = env();
    s.engine(false).remove(s.ref, true);
    const auto before = s.proxy.bytes();
    for (auto _ : state) {
        auto engine = s.engine();
        if (!engine.image_exists(s.ref, rtb::lookup::local_then_registry)) state.SkipWithError("missing");
    }
    report(state, s.proxy.bytes() - before);
}

/// OpenHands' way: the engine pulls the whole image to answer. Each
/// iteration starts without the image (removed, untimed).
void pull_lookup(benchmark::State& state) {
    auto& s = env();
    auto engine = s.engine(false);
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        state.PauseTiming();
        engine.remove(s.ref, true);
        const auto before = s.proxy.bytes();
        state.ResumeTiming();
        if (!engine.image_exists(s.ref, rtb::lookup::local_then_pull)) state.SkipWithError("pull found nothing");
        state.PauseTiming();
        bytes += s.proxy.bytes() - before;
        state.ResumeTiming();
    }
    report(state, bytes);
    engine.remove(s.ref, true);
}

}  // namespace

BENCHMARK(registry_lookup)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(registry_lookup_new_client)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(pull_lookup)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

BENCHMARK_MAIN();
