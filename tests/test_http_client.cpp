// rtb::http::client against a scripted server on a unix socket or loopback:
// streaming both ways, connection reuse, answers mapped to errors, and the
// faults (nothing listening, garbage, a cut answer, a stall, cancellation),
// with no file descriptor left behind.
#define BOOST_TEST_MODULE http_client
#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <future>
#include <mutex>

#include "rtb/transport/http.hpp"
#include "support/fake_server.hpp"
#include "support/temp_tree.hpp"
#include "support/checks.hpp"
#include "support/fd_leak_check.hpp"

using namespace rtb;
using namespace rtb::test;
using namespace std::chrono_literals;

namespace {



/// A fixture: a temp folder with a socket path in it.
struct unix_site {
    temp_tree dir;
    std::filesystem::path socket = dir / "s.sock";
    http::endpoint at() const { return http::endpoint::unix_socket(socket.string()); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_request_over_a_unix_socket_returns_status_headers_and_body) {
    unix_site site;
    std::string seen_head;
    fake_server server(site.socket, [&](connection& c, const std::string& head) {
        seen_head = head;
        return c.write(answer(200, R"({"ok":true})", "Docker-Content-Digest: sha256:abc\r\n"));
    });
    http::client client(site.at());
    http::request r("GET", "/v1.41/version");
    r.headers.push_back({"X-Test", "1"});
    const auto resp = client.send(r);
    BOOST_TEST(resp.status == 200);
    BOOST_TEST(resp.body == R"({"ok":true})");
    BOOST_TEST(resp.header("docker-content-digest").value() == "sha256:abc");
    BOOST_TEST(!resp.header("Nope").has_value());
    BOOST_TEST(seen_head.starts_with("GET /v1.41/version HTTP/1.1\r\n"));
    BOOST_TEST(header_of(seen_head, "X-Test") == "1");
    BOOST_TEST(header_of(seen_head, "User-Agent").starts_with("rtb/"));
}

BOOST_AUTO_TEST_CASE(a_client_reuses_its_connection) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(200, "OK")); });
    http::client client(site.at());
    for (int i = 0; i < 5; ++i) BOOST_TEST(client.send({"GET", "/_ping"}).body == "OK");
    BOOST_TEST(server.requests() == 5);
    BOOST_TEST(server.connections() == 1);
}

BOOST_AUTO_TEST_CASE(tcp_on_loopback_works_too) {
    fake_server server([](connection& c, const std::string&) { return c.write(answer(200, "tcp")); });
    http::client client(http::endpoint::tcp("127.0.0.1", server.port()));
    BOOST_TEST(client.send({"GET", "/x"}).body == "tcp");
}

BOOST_AUTO_TEST_CASE(request_bodies_stream_from_a_reader_in_chunks) {
    unix_site site;
    std::uint64_t received = 0, sum = 0;
    fake_server server(site.socket, [&](connection& c, const std::string& head) {
        BOOST_TEST(header_of(head, "Transfer-Encoding") == "chunked");
        BOOST_TEST(header_of(head, "Expect").empty());
        c.read_chunked([&](std::string_view b) {
            received += b.size();
            for (unsigned char ch : b) sum += ch;
        });
        return c.write(answer(200, std::to_string(received)));
    });
    // 48 MiB from a generator: never held whole, here or in the client.
    const std::uint64_t total = std::uint64_t{48} << 20;
    std::uint64_t produced = 0, expected_sum = 0;
    std::size_t largest_read = 0;
    http::request r("POST", "/build");
    r.reader = [&](std::span<std::byte> buf) -> std::size_t {
        largest_read = std::max(largest_read, buf.size());
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - produced));
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = static_cast<unsigned char>((produced + i) * 31 % 251);
            buf[i] = std::byte{v};
            expected_sum += v;
        }
        produced += n;
        return n;
    };
    const auto resp = http::client(site.at()).send(r);
    BOOST_TEST(resp.status == 200);
    BOOST_TEST(resp.body == std::to_string(total));
    BOOST_TEST(sum == expected_sum);
    BOOST_TEST(largest_read <= std::size_t{1} << 20);  // libcurl's upload buffer, not the body
}

