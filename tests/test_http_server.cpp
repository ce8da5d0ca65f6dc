// rtb serve's HTTP layer (rtb/serve/http_server.hpp) against raw sockets on
// loopback, with a small application and short limits: what a hostile peer
// gets for a slow head, a trickling body, an oversized head or body, a
// request smuggled behind an early answer, idle and surplus connections,
// odd transfer encodings; and that well-behaved clients (keep-alive,
// pipelining, Expect: 100-continue, answers from other threads) are served.
// Every wait is bounded; no check depends on a wall-clock bound tighter than
// seconds.
#define BOOST_TEST_MODULE http_server
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtb/serve/http_server.hpp"
#include "rtb/serve/listen_address.hpp"

using namespace rtb;
using namespace rtb::serve;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

std::size_t count_of(std::string_view s, std::string_view part) {
    std::size_t n = 0;
    for (auto at = s.find(part); at != std::string_view::npos; at = s.find(part, at + 1)) ++n;
    return n;
}

/// A small application: a few paths that show what the layer does.
struct test_app {
    std::mutex m;
    std::vector<std::string> targets;  // every request the application saw
    std::vector<std::string> drops;
    std::vector<int> answered;
    std::vector<std::thread> repliers;
    std::string body;

    ~test_app() {
        for (auto& t : repliers) t.join();
    }

    http_response text(int status, std::string body_text, bool close = false) {
        http_response r;
        r.status = status;
        r.content_type = "text/plain";
        r.body = std::move(body_text);
        r.close = close;
        return r;
    }

    http_application make() {
        http_application a;
        a.on_request = [this](const http_request& req) {
            {
                std::lock_guard lock(m);
                targets.push_back(req.method + " " + req.target);
            }
            http_plan p;
            const auto path = req.path();
            if (path == "/early") {
                p.answer = text(401, "go away", true);
            } else if (path == "/echo-key") {
                p.answer = text(200, std::string(req.field("X-API-Key").value_or("(none)")));
            } else if (path == "/upload" || path == "/slow-app" || path == "/refuse" || path == "/forbid") {
                p.body_limit = 1000;
                p.on_body = [this, path = std::string(path)](std::string_view b) {
                    if (path == "/refuse") throw error(errc::invalid_argument, "the form is broken at byte 3");
                    if (path == "/forbid") throw error(errc::unauthorized, "not your image name");
                    std::lock_guard lock(m);
                    body.append(b);
                };
                p.on_complete = [this, slow = path == "/slow-app"](http_reply reply) {
                    std::lock_guard lock(m);
                    auto answer = text(200, fmt::format("got {} bytes", body.size()));
                    // From another thread, later: as the engine pool answers.
                    repliers.emplace_back([reply, answer, slow] {
                        if (slow) std::this_thread::sleep_for(200ms);
                        reply(answer);
                    });
                };
            } else {
                p.answer = text(200, "ok " + std::string(path));
            }
            return p;
        };
        a.on_answer = [this](const http_request&, const http_response& r) {
            std::lock_guard lock(m);
            answered.push_back(r.status);
        };
        a.error = [this](int status, std::string_view message) { return text(status, std::string(message)); };
        a.on_drop = [this](std::string_view reason) {
            std::lock_guard lock(m);
            drops.emplace_back(reason);
        };
        return a;
    }

