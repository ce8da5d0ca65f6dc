// docker_engine against a scripted fake engine, for what real engines here
// cannot show: old and odd versions, garbage on the socket, the exact
// headers and paths sent, and stream failures.
#define BOOST_TEST_MODULE engine_faults
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <mutex>

#include "rtb/transport/detail/engine_root_memo.hpp"
#include "rtb/transport/docker_engine.hpp"
#include "support/fake_server.hpp"
#include "support/fault_server.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {



/// A fake engine: answers /_ping and /version as configured, records every
/// request head, and hands other targets to `extra`.
struct fake_engine {
    std::string ping_api = "1.41";
    std::string product_component = "Engine";
    std::string version = "20.10.24";
    std::string api = "1.41";
    std::string libpod;  ///< Podman's Libpod-Api-Version ping header, when set
    std::function<std::string(const std::string& target, const std::string& head)> extra;

    temp_tree dir;
    std::mutex mutex;
    std::vector<std::string> heads;
    std::optional<fake_server> server;

    void start() {
        server.emplace(dir / "engine.sock", [this](connection& c, const std::string& head) {
            const auto target = target_of(head);
            {
                std::lock_guard lock(mutex);
                heads.push_back(head);
            }
            if (target == "/_ping")
                return c.write(answer(200, "OK",
                                      (ping_api.empty() ? "" : "Api-Version: " + ping_api + "\r\n") +
                                          (libpod.empty() ? "" : "Libpod-Api-Version: " + libpod + "\r\n"),
                                      "text/plain"));
            if (target.ends_with("/version"))
                return c.write(answer(200, fmt::format(R"({{"Components":[{{"Name":"{}","Version":"{}"}}],)"
                                                       R"("Version":"{}","ApiVersion":"{}","MinAPIVersion":"1.12"}})",
                                                       product_component, version, version, api)));
            if (extra) return c.write(extra(target, head));
            return c.write(answer(404, R"({"message":"not scripted"})"));
        });
    }
    docker_engine engine(docker_engine::options o = {}) {
        o.endpoint = http::endpoint::unix_socket((dir / "engine.sock").string());
        return docker_engine(std::move(o));
    }
    std::vector<std::string> targets() {
        std::lock_guard lock(mutex);
        std::vector<std::string> t;
        for (const auto& h : heads) t.push_back(target_of(h));
        return t;
    }
};

std::string ndjson_answer(std::string_view lines) { return answer(200, lines); }

}  // namespace

BOOST_AUTO_TEST_CASE(an_engine_with_an_older_api_is_spoken_to_in_its_version) {
    fake_engine f;
    f.ping_api = "1.40";
    f.api = "1.40";
    f.version = "19.03.15";
    f.extra = [](const std::string&, const std::string&) { return answer(200, R"({"Id":"sha256:1"})"); };
    f.start();
    auto e = f.engine();
    BOOST_TEST(e.info().api_version == "1.40");
    BOOST_TEST(e.image_exists(image_ref::parse("a:1"), lookup::local));
    const auto t = f.targets();
    BOOST_TEST(t.front() == "/_ping");
    BOOST_TEST(t.back() == "/v1.40/images/a:1/json");
}

BOOST_AUTO_TEST_CASE(a_newer_engine_is_spoken_to_in_ours) {
    fake_engine f;
    f.ping_api = "1.45";
    f.api = "1.45";
    f.version = "26.1.0";
    f.start();
    BOOST_TEST(f.engine().info().api_version == "1.41");
}

BOOST_AUTO_TEST_CASE(our_api_version_can_be_pinned_lower) {
    fake_engine f;
    f.start();
    docker_engine::options o;
    o.api_version = {1, 39};
    BOOST_TEST(f.engine(o).info().api_version == "1.39");
}

BOOST_AUTO_TEST_CASE(an_engine_older_than_docker_18_09_is_unsupported) {
    fake_engine f;
    f.ping_api = "1.38";
    f.api = "1.38";
    f.version = "18.06.3-ce";
    f.start();
    const auto e = error_of([&] { f.engine().info(); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "Engine API 1.38"));
    BOOST_TEST(contains(e.what(), (f.dir / "engine.sock").string()));
}