BOOST_AUTO_TEST_CASE(a_known_body_size_is_sent_as_content_length) {
    unix_site site;
    std::string got;
    fake_server server(site.socket, [&](connection& c, const std::string& head) {
        got = c.read_exact(std::stoul(header_of(head, "Content-Length")));
        return c.write(answer(200, ""));
    });
    std::string body = "hello body";
    std::size_t at = 0;
    http::request r("POST", "/x");
    r.body_size = body.size();
    r.reader = [&](std::span<std::byte> buf) {
        const auto n = std::min(buf.size(), body.size() - at);
        std::memcpy(buf.data(), body.data() + at, n);
        at += n;
        return n;
    };
    http::client(site.at()).send(r);
    BOOST_TEST(got == body);
}

BOOST_AUTO_TEST_CASE(responses_stream_to_the_sink_as_they_arrive) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 100; ++i) {
            const std::string line = "{\"n\":" + std::to_string(i) + "}\n";
            c.write(fmt::format("{:x}\r\n{}\r\n", line.size(), line));
        }
        return c.write("0\r\n\r\n");
    });
    std::string streamed;
    int chunks = 0;
    http::request r("POST", "/images/create");
    r.on_data = [&](std::string_view chunk) {
        streamed += chunk;
        ++chunks;
    };
    const auto resp = http::client(site.at()).send(r);
    BOOST_TEST(resp.body.empty());
    BOOST_TEST(chunks >= 1);
    BOOST_TEST(streamed.starts_with("{\"n\":0}\n"));
    BOOST_TEST(streamed.ends_with("{\"n\":99}\n"));
}

BOOST_AUTO_TEST_CASE(an_error_answer_is_kept_for_the_message_not_streamed) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        return c.write(answer(404, R"({"message":"no such image: x:1"})"));
    });
    bool streamed = false;
    http::request r("POST", "/images/create");
    r.on_data = [&](std::string_view) { streamed = true; };
    const auto resp = http::client(site.at()).send(r);
    BOOST_TEST(!streamed);
    const auto e = error_of([&] { http::throw_for_status(resp, "pulling x:1 on unix socket /s"); });
    BOOST_TEST(e.value() == errc::not_found);
    BOOST_TEST(std::string(e.what()) == "pulling x:1 on unix socket /s: HTTP 404: no such image: x:1");
}

BOOST_AUTO_TEST_CASE(rate_limits_bring_retry_after_from_the_wire) {
    fake_server server([](connection& c, const std::string&) {
        return c.write(answer(429, R"({"errors":[{"message":"slow down"}]})", "Retry-After: 7\r\n"));
    });
    const auto resp = http::client(http::endpoint::tcp("127.0.0.1", server.port())).send({"HEAD", "/v2/x/manifests/1"});
    const auto e = error_of([&] { http::throw_for_status(resp, "checking x"); });
    BOOST_TEST(e.value() == errc::rate_limited);
    BOOST_TEST(e.retry_after().value() == 7s);
    BOOST_TEST(e.retryable());
}

BOOST_AUTO_TEST_CASE(server_errors_carry_their_status) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(503, "busy")); });
    const auto resp = http::client(site.at()).send({"GET", "/x"});
    const auto e = error_of([&] { http::throw_for_status(resp, "x"); });
    BOOST_TEST(e.value() == errc::server_error);
    BOOST_TEST(e.http_status().value() == 503);
}