    std::size_t requests() {
        std::lock_guard lock(m);
        return targets.size();
    }
    /// Whether a drop for `reason` was reported, waiting up to 2 s for it:
    /// the peer may see its connection closed before the server's handler
    /// reports why (Beast closes the socket when a deadline passes).
    bool dropped(std::string_view reason) {
        for (int i = 0; i < 200; ++i) {
            {
                std::lock_guard lock(m);
                if (std::find(drops.begin(), drops.end(), reason) != drops.end()) return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
};

http_limits short_limits() {
    http_limits l;
    l.header_timeout = 600ms;
    l.idle_timeout = 600ms;
    l.body_grace = 300ms;
    l.min_body_rate = 1000;
    l.write_timeout = 2s;
    l.linger = 300ms;
    l.max_header_fields = 16;
    l.max_header_bytes = 4096;
    l.max_small_body = 100;
    l.max_connections = 64;
    l.max_connections_per_address = 8;
    return l;
}

/// A server on 127.0.0.1 with the test application.
struct served {
    test_app app;
    int port = 0;
    std::unique_ptr<http_server> server;
    explicit served(http_limits l = short_limits()) {
        auto fd = open_listener(listen_address(parse_listen("127.0.0.1:0"), false));
        port = check_inherited_listener(fd.get(), false).port();
        server = std::make_unique<http_server>(l, app.make(), fd.release(), 2);
        server->start();
    }
    ~served() { server.reset(); }
};

/// A raw client connection.
struct peer {
    int fd = -1;
    explicit peer(int port) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~peer() {
        if (fd >= 0) ::close(fd);
    }
    /// Sends everything; false when the peer closed on us.
    bool send(std::string_view s) {
        while (!s.empty()) {
            const auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    /// What arrives within `limit` (stops early at EOF, or once `until` is in).
    struct received {
        std::string data;
        bool closed = false;
    };
    received read(std::chrono::milliseconds limit, std::string_view until = {}) {
        received r;
        const auto end = clock_type::now() + limit;
        while (clock_type::now() < end) {
            pollfd p{fd, POLLIN, 0};
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()).count();
            if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left))) <= 0) continue;
            char buf[65536];
            const auto n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                r.closed = true;
                break;
            }
            r.data.append(buf, static_cast<std::size_t>(n));
            if (!until.empty() && count_of(r.data, until) > 0 && r.data.find("\r\n\r\n") != std::string::npos) {
                // A whole answer: its head and the Content-Length bytes after it.
                const auto head_end = r.data.find("\r\n\r\n") + 4;
                const auto cl = r.data.find("Content-Length: ");
                if (cl == std::string::npos || cl > head_end) break;  // a head alone (100 Continue)
                const auto len = std::stoul(r.data.substr(cl + 16));
                if (r.data.size() >= head_end + len) break;
            }
        }
        return r;
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(requests_on_one_connection_are_answered_in_order_and_it_stays_open) {
    served s;
    peer c(s.port);
    BOOST_TEST(c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"));  // pipelined
    auto r = c.read(3s, "ok /b");  // well within the idle timeout that follows
    BOOST_TEST(count_of(r.data, "HTTP/1.1 200 OK") == 2u, r.data);
    BOOST_TEST(r.data.find("ok /a") < r.data.find("ok /b"));
    BOOST_TEST(!r.closed);
    BOOST_TEST(c.send("GET /c HTTP/1.1\r\n\r\n"));
    r = c.read(3s, "HTTP/1.1");
    BOOST_TEST(contains(r.data, "ok /c"), r.data);
}

BOOST_AUTO_TEST_CASE(header_values_reach_the_application_as_sent) {
    served s;
    peer c(s.port);
    BOOST_TEST(c.send("GET /echo-key HTTP/1.1\r\nX-API-Key: KEY%00junk\r\n\r\n"));
    const auto r = c.read(3s, "HTTP/1.1");
    BOOST_TEST(r.data.ends_with("\r\n\r\nKEY%00junk"), r.data);
}

BOOST_AUTO_TEST_CASE(after_an_early_answer_the_unread_body_is_never_parsed) {
    served s;
    peer c(s.port);
    const std::string smuggled = "GET /echo-key HTTP/1.1\r\nX-API-Key: secret-0123456789\r\n\r\n";
    BOOST_TEST(c.send(fmt::format("POST /early HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}", smuggled.size(), smuggled)));
    const auto r = c.read(5s);
    BOOST_TEST(count_of(r.data, "HTTP/1.1 ") == 1u, r.data);
    BOOST_TEST(contains(r.data, "HTTP/1.1 401 Unauthorized"));
    BOOST_TEST(contains(r.data, "Connection: close"));
    BOOST_TEST(r.closed, "the connection ends after the early answer");
    BOOST_TEST(s.app.requests() == 1u, "the body never became a request");
}

BOOST_AUTO_TEST_CASE(too_many_or_too_large_header_fields_are_431_and_close) {
    served s;
    {
        peer c(s.port);
        std::string head = "GET /a HTTP/1.1\r\n";
        for (int i = 0; i < 40; ++i) head += fmt::format("X-F{}: v\r\n", i);
        BOOST_TEST(c.send(head + "\r\n"));
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 431 "), r.data);
        BOOST_TEST(contains(r.data, "more than 16 header fields"), r.data);
        BOOST_TEST(r.closed);
    }
    {
        // A flood of header bytes: refused at the limit, the rest never kept.
        peer c(s.port);
        std::string flood = "GET /a HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'h');
        c.send(flood);
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 431 "), r.data);
        BOOST_TEST(contains(r.data, "larger than 4096 bytes"), r.data);
        BOOST_TEST(r.closed);
    }
    BOOST_TEST(s.app.requests() == 0u);
}

BOOST_AUTO_TEST_CASE(a_slow_head_is_cut_at_its_deadline_however_it_trickles) {
    served s;
    peer c(s.port);
    const auto start = clock_type::now();
    c.send("GET /a HTTP/1.1\r\n");
    bool cut = false;
    for (int i = 0; i < 40 && !cut; ++i) {  // one header line every 100 ms, for at most 4 s
        if (!c.send(fmt::format("X-Slow-{}: v\r\n", i))) cut = true;
        const auto r = c.read(100ms);
        cut = cut || r.closed;
    }
    // A deadline renewed by each line (every 100 ms, against 600 ms) would
    // never pass within the loop's 4 s: the cut itself is the proof.
    BOOST_TEST(cut, "the connection was closed");
    BOOST_TEST_MESSAGE("cut after " << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start).count()
                                    << " ms");
    BOOST_TEST(s.app.dropped("header_timeout"));
    BOOST_TEST(s.app.requests() == 0u);
}

BOOST_AUTO_TEST_CASE(a_trickling_body_is_cut_once_it_falls_below_the_minimum_rate) {
    served s;
    peer c(s.port);
    c.send("POST /upload HTTP/1.1\r\nContent-Length: 900\r\n\r\n");
    const auto start = clock_type::now();
    bool cut = false;
    for (int i = 0; i < 40 && !cut; ++i) {  // 10 bytes per second against a minimum of 1000
        if (!c.send("x")) cut = true;
        cut = cut || c.read(100ms).closed;
    }
    BOOST_TEST(cut, "cut within the loop's 4 s, though each byte came well within any per-read timeout");
    BOOST_TEST_MESSAGE("cut after " << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start).count()
                                    << " ms");
    BOOST_TEST(s.app.dropped("body_timeout"));
}

