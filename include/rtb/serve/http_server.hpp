// rtb serve's HTTP/1.1 layer, on Boost.Beast and Boost.Asio (headers only;
// dependency('boost')): asynchronous connections on a few io threads (a
// slow or idle peer holds a socket and a few KiB, never a thread), and every
// byte a peer sends bounded (http_limits): the header's size and field
// count, each request's body (the application says how much per request), a
// deadline for the whole request head and a minimum average rate for the
// body (neither renewed by each byte), an idle timeout between requests,
// and caps on connections (in all and per address).
//
// After an answer given before the request's body was read (401, 429, 413,
// 400, ...), the connection is closed: the unread body is drained for a
// moment so the peer gets the answer, and never parsed as a request (no
// request smuggling behind a keep-alive proxy). Header values reach the
// application as sent: nothing is %-decoded. The application runs on io
// threads only for quick decisions; anything slow (the engine, checking an
// upload) it runs elsewhere and answers through the reply it was given.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"
#include "rtb/serve/http_limits.hpp"

namespace rtb::serve {

/// A request as the application sees it once its head is read.
struct http_request {
    std::string method;  ///< as sent
    std::string target;  ///< the request-target as sent (never decoded)
    int version = 11;    ///< 10 or 11
    std::vector<std::pair<std::string, std::string>> fields;  ///< as sent, at most http_limits::max_header_fields
    std::optional<std::uint64_t> content_length;
    bool chunked = false;
    bool keep_alive = true;
    std::string peer;  ///< the peer's address ("127.0.0.1")

    /// The target up to '?', and after it.
    std::string_view path() const noexcept { return std::string_view(target).substr(0, target.find('?')); }
    std::string_view query() const noexcept {
        const auto q = target.find('?');
        return q == std::string::npos ? std::string_view{} : std::string_view(target).substr(q + 1);
    }
    /// The first field named `name` (case-insensitive), or std::nullopt.
    std::optional<std::string_view> field(std::string_view name) const;
    /// How many fields are named `name`.
    std::size_t count(std::string_view name) const;
    /// Whether a body follows the head.
    bool has_body() const noexcept { return chunked || content_length.value_or(0) > 0; }
};

/// An answer. `close`: the connection closes after it.
struct http_response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool close = false;
};

/// Called once, from any thread, with a request's answer.
using http_reply = std::function<void(http_response)>;

/// What the application decides once a request's head is read: answer at
/// once (the body, if any, is never read, and the connection closes after
/// the answer), or read a body of at most `body_limit` bytes (more: 413)
/// into `on_body` (which may throw rtb::error: 400 with its message, 403
/// for errc::unauthorized; the connection then closes) and then answer
/// through `on_complete`.
struct http_plan {
    std::optional<http_response> answer;
    std::uint64_t body_limit = 0;
    std::function<void(std::string_view)> on_body;
    std::function<void(http_reply)> on_complete;
};

/// The application behind the server.
struct http_application {
    /// Runs on an io thread: decide quickly.
    std::function<http_plan(const http_request&)> on_request;
    /// Every answer, just before it is written (`request` as far as it was
    /// read: method and target may be empty): metrics and the log.
    std::function<void(const http_request&, const http_response&)> on_answer;
    /// The body of an answer the HTTP layer gives itself (400, 413, 431, 500).
    std::function<http_response(int status, std::string_view message)> error;
    /// A connection ended without an answer: a deadline passed, a limit was
    /// reached ("header_timeout", "body_timeout", "idle_timeout",
    /// "connection_limit", "address_limit", "write_timeout").
    std::function<void(std::string_view reason)> on_drop;
};

/// The reason phrase of a status code rtb serve sends.
inline std::string_view http_reason(int status) noexcept;