BOOST_AUTO_TEST_CASE(secrets_in_headers_never_reach_an_error) {
    unix_site site;
    std::optional<fake_server> server;
    server.emplace(site.socket, [](connection& c, const std::string&) {
        return c.write(answer(401, R"({"message":"unauthorized: authentication required"})"));
    });
    http::client client(site.at());
    http::request r("POST", "/images/x/push?tag=1");
    r.headers.push_back({"X-Registry-Auth", "SECRET-TOKEN-123"});
    r.headers.push_back({"Authorization", "Bearer SECRET-TOKEN-456"});
    const auto e = error_of([&] { http::throw_for_status(client.send(r), "pushing x"); });
    BOOST_TEST(e.value() == errc::unauthorized);
    BOOST_TEST(!contains(e.what(), "SECRET"));
    server.reset();
    server.emplace(site.socket, [](connection&, const std::string&) { return false; });  // hang up
    const auto e2 = error_of([&] { client.send(r); });
    BOOST_TEST(!contains(e2.what(), "SECRET"));
}

BOOST_AUTO_TEST_CASE(a_missing_socket_is_connection_failed_naming_the_socket) {
    temp_tree dir;
    const auto path = (dir / "no-engine.sock").string();
    const auto e = error_of([&] { http::client(http::endpoint::unix_socket(path)).send({"GET", "/_ping"}); });
    BOOST_TEST(e.value() == errc::connection_failed);
    BOOST_TEST(contains(e.what(), "unix socket " + path));
    BOOST_TEST(contains(e.what(), "No such file or directory"));
    BOOST_TEST(e.retryable());
}

BOOST_AUTO_TEST_CASE(a_socket_nobody_listens_on_is_connection_failed) {
    unix_site site;
    {
        fake_server server(site.socket, [](connection&, const std::string&) { return false; });
    }
    // leave a dead socket file behind, as a killed engine does
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, site.socket.c_str());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
    const auto e = error_of([&] { http::client(site.at()).send({"GET", "/_ping"}); });
    BOOST_TEST(e.value() == errc::connection_failed);
    BOOST_TEST(contains(e.what(), site.socket.string()));
    BOOST_TEST(contains(e.what(), "Connection refused"));
}

BOOST_AUTO_TEST_CASE(a_closed_tcp_port_is_connection_failed_naming_host_and_port) {
    int port = 0;
    {
        fake_server server([](connection&, const std::string&) { return false; });
        port = server.port();
    }
    const auto e = error_of([&] { http::client(http::endpoint::tcp("127.0.0.1", port)).send({"GET", "/_ping"}); });
    BOOST_TEST(e.value() == errc::connection_failed);
    BOOST_TEST(contains(e.what(), fmt::format("tcp://127.0.0.1:{}", port)));
}

BOOST_AUTO_TEST_CASE(garbage_bytes_are_a_parse_error_naming_the_endpoint) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        static constexpr char junk[] = "\x00\x01\xff\xfe garbage, not HTTP\r\n\r\n\x7f";
        c.write(std::string_view(junk, sizeof junk - 1));
        return false;
    });
    const auto e = error_of([&] { http::client(site.at()).send({"GET", "/_ping"}); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_TEST(contains(e.what(), "unix socket " + site.socket.string()));
}

BOOST_AUTO_TEST_CASE(a_garbled_status_line_is_a_parse_error) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        c.write("HTTP/1.1 abc\r\nContent-Length: 2\r\n\r\nOK");
        return false;
    });
    BOOST_TEST(error_of([&] { http::client(site.at()).send({"GET", "/_ping"}); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(hanging_up_without_an_answer_is_connection_failed) {
    unix_site site;
    fake_server server(site.socket, [](connection&, const std::string&) { return false; });
    const auto e = error_of([&] { http::client(site.at()).send({"GET", "/_ping"}); });
    BOOST_TEST(e.value() == errc::connection_failed);
    BOOST_TEST(contains(e.what(), "without answering GET /_ping"));
}

BOOST_AUTO_TEST_CASE(an_answer_cut_short_is_connection_failed) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a little");
        return false;
    });
    const auto e = error_of([&] { http::client(site.at()).send({"GET", "/images/json"}); });
    BOOST_TEST(e.value() == errc::connection_failed);
}