BOOST_AUTO_TEST_CASE(without_a_ping_header_the_version_answer_decides) {
    fake_engine f;
    f.ping_api = "";
    f.api = "1.40";
    f.start();
    BOOST_TEST(f.engine().info().api_version == "1.40");
}

BOOST_AUTO_TEST_CASE(podman_is_detected_by_its_component_name) {
    fake_engine f;
    f.product_component = "Podman Engine";
    f.version = "4.3.1";
    f.start();
    const auto info = f.engine().info();
    BOOST_TEST(info.is_podman);
    BOOST_TEST(info.product == "Podman Engine");
    BOOST_TEST(info.version == "4.3.1");
}

BOOST_AUTO_TEST_CASE(podman_older_than_4_3_is_unsupported) {
    fake_engine f;
    f.product_component = "Podman Engine";
    f.version = "3.4.4";
    f.start();
    const auto e = error_of([&] { f.engine().info(); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "Podman Engine 3.4.4"));
}

BOOST_AUTO_TEST_CASE(image_lookups_need_only_a_ping_not_the_slow_version_call) {
    fake_engine f;
    f.extra = [](const std::string&, const std::string&) { return answer(200, R"({"Id":"sha256:1"})"); };
    f.start();
    auto e = f.engine();
    BOOST_TEST(e.image_exists(image_ref::parse("a:1"), lookup::local));
    BOOST_TEST(e.image_exists(image_ref::parse("a:1"), lookup::local));
    BOOST_TEST((f.targets() == std::vector<std::string>{"/_ping", "/v1.41/images/a:1/json", "/v1.41/images/a:1/json"}));
}

BOOST_AUTO_TEST_CASE(podman_is_recognised_from_its_ping_and_checked_there) {
    fake_engine f;
    f.libpod = "4.2.1";
    f.start();
    const auto e = error_of([&] { f.engine().image_exists(image_ref::parse("a:1"), lookup::local); });
    BOOST_TEST(e.value() == errc::unsupported_version);
    BOOST_TEST(contains(e.what(), "Podman Engine 4.2.1"));
    BOOST_TEST(f.targets() == std::vector<std::string>{"/_ping"});
}

BOOST_AUTO_TEST_CASE(podman_is_asked_through_its_libpod_exists_call) {
    fake_engine f;
    f.libpod = "4.3.1";
    f.extra = [](const std::string& target, const std::string&) {
        return target.ends_with("/exists") ? answer(204, "") : answer(500, R"({"message":"unexpected"})");
    };
    f.start();
    BOOST_TEST(f.engine().image_exists(image_ref::parse("local/busybox:1"), lookup::local));
    BOOST_TEST((f.targets() == std::vector<std::string>{"/_ping", "/v4.0.0/libpod/images/local/busybox:1/exists"}));
}