class http_server {
public:
    /// Serves on `listen_fd` (a listening TCP socket; the server owns it and
    /// closes it at stop()) with `io_threads` threads.
    http_server(http_limits limits, http_application app, int listen_fd, std::size_t io_threads = 2);
    ~http_server() { release(); }
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Starts accepting.
    void start();
    /// Stops accepting and every connection; joins the io threads. What a
    /// reply sends after this is dropped. Idempotent.
    void stop();
    /// Drops what remains of stopped connections (their handlers, and what
    /// they hold). Call once nothing can reply anymore (after stop()).
    void release();

    std::size_t open_connections() const noexcept { return open_.load(); }

private:
    class session;
    class request_parser;
    using tcp = boost::asio::ip::tcp;

    void accept();
    void on_accept(boost::system::error_code ec, tcp::socket socket);
    void closed(const std::string& peer);
    void drop(std::string_view reason) const {
        if (app_.on_drop) app_.on_drop(reason);
    }

    http_limits limits_;
    http_application app_;
    std::unique_ptr<boost::asio::io_context> io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::unique_ptr<tcp::acceptor> acceptor_;
    std::unique_ptr<boost::asio::steady_timer> retry_;  // accept() again after EMFILE and the like
    std::size_t io_threads_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> open_{0};
    std::mutex peers_mutex_;
    std::map<std::string, std::size_t> peers_;  // connections per address
    std::atomic<bool> stopped_{false};
    std::once_flag stop_once_;
};

// ---------------------------------------------------------------------------

namespace detail {

inline bool iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto l = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (l(a[i]) != l(b[i])) return false;
    }
    return true;
}

/// Header values an answer may carry: no CR, LF or NUL (no injected header).
inline std::string header_safe(std::string_view v) {
    std::string out;
    for (const char c : v)
        if (c != '\r' && c != '\n' && c != '\0') out += c;
    return out;
}

}  // namespace detail

inline std::optional<std::string_view> http_request::field(std::string_view name) const {
    for (const auto& [k, v] : fields)
        if (detail::iequal(k, name)) return std::string_view(v);
    return std::nullopt;
}

inline std::size_t http_request::count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& f : fields) n += detail::iequal(f.first, name) ? 1 : 0;
    return n;
}

inline std::string_view http_reason(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 411: return "Length Required";
        case 413: return "Payload Too Large";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Unknown";
    }
}

/// The request head into an http_request (at most max_fields fields; a
/// Transfer-Encoding other than "chunked" refused), the body into a sink.
class http_server::request_parser final : public boost::beast::http::basic_parser<true> {
public:
    request_parser(const http_limits& l, std::string peer) : max_fields_(l.max_header_fields) {
        header_limit(l.max_header_bytes);
        // No limit while the head is read: the application decides the body
        // limit from the head (on_head compares Content-Length with it, then
        // sets it for the chunks). Beast compares Content-Length with this
        // at the end of the head, and an empty optional would refuse every
        // length.
        body_limit(std::numeric_limits<std::uint64_t>::max());
        request.peer = std::move(peer);
    }

    http_request request;
    std::function<void(std::string_view)> sink;
    std::optional<rtb::error> sink_error;  ///< what the sink threw (the read then failed)
    bool too_many_fields = false;
    bool bad_transfer_encoding = false;
    std::uint64_t body_received = 0;

private:
    using error_code = boost::system::error_code;
    using string_view = boost::beast::string_view;