BOOST_AUTO_TEST_CASE(an_oversized_answer_is_refused) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        return c.write(answer(200, std::string(4096, 'x')));
    });
    http::client::options o;
    o.max_body = 1000;
    const auto e = error_of([&] { http::client(site.at(), o).send({"GET", "/images/json"}); });
    BOOST_TEST(e.value() == errc::parse_error);
    BOOST_TEST(contains(e.what(), "larger than 1000 bytes"));
}

BOOST_AUTO_TEST_CASE(a_stalled_answer_times_out) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) {
        c.wait_for_close();
        return false;
    });
    http::request r("GET", "/_ping");
    r.timeout = 200ms;
    const auto e = error_of([&] { http::client(site.at()).send(r); });
    BOOST_TEST(e.value() == errc::timeout);
    BOOST_TEST(contains(e.what(), "did not finish within 200 ms"));
}

BOOST_AUTO_TEST_CASE(stopping_aborts_a_stalled_transfer_and_drops_its_connection) {
    unix_site site;
    std::promise<void> streaming, closed_by_client;
    fake_server server(site.socket, [&](connection& c, const std::string&) {
        c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
        streaming.set_value();
        if (c.wait_for_close()) closed_by_client.set_value();  // then the stall ends
        return false;
    });
    std::stop_source stop;
    std::thread canceller([&] {
        streaming.get_future().wait();
        stop.request_stop();
    });
    std::string got;
    http::request r("POST", "/build");
    r.on_data = [&](std::string_view chunk) { got += chunk; };
    const auto e = error_of([&] { http::client(site.at()).send(r, stop.get_token()); });
    canceller.join();
    BOOST_TEST(e.value() == errc::cancelled);
    BOOST_TEST(contains(e.what(), "POST /build"));
    BOOST_TEST(got == "first");
    // the server saw the connection close: the abort happened, not a wait for the stall
    BOOST_TEST((closed_by_client.get_future().wait_for(60s) == std::future_status::ready));
}

BOOST_AUTO_TEST_CASE(stopping_before_any_answer_aborts_too) {
    unix_site site;
    std::promise<void> got_request;
    fake_server server(site.socket, [&](connection& c, const std::string&) {
        got_request.set_value();
        c.wait_for_close();
        return false;
    });
    std::stop_source stop;
    std::thread canceller([&] {
        got_request.get_future().wait();
        stop.request_stop();
    });
    const auto e = error_of([&] { http::client(site.at()).send({"GET", "/_ping"}, stop.get_token()); });
    canceller.join();
    BOOST_TEST(e.value() == errc::cancelled);
}

BOOST_AUTO_TEST_CASE(a_stop_already_requested_sends_nothing) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(200, "")); });
    std::stop_source stop;
    stop.request_stop();
    BOOST_TEST(error_of([&] { http::client(site.at()).send({"GET", "/_ping"}, stop.get_token()); }).value() ==
               errc::cancelled);
    BOOST_TEST(server.requests() == 0);
}

BOOST_AUTO_TEST_CASE(a_reader_that_throws_aborts_the_request_with_its_exception) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string& head) {
        if (header_of(head, "Transfer-Encoding") == "chunked") c.read_chunked([](std::string_view) {});
        return c.write(answer(200, "fine"));
    });
    http::client client(site.at());
    http::request r("POST", "/build");
    int calls = 0;
    r.reader = [&](std::span<std::byte> buf) -> std::size_t {
        if (++calls == 3) throw error(errc::io_error, "cannot read context file 'x'");
        std::fill(buf.begin(), buf.end(), std::byte{'a'});
        return buf.size();
    };
    const auto e = error_of([&] { client.send(r); });
    BOOST_TEST(e.value() == errc::io_error);
    BOOST_TEST(std::string(e.what()) == "cannot read context file 'x'");
    BOOST_TEST(client.send({"GET", "/_ping"}).body == "fine");  // the client still works
}