BOOST_AUTO_TEST_CASE(garbage_on_the_engine_socket_is_a_parse_error) {
    temp_tree dir;
    fake_server s(dir / "g.sock", [](connection& c, const std::string&) {
        static constexpr char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all";
        c.write(std::string_view(junk, sizeof junk - 1));
        return false;
    });
    docker_engine::options o;
    o.endpoint = http::endpoint::unix_socket((dir / "g.sock").string());
    const auto e = error_of([&] { docker_engine(o).image_exists(image_ref::parse("a:1"), lookup::local); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_TEST(contains(e.what(), (dir / "g.sock").string()));
}

BOOST_AUTO_TEST_CASE(a_garbage_version_answer_is_a_parse_error) {
    temp_tree dir;
    fake_server s(dir / "g.sock", [](connection& c, const std::string& head) {
        if (target_of(head) == "/_ping") return c.write(answer(200, "OK", "Api-Version: 1.41\r\n"));
        return c.write(answer(200, "\x01\x02{{{not json"));
    });
    docker_engine::options o;
    o.endpoint = http::endpoint::unix_socket((dir / "g.sock").string());
    BOOST_TEST(error_of([&] { docker_engine(o).info(); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(pushes_send_the_configured_credentials_as_x_registry_auth) {
    fake_engine f;
    f.extra = [](const std::string&, const std::string&) {
        return ndjson_answer(R"({"status":"Pushed","progressDetail":{},"id":"aa"})" "\n"
                             R"({"progressDetail":{},"aux":{"Tag":"t1","Digest":"sha256:dd","Size":527}})" "\n");
    };
    f.start();
    temp_tree home;
    // "dTpw" is base64 of "u:p"
    const auto config = home.file("config.json", R"({"auths":{"127.0.0.1:5999":{"auth":"dTpw"}}})");
    docker_engine::options o;
    o.docker_config = config;
    auto e = f.engine(o);
    std::vector<build_event> seen;
    const auto pushed = e.push(image_ref::parse("127.0.0.1:5999/app:t1"), [&](const build_event& ev) { seen.push_back(ev); });
    BOOST_TEST(pushed.digest == "sha256:dd");
    BOOST_TEST(pushed.size == 527u);
    BOOST_TEST(seen.size() == 2u);
    const auto head = f.heads.back();
    BOOST_TEST(target_of(head) == "/v1.41/images/127.0.0.1:5999/app/push?tag=t1");
    BOOST_TEST(detail::base64_decode(header_of(head, "X-Registry-Auth")).value() ==
               R"({"username":"u","password":"p","serveraddress":"127.0.0.1:5999"})");
}

BOOST_AUTO_TEST_CASE(anonymous_pushes_send_an_empty_auth_and_pulls_none) {
    fake_engine f;
    f.extra = [](const std::string& target, const std::string&) {
        if (target.find("/push") != std::string::npos)
            return ndjson_answer(R"({"progressDetail":{},"aux":{"Tag":"t","Digest":"sha256:ee","Size":1}})" "\n");
        if (target.find("/images/create") != std::string::npos) return ndjson_answer(R"({"status":"Digest: x"})" "\n");
        return answer(200, R"({"Id":"sha256:1"})");
    };
    f.start();
    temp_tree home;
    docker_engine::options o;
    o.docker_config = home / "absent.json";
    auto e = f.engine(o);
    e.push(image_ref::parse("127.0.0.1:5999/app:t"), {});
    BOOST_TEST(header_of(f.heads.back(), "X-Registry-Auth") == "e30=");
    e.pull(image_ref::parse("127.0.0.1:5999/app:t"), {});
    BOOST_TEST(header_of(f.heads.back(), "X-Registry-Auth").empty());
}

BOOST_AUTO_TEST_CASE(an_error_inside_a_pull_stream_is_classified) {
    fake_engine f;
    f.extra = [](const std::string& target, const std::string&) {
        if (target.find("/images/create") != std::string::npos)
            return ndjson_answer(R"({"status":"Trying to pull"})" "\n"
                                 R"({"errorDetail":{"message":"reading manifest t1 in x: manifest unknown"},)"
                                 R"("error":"reading manifest t1 in x: manifest unknown"})" "\n");
        return answer(404, R"({"message":"No such image"})");
    };
    f.start();
    auto e = f.engine();
    const auto err = error_of([&] { e.pull(image_ref::parse("127.0.0.1:5999/x:t1"), {}); });
    BOOST_TEST(err.value() == errc::not_found);
    BOOST_TEST(contains(err.what(), "pulling 127.0.0.1:5999/x:t1"));
    BOOST_TEST(contains(err.what(), "manifest unknown"));
    // so "exists, else pull" says no, as Docker's 404 does
    BOOST_TEST(!e.image_exists(image_ref::parse("127.0.0.1:5999/x:t1"), lookup::local_then_pull));
}

BOOST_AUTO_TEST_CASE(a_stream_of_garbage_is_a_parse_error) {
    fake_engine f;
    f.extra = [](const std::string&, const std::string&) { return ndjson_answer("{\"status\":\"ok\"}\n<html>oops</html>\n"); };
    f.start();
    auto e = f.engine();
    BOOST_TEST(error_of([&] { e.pull(image_ref::parse("x:1"), {}); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(engine_errors_name_the_operation_and_the_engine) {
    fake_engine f;
    f.extra = [](const std::string&, const std::string&) {
        return answer(500, R"({"message":"layer store is corrupt"})");
    };
    f.start();
    const auto e = error_of([&] { f.engine().image_exists(image_ref::parse("a:1"), lookup::local); });
    BOOST_TEST(e.value() == errc::server_error);
    BOOST_TEST(e.http_status().value() == 500);
    BOOST_TEST(std::string(e.what()) == "inspecting image docker.io/library/a:1 on unix socket " +
                                            (f.dir / "engine.sock").string() + ": HTTP 500: layer store is corrupt");
}

BOOST_AUTO_TEST_CASE(the_registry_lookup_is_a_hook_and_never_pulls) {
    fake_engine f;
    f.extra = [](const std::string&, const std::string&) { return answer(404, R"({"message":"No such image"})"); };
    f.start();
    // by default, a registry_client asks the registry with a manifest HEAD
    fault_server registry;
    registry.route("/v2/", {}, faults::respond(200, "Docker-Content-Digest: sha256:" + std::string(64, 'd') + "\r\n"));
    BOOST_TEST(f.engine().image_exists(image_ref::parse(registry.host() + "/x:t1"), lookup::local_then_registry));
    BOOST_TEST(registry.heads().size() == 1u);
    BOOST_TEST(registry.heads().at(0).starts_with("HEAD /v2/x/manifests/t1 "));
    const auto ref = image_ref::parse("127.0.0.1:5999/x:t1");
    std::vector<std::string> asked;
    docker_engine::options o;
    o.registry = [&](const image_ref& r, std::stop_token) {
        asked.push_back(r.str());
        return true;
    };
    auto e2 = f.engine(o);
    BOOST_TEST(e2.image_exists(ref, lookup::local_then_registry));
    BOOST_TEST(asked == std::vector<std::string>{"127.0.0.1:5999/x:t1"});
    for (const auto& t : f.targets()) BOOST_TEST(!contains(t, "/images/create"));
}

BOOST_AUTO_TEST_CASE(label_filters_need_a_key) {
    fake_engine f;
    f.start();
    auto e = f.engine();
    BOOST_TEST(error_of([&] { e.images({"=v"}); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([&] { e.images({""}); }).value() == errc::invalid_argument);
}

// ---------------------------------------------------------------------------
// The engine's data root, remembered between processes while its socket is
// the same file.

namespace {

/// A data root as text (empty: none), for messages.
std::string shown(const std::optional<std::filesystem::path>& p) { return p ? p->string() : std::string(); }
std::string shown(const std::filesystem::path& p) { return p.string(); }

/// A fake engine answering GET /info with `root` as its data root.
struct engine_with_root : fake_engine {
    std::filesystem::path root = dir / "engine-data";
    std::filesystem::path memo = dir / "cache" / "engine-roots";
    engine_with_root() {
        std::filesystem::create_directories(root);
        extra = [this](const std::string& target, const std::string&) {
            if (target.ends_with("/info")) return answer(200, fmt::format(R"({{"DockerRootDir":"{}"}})", root.string()));
            return answer(404, R"({"message":"not scripted"})");
        };
        start();
    }
    /// A docker_engine as a new rtb process makes it.
    docker_engine process() {
        docker_engine::options o;
        o.data_root_memo = memo;
        return engine(o);
    }
    std::size_t info_requests() {
        std::size_t n = 0;
        for (const auto& t : targets()) n += t.ends_with("/info");
        return n;
    }
    /// Stops and starts the engine: its socket is a new file (the old one
    /// is kept alive by a link meanwhile, so its inode cannot be reused).
    void restart() {
        const auto sock = dir / "engine.sock";
        std::filesystem::create_hard_link(sock, dir / "old.sock");
        server.reset();
        start();
        std::filesystem::remove(dir / "old.sock");
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_data_root_is_asked_once_per_engine_process_not_once_per_rtb_process) {
    engine_with_root f;
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 1u);
    BOOST_TEST(std::filesystem::exists(f.memo));
    // another rtb process, the same engine: the memo answers
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 1u);
    // the engine restarted (perhaps with another data root): asked again
    f.root = f.dir / "moved-data";
    std::filesystem::create_directories(f.root);
    f.restart();
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 2u);
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 2u);
    // a remembered root that is no longer a folder is not taken
    std::filesystem::remove(f.root);
    f.root = f.dir / "engine-data";
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 3u);
    // an empty memo path: asked every time
    docker_engine::options o;
    o.data_root_memo = std::filesystem::path();
    BOOST_TEST(shown(f.engine(o).data_root()) == shown(f.root));
    BOOST_TEST(shown(f.engine(o).data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == 5u);
}

BOOST_AUTO_TEST_CASE(a_damaged_or_hostile_memo_is_ignored_and_replaced) {
    engine_with_root f;
    const auto sock = (f.dir / "engine.sock").string();
    const auto id = detail::identify_socket(sock);
    BOOST_REQUIRE(id.has_value());
    const std::string good_prefix = fmt::format("rtb engine data roots 1\n{}{}{}{}{}{}{}{}", id->device, '\0', id->inode,
                                                '\0', id->ctime_ns, '\0', sock, '\0');
    const std::vector<std::string> bad{
        "",
        "garbage",
        good_prefix,                                      // an entry cut short
        good_prefix + "relative/root" + '\0',             // a root that is not absolute
        good_prefix + f.root.string(),                    // no end to the last field
        "rtb engine data roots 2\n" + good_prefix.substr(24) + f.root.string() + '\0',  // another format
        good_prefix + f.root.string() + '\0' + std::string(70 * 1024, 'x'),             // over the size bound
    };
    std::size_t asked = 0;
    for (const auto& text : bad) {
        std::filesystem::create_directories(f.memo.parent_path());
        std::ofstream(f.memo, std::ios::binary | std::ios::trunc) << text;
        BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
        BOOST_TEST(f.info_requests() == ++asked, "memo of " << text.size() << " bytes was taken");
        // and it was replaced by a good one, which the next process takes
        BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
        BOOST_TEST(f.info_requests() == asked);
    }
    // a memo pointing this socket at another folder, but for another socket file, is not taken
    std::ofstream(f.memo, std::ios::binary | std::ios::trunc)
        << fmt::format("rtb engine data roots 1\n{}{}{}{}{}{}{}{}{}{}", id->device, '\0', id->inode + 1, '\0',
                       id->ctime_ns, '\0', sock, '\0', f.dir.root().string(), '\0');
    BOOST_TEST(shown(f.process().data_root()) == shown(f.root));
    BOOST_TEST(f.info_requests() == asked + 1);
}

BOOST_AUTO_TEST_CASE(the_memo_keeps_the_latest_entries_and_one_per_socket) {
    std::vector<detail::engine_root_entry> entries;
    for (std::uint64_t i = 0; i < 40; ++i)
        entries.push_back({fmt::format("/run/engine-{}.sock", i), {1, i, 7}, fmt::format("/var/lib/engine-{}", i)});
    const auto back = detail::parse_engine_root_memo(detail::format_engine_root_memo(entries));
    BOOST_REQUIRE(back.size() == detail::engine_root_memo_max_entries);
    BOOST_TEST(back.front().socket == "/run/engine-8.sock");
    BOOST_TEST(back.back().root == std::filesystem::path("/var/lib/engine-39"));
    BOOST_TEST((back.back().id == detail::socket_identity{1, 39, 7}));
    temp_tree t;
    const auto memo = t / "memo";
    detail::remember_engine_root(memo, "/run/a.sock", {1, 2, 3}, "/data/one");
    detail::remember_engine_root(memo, "/run/b.sock", {1, 5, 6}, "/data/two");
    detail::remember_engine_root(memo, "/run/a.sock", {1, 9, 9}, "/data/three");  // a restarted engine
    const auto kept = detail::read_engine_root_memo(memo);
    BOOST_REQUIRE(kept.size() == 2u);
    BOOST_TEST(shown(detail::remembered_engine_root(memo, "/run/a.sock", {1, 9, 9})) == std::string("/data/three"));
    BOOST_TEST(!detail::remembered_engine_root(memo, "/run/a.sock", {1, 2, 3}).has_value());
}