    void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                         error_code&) override {
        request.method.assign(method.data(), method.size());
        request.target.assign(target.data(), target.size());
        request.version = version;
    }
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field f, string_view name, string_view value, error_code& ec) override {
        if (request.fields.size() >= max_fields_) {
            too_many_fields = true;
            ec = boost::beast::http::error::header_limit;
            return;
        }
        if (f == boost::beast::http::field::transfer_encoding && !detail::iequal({value.data(), value.size()}, "chunked")) {
            // gzip, identity, "gzip, chunked": what a front proxy makes of them
            // may differ from what we would (a smuggling path); refused.
            bad_transfer_encoding = true;
            ec = boost::beast::http::error::bad_transfer_encoding;
            return;
        }
        request.fields.emplace_back(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    }
    void on_header_impl(error_code&) override {
        request.content_length = content_length() ? std::optional<std::uint64_t>(*content_length()) : std::nullopt;
        request.chunked = chunked();
        request.keep_alive = keep_alive();
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(string_view body, error_code& ec) override {
        deliver({body.data(), body.size()}, ec);
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
        deliver({body.data(), body.size()}, ec);
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    void deliver(std::string_view body, error_code& ec) {
        body_received += body.size();
        if (!sink || body.empty()) return;
        try {
            sink(body);
        } catch (const rtb::error& e) {
            sink_error = e;
        } catch (const std::exception& e) {
            sink_error = rtb::error(errc::io_error, e.what());
        }
        if (sink_error) ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }

    std::size_t max_fields_;
};

/// One connection: reads requests one after another (keep-alive), each
/// under its deadlines, and writes their answers; closes after an early
/// answer, a broken request or a passed deadline.
class http_server::session : public std::enable_shared_from_this<http_server::session> {
public:
    session(http_server& server, tcp::socket socket, std::string peer)
        : server_(server), stream_(std::move(socket)), peer_(std::move(peer)), buffer_(limits().max_header_bytes + 65536) {}
    ~session() { server_.closed(peer_); }

    void run() {
        // The first request's head is due within header_timeout of the accept.
        boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_head(); });
    }

private:
    using error_code = boost::system::error_code;
    const http_limits& limits() const noexcept { return server_.limits_; }

    // Between requests on a kept-alive connection: wait (idle_timeout) for
    // the next request's first byte, then give its head header_timeout.
    void wait_for_next() {
        if (buffer_.size() > 0) return read_head();  // pipelined: already here
        stream_.expires_after(limits().idle_timeout);
        stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec, std::size_t n) {
            if (ec) {
                if (ec == boost::beast::error::timeout) self->server_.drop("idle_timeout");
                return self->close();
            }
            self->buffer_.commit(n);
            self->read_head();
        });
    }

    void read_head() {
        if (server_.stopped_) return close();
        parser_.emplace(limits(), peer_);
        plan_ = {};
        stream_.expires_after(limits().header_timeout);  // once: the whole head, however it trickles
        boost::beast::http::async_read_header(stream_, buffer_, *parser_,
                                              [self = shared_from_this()](error_code ec, std::size_t) { self->on_head(ec); });
    }

    void on_head(error_code ec) {
        namespace http = boost::beast::http;
        if (ec) {
            if (ec == boost::beast::error::timeout) {
                server_.drop("header_timeout");
                return close();
            }
            if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
                ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset)
                return close();
            if (parser_->too_many_fields)
                return fail(431, fmt::format("more than {} header fields", limits().max_header_fields));
            if (ec == http::error::header_limit)
                return fail(431, fmt::format("the request head is larger than {} bytes", limits().max_header_bytes));
            if (parser_->bad_transfer_encoding)
                return fail(400, "Transfer-Encoding other than chunked is not accepted");
            return fail(400, fmt::format("malformed HTTP request ({})", ec.message()));
        }
        const auto& req = parser_->request;
        try {
            plan_ = server_.app_.on_request(req);
        } catch (const std::exception& e) {
            return fail(500, e.what());
        }
        if (plan_.answer) return answer(std::move(*plan_.answer));
        if (req.content_length && *req.content_length > plan_.body_limit)
            return fail(413, fmt::format("the body is larger than {} bytes", plan_.body_limit));
        parser_->body_limit(plan_.body_limit);
        parser_->sink = plan_.on_body;
        body_started_ = std::chrono::steady_clock::now();
        const auto expect = req.field("Expect");
        if (expect && req.has_body() && detail::iequal(*expect, "100-continue") && !parser_->is_done()) {
            // The peer waits for this before it sends the body.
            static const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
            stream_.expires_after(limits().write_timeout);
            return boost::asio::async_write(stream_, boost::asio::buffer(go_on),
                                            [self = shared_from_this()](error_code e, std::size_t) {
                                                if (e) return self->close();
                                                self->read_body();
                                            });
        }
        read_body();
    }

    void read_body() {
        namespace http = boost::beast::http;
        if (parser_->is_done()) return complete();
        // A minimum average rate: the deadline moves only as far as the
        // bytes received so far have earned (body_deadline).
        stream_.expires_at(body_deadline(body_started_, parser_->body_received, limits()));
        http::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (!ec) return self->read_body();
            if (ec == boost::beast::error::timeout) {
                self->server_.drop("body_timeout");
                return self->close();
            }
            if (const auto& e = self->parser_->sink_error)  // the application refused what it read
                return self->fail(e->value() == errc::unauthorized ? 403 : 400, e->what());
            if (ec == http::error::body_limit)
                return self->fail(413, fmt::format("the body is larger than {} bytes", self->plan_.body_limit));
            if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
                ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted)
                return self->close();
            return self->fail(400, fmt::format("malformed request body ({})", ec.message()));
        });
    }

    // The body is in: the application answers, now or later, from any thread.
    void complete() {
        stream_.expires_never();  // the application's time is not the peer's
        auto self = shared_from_this();
        http_reply reply = [self](http_response r) {
            boost::asio::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
                self->answer(std::move(r));
            });
        };
        if (!plan_.on_complete) return answer(server_.app_.error(500, "no handler for this request"));
        try {
            plan_.on_complete(std::move(reply));
        } catch (const std::exception& e) {
            answer(server_.app_.error(500, e.what()));
        }
    }

    void fail(int status, std::string_view why) {
        auto r = server_.app_.error(status, why);
        r.close = true;
        answer(std::move(r));
    }

    void answer(http_response r) {
        if (answered_) return;  // one answer per request
        answered_ = true;
        const auto& req = parser_ ? parser_->request : empty_request();
        // Keep the connection only when this request was read whole.
        const bool body_read = parser_ && parser_->is_done() && !parser_->sink_error;
        keep_ = !r.close && body_read && req.keep_alive && !server_.stopped_;
        if (server_.app_.on_answer) {
            try {
                server_.app_.on_answer(req, r);
            } catch (...) {
            }
        }
        out_ = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", r.status,
                           http_reason(r.status), detail::header_safe(r.content_type), r.body.size());
        for (const auto& [k, v] : r.headers)
            out_ += fmt::format("{}: {}\r\n", detail::header_safe(k), detail::header_safe(v));
        out_ += keep_ ? (req.version == 10 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n";
        out_ += "\r\n";
        out_ += r.body;
        stream_.expires_after(limits().write_timeout);
        boost::asio::async_write(stream_, boost::asio::buffer(out_), [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) {
                if (ec == boost::beast::error::timeout) self->server_.drop("write_timeout");
                return self->close();
            }
            self->out_.clear();
            if (!self->keep_) return self->finish();
            self->answered_ = false;
            self->parser_.reset();
            self->plan_ = {};  // what the application held for this request goes now
            self->wait_for_next();
        });
    }

    // After the last answer: send FIN; if the peer may still be sending
    // (an unread body, unparsed bytes), drain it for a moment so it reads
    // the answer rather than a reset. Drained bytes are never parsed.
    void finish() {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        plan_ = {};
        const bool unread = buffer_.size() > 0 || (parser_ && !parser_->is_done());
        if (!unread || limits().linger.count() <= 0) return close();
        buffer_.consume(buffer_.size());
        stream_.expires_after(limits().linger);  // once: the drain does not extend itself
        drain();
    }

    void drain() {
        stream_.async_read_some(boost::asio::buffer(sink_), [self = shared_from_this()](error_code ec, std::size_t n) {
            self->drained_ += n;
            if (ec || self->drained_ > self->limits().max_linger_bytes) return self->close();
            self->drain();
        });
    }

    void close() {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
        plan_ = {};
    }

    static const http_request& empty_request() {
        static const http_request r;
        return r;
    }

    http_server& server_;
    boost::beast::tcp_stream stream_;
    std::string peer_;
    boost::beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;
    http_plan plan_;
    std::chrono::steady_clock::time_point body_started_{};
    std::string out_;
    std::array<char, 16 * 1024> sink_{};
    std::uint64_t drained_ = 0;
    bool answered_ = false;
    bool keep_ = false;
};