BOOST_AUTO_TEST_CASE(a_body_at_the_rate_is_read_whole_and_answered) {
    served s;
    peer c(s.port);
    c.send("POST /upload HTTP/1.1\r\nContent-Length: 900\r\n\r\n");
    for (int i = 0; i < 3; ++i) {
        c.send(std::string(300, 'b'));
        std::this_thread::sleep_for(100ms);
    }
    const auto r = c.read(3s, "HTTP/1.1");
    BOOST_TEST(contains(r.data, "got 900 bytes"), r.data);
}

BOOST_AUTO_TEST_CASE(a_body_over_its_limit_is_413_by_length_or_by_chunks) {
    served s;
    {
        peer c(s.port);
        c.send("POST /upload HTTP/1.1\r\nContent-Length: 400000000\r\n\r\n");
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 413 "), r.data);
        BOOST_TEST(r.closed);
    }
    {
        peer c(s.port);
        std::string chunked = "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 3; ++i) chunked += "258\r\n" + std::string(600, 'c') + "\r\n";
        chunked += "0\r\n\r\n";
        c.send(chunked);
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 413 "), r.data);
        BOOST_TEST(r.closed);
    }
    {
        // One chunk announced larger than the whole limit: refused before its bytes.
        peer c(s.port);
        c.send("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n");
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 413 "), r.data);
        BOOST_TEST(r.closed);
    }
}

BOOST_AUTO_TEST_CASE(what_the_body_reader_refuses_is_the_clients_error_and_closes) {
    served s;
    {
        peer c(s.port);
        c.send("POST /refuse HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 400 "), r.data);
        BOOST_TEST(contains(r.data, "the form is broken at byte 3"), r.data);
        BOOST_TEST(r.closed);
    }
    {
        peer c(s.port);
        c.send("POST /forbid HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 403 "), r.data);
    }
}