BOOST_AUTO_TEST_CASE(a_sink_that_throws_aborts_with_its_exception) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(200, "data")); });
    http::request r("GET", "/x");
    r.on_data = [](std::string_view) { throw error(errc::parse_error, "bad line"); };
    BOOST_TEST(error_of([&] { http::client(site.at()).send(r); }).value() == errc::parse_error);
}

BOOST_AUTO_TEST_CASE(requests_that_would_smuggle_bytes_are_refused) {
    http::client client(http::endpoint::unix_socket("/nonexistent.sock"));
    BOOST_TEST(error_of([&] { client.send({"GET", "no-slash"}); }).value() == errc::invalid_argument);
    BOOST_TEST(error_of([&] { client.send({"GET", "/a b"}); }).value() == errc::invalid_argument);
    http::request r("GET", "/x");
    r.headers.push_back({"X-A", "v\r\nInjected: 1"});
    BOOST_TEST(error_of([&] { client.send(r); }).value() == errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(no_file_descriptor_outlives_a_client) {
    unix_site site;
    {
        fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(200, "OK")); });
        http::client(site.at()).send({"GET", "/warm-up"});  // libcurl's one-time global state
    }
    const auto before = open_fds();
    {
        fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(200, "OK")); });
        http::client client(site.at());
        for (int i = 0; i < 3; ++i) client.send({"GET", "/_ping"});
        std::stop_source stop;
        stop.request_stop();
        error_of([&] { client.send({"GET", "/_ping"}, stop.get_token()); });
        error_of([&] { http::client(http::endpoint::unix_socket((site.dir / "none.sock").string())).send({"GET", "/"}); });
    }
    BOOST_TEST(open_fds() == before);
}

// A long poll (POST /containers/{id}/wait) answers its headers at once and
// its body much later: on_headers says when the server has taken the request.
BOOST_AUTO_TEST_CASE(on_headers_is_called_once_before_the_body_of_the_final_answer) {
    unix_site site;
    std::mutex m;
    std::condition_variable cv;
    bool headers_seen = false;
    fake_server server(site.socket, [&](connection& c, const std::string&) {
        if (!c.write("HTTP/1.1 100 Continue\r\n\r\n")) return false;
        if (!c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"))
            return false;
        std::unique_lock lock(m);  // the body only once the client has seen the headers
        if (!cv.wait_for(lock, 30s, [&] { return headers_seen; })) return false;
        lock.unlock();
        return c.write("a\r\n{\"code\":5}\r\n0\r\nX-Trailer: t\r\n\r\n");
    });
    http::client client(site.at());
    http::request r("POST", "/v1.41/containers/x/wait");
    int calls = 0;
    std::string body_at_headers = "unset";
    r.on_headers = [&](const http::response& head) {
        ++calls;
        BOOST_TEST(head.status == 200);
        BOOST_TEST(head.header("Content-Type").value() == "application/json");
        std::lock_guard lock(m);
        headers_seen = true;
        cv.notify_all();
    };
    r.on_data = [&](std::string_view chunk) {
        if (body_at_headers == "unset") body_at_headers = std::string(chunk);
    };
    const auto resp = client.send(r);
    BOOST_TEST(resp.status == 200);
    BOOST_TEST(calls == 1);  // not for the 100, not again for the trailers
    BOOST_TEST(body_at_headers == "{\"code\":5}");
}

BOOST_AUTO_TEST_CASE(on_headers_is_called_for_an_error_answer_too) {
    unix_site site;
    fake_server server(site.socket, [](connection& c, const std::string&) { return c.write(answer(404, "gone")); });
    http::client client(site.at());
    http::request r("POST", "/v1.41/containers/x/wait");
    int status = 0;
    r.on_headers = [&](const http::response& head) { status = head.status; };
    BOOST_TEST(client.send(r).status == 404);
    BOOST_TEST(status == 404);
}