inline http_server::http_server(http_limits limits, http_application app, int listen_fd, std::size_t io_threads)
    : limits_(limits), app_(std::move(app)), io_(std::make_unique<boost::asio::io_context>(static_cast<int>(io_threads))),
      io_threads_(io_threads < 1 ? 1 : io_threads) {
    validate(limits_);
    acceptor_ = std::make_unique<tcp::acceptor>(boost::asio::make_strand(*io_));
    boost::system::error_code ec;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const bool v6 = ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_INET6;
    acceptor_->assign(v6 ? tcp::v6() : tcp::v4(), listen_fd, ec);
    if (ec) {
        ::close(listen_fd);
        throw error(errc::io_error, fmt::format("cannot serve on fd {}: {}", listen_fd, ec.message()));
    }
    acceptor_->non_blocking(true, ec);
    retry_ = std::make_unique<boost::asio::steady_timer>(acceptor_->get_executor());
}

inline void http_server::start() {
    work_.emplace(io_->get_executor());
    boost::asio::dispatch(acceptor_->get_executor(), [this] { accept(); });
    for (std::size_t i = 0; i < io_threads_; ++i) threads_.emplace_back([this] { io_->run(); });
}

inline void http_server::accept() {
    if (stopped_) return;
    acceptor_->async_accept(boost::asio::make_strand(*io_),
                            [this](boost::system::error_code ec, tcp::socket s) { on_accept(ec, std::move(s)); });
}