BOOST_AUTO_TEST_CASE(transfer_encodings_other_than_chunked_are_refused) {
    served s;
    for (const char* head : {"POST /upload HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                             "POST /upload HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                             "POST /upload HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                             "POST /upload HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"}) {
        peer c(s.port);
        c.send(head);
        const auto r = c.read(3s);
        BOOST_TEST(contains(r.data, "HTTP/1.1 400 "), head << " -> " << r.data);
        BOOST_TEST(r.closed, head);
    }
    BOOST_TEST(s.app.requests() == 0u);
}

BOOST_AUTO_TEST_CASE(expect_continue_gets_its_interim_answer_then_the_answer) {
    served s;
    peer c(s.port);
    c.send("POST /upload HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto r = c.read(2s, "100 Continue");
    BOOST_TEST(r.data.starts_with("HTTP/1.1 100 Continue\r\n\r\n"), r.data);
    c.send("hello");
    r = c.read(3s, "HTTP/1.1 200");
    BOOST_TEST(contains(r.data, "got 5 bytes"), r.data);
}

BOOST_AUTO_TEST_CASE(an_idle_connection_is_closed_after_the_idle_timeout) {
    served s;
    peer c(s.port);
    c.send("GET /a HTTP/1.1\r\n\r\n");
    BOOST_TEST(contains(c.read(2s, "HTTP/1.1").data, "ok /a"));
    const auto r = c.read(3s);
    BOOST_TEST(r.closed);
    BOOST_TEST(s.app.dropped("idle_timeout"));
}

BOOST_AUTO_TEST_CASE(connections_past_the_caps_are_closed_at_once_and_the_others_served) {
    served s;
    std::vector<std::unique_ptr<peer>> held;
    for (int i = 0; i < 8; ++i) held.push_back(std::make_unique<peer>(s.port));
    std::this_thread::sleep_for(100ms);
    peer extra(s.port);
    const auto r = extra.read(2s);
    BOOST_TEST(r.closed, "the ninth connection from one address is closed");
    BOOST_TEST(r.data.empty());
    BOOST_TEST(s.app.dropped("address_limit"));
    held[0]->send("GET /still HTTP/1.1\r\n\r\n");
    BOOST_TEST(contains(held[0]->read(2s, "HTTP/1.1").data, "ok /still"));
    held.clear();
    std::this_thread::sleep_for(200ms);
    peer again(s.port);
    again.send("GET /again HTTP/1.1\r\n\r\n");
    BOOST_TEST(contains(again.read(2s, "HTTP/1.1").data, "ok /again"), "the count goes down as connections close");
}

BOOST_AUTO_TEST_CASE(slow_and_idle_peers_hold_no_thread_and_others_are_answered) {
    auto l = short_limits();
    l.header_timeout = 5s;
    l.idle_timeout = 5s;
    l.max_connections_per_address = 256;
    l.max_connections = 256;
    served s(l);
    std::vector<std::unique_ptr<peer>> slow;
    for (int i = 0; i < 100; ++i) {
        slow.push_back(std::make_unique<peer>(s.port));
        if (i % 2 == 0) slow.back()->send("GET /a HTTP/1.1\r\nX-Slow: ");  // a head that never ends
    }
    // Two io threads, a hundred peers holding connections: answered anyway.
    const auto start = clock_type::now();
    peer c(s.port);
    c.send("GET /fine HTTP/1.1\r\n\r\n");
    const auto r = c.read(3s, "HTTP/1.1");
    BOOST_TEST(contains(r.data, "ok /fine"), r.data);
    BOOST_TEST_MESSAGE("answered in " << std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start).count()
                                      << " ms beside 100 slow and idle peers");
    BOOST_TEST(s.server->open_connections() >= 100u);
}

BOOST_AUTO_TEST_CASE(an_answer_from_another_thread_later_is_written) {
    served s;
    peer c(s.port);
    c.send("POST /slow-app HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    const auto r = c.read(3s, "HTTP/1.1");
    BOOST_TEST(contains(r.data, "got 3 bytes"), r.data);
}

BOOST_AUTO_TEST_CASE(stopping_closes_every_connection_and_frees_the_port) {
    auto s = std::make_unique<served>();
    const int port = s->port;
    peer idle(port);
    peer busy(port);
    busy.send("GET /a HTTP/1.1\r\nX-Slow: ");
    s->server->stop();
    s->server->release();
    BOOST_TEST(idle.read(2s).closed);
    BOOST_TEST(busy.read(2s).closed);
    s.reset();
    auto again = open_listener(listen_address(parse_listen(fmt::format("127.0.0.1:{}", port)), false));
    BOOST_TEST(again.get() >= 0);
}