inline void http_server::on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (stopped_ || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
        // Out of descriptors or memory: the listening socket stays readable,
        // so wait a moment instead of spinning.
        retry_->expires_after(std::chrono::milliseconds(100));
        retry_->async_wait([this](boost::system::error_code e) {
            if (!e) accept();
        });
        return;
    }
    boost::system::error_code peer_ec;
    const auto endpoint = socket.remote_endpoint(peer_ec);
    auto address = endpoint.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    const std::string peer = peer_ec ? std::string("unknown") : address.to_string();
    const char* refused = nullptr;
    {
        std::lock_guard lock(peers_mutex_);
        auto& mine = peers_[peer];
        refused = connection_refusal(open_.load(), mine, limits_);
        if (!refused) {
            ++mine;
            ++open_;
        } else if (mine == 0) {
            peers_.erase(peer);
        }
    }
    if (refused) {
        // Closed at once: a flood costs an accept and a close, nothing held.
        drop(refused);
        boost::system::error_code ignored;
        socket.close(ignored);
    } else {
        socket.set_option(tcp::no_delay(true), peer_ec);
        std::make_shared<session>(*this, std::move(socket), peer)->run();
    }
    accept();
}

inline void http_server::closed(const std::string& peer) {
    std::lock_guard lock(peers_mutex_);
    if (const auto it = peers_.find(peer); it != peers_.end() && --it->second == 0) peers_.erase(it);
    --open_;
}

inline void http_server::stop() {
    std::call_once(stop_once_, [this] {
        stopped_ = true;
        work_.reset();
        io_->stop();
        for (auto& t : threads_) t.join();
        threads_.clear();
        boost::system::error_code ignored;
        acceptor_->close(ignored);
    });
}

inline void http_server::release() {
    stop();
    if (!io_) return;
    // Destroying the context destroys every handler still queued, and with
    // them the sessions (their sockets close, their counts go).
    retry_.reset();
    acceptor_.reset();
    io_.reset();
}

}  // namespace rtb::serve
