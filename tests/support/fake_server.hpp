// A tiny scripted HTTP server for tests, on a unix socket or 127.0.0.1: it
// accepts connections on a thread and hands each request's head to a
// handler that writes whatever bytes the test wants (valid HTTP, garbage, a
// stall). Loopback and unix sockets only; stops and closes everything when
// destroyed.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace rtb::test {

/// One accepted connection, as a handler sees it.
class connection {
public:
    explicit connection(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}

    /// Writes all of `bytes`; false when the peer is gone.
    bool write(std::string_view bytes) {
        while (!bytes.empty()) {
            const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    /// Reads up to `n` bytes (buffered first); empty when the peer closed.
    std::string read_some(std::size_t n = 65536) {
        if (!buffer_.empty()) {
            std::string out = buffer_.substr(0, n);
            buffer_.erase(0, out.size());
            return out;
        }
        std::string out(n, '\0');
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r < 0 && errno != EINTR) return {};
            if (r > 0) break;
            if (stopping_) return {};
        }
        const auto got = ::recv(fd_, out.data(), n, 0);
        if (got <= 0) return {};
        out.resize(static_cast<std::size_t>(got));
        return out;
    }

    /// Reads a request head (through the blank line); empty when the peer closed.
    std::string read_head() {
        while (buffer_.find("\r\n\r\n") == std::string::npos) {
            std::string more(65536, '\0');
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r == 0) {
                if (stopping_) return {};
                continue;
            }
            if (r < 0) return {};
            const auto got = ::recv(fd_, more.data(), more.size(), 0);
            if (got <= 0) return {};
            buffer_.append(more.data(), static_cast<std::size_t>(got));
        }
        const auto end = buffer_.find("\r\n\r\n") + 4;
        std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end);
        return head;
    }

    /// Reads a chunked request body, calling `on_bytes` for its data; false
    /// when the stream broke off.
    bool read_chunked(const std::function<void(std::string_view)>& on_bytes) {
        for (;;) {
            std::string line;
            if (!read_line(line)) return false;
            const std::size_t size = std::stoul(line, nullptr, 16);
            std::size_t left = size;
            while (left > 0) {
                auto part = read_some(left);
                if (part.empty()) return false;
                on_bytes(part);
                left -= part.size();
            }
            std::string crlf;
            if (!read_line(crlf)) return false;
            if (size == 0) return true;
        }
    }

    /// Reads a body of `n` bytes (Content-Length).
    std::string read_exact(std::size_t n) {
        std::string out;
        while (out.size() < n) {
            auto part = read_some(n - out.size());
            if (part.empty()) break;
            out += part;
        }
        return out;
    }

    /// Blocks until the peer closes the connection (or the server stops);
    /// true when the peer closed it.
    bool wait_for_close() {
        for (;;) {
            if (!buffer_.empty()) buffer_.clear();
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r < 0 && errno != EINTR) return true;
            if (r > 0) {
                char c[4096];
                if (::recv(fd_, c, sizeof c, 0) <= 0) return true;
            } else if (stopping_) {
                return false;
            }
        }
    }

    int fd() const noexcept { return fd_; }

private:
    bool read_line(std::string& line) {
        line.clear();
        for (;;) {
            const auto nl = buffer_.find("\r\n");
            if (nl != std::string::npos) {
                line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 2);
                return true;
            }
            std::string more(4096, '\0');
            pollfd p{fd_, POLLIN, 0};
            const int r = ::poll(&p, 1, 50);
            if (r == 0) {
                if (stopping_) return false;
                continue;
            }
            if (r < 0) return false;
            const auto got = ::recv(fd_, more.data(), more.size(), 0);
            if (got <= 0) return false;
            buffer_.append(more.data(), static_cast<std::size_t>(got));
        }
    }

    int fd_;
    const std::atomic<bool>& stopping_;
    std::string buffer_;
};

/// Handles one request on a connection; return false to close the connection.
using handler = std::function<bool(connection&, const std::string& head)>;

/// The request line's target ("/v1.41/_ping") of a request head.
inline std::string target_of(const std::string& head) {
    const auto sp = head.find(' ');
    const auto sp2 = head.find(' ', sp + 1);
    return head.substr(sp + 1, sp2 - sp - 1);
}

/// A header's value in a request head ("" when absent); case-insensitive name.
inline std::string header_of(const std::string& head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const auto start = pos + 2;
        const auto end = head.find("\r\n", start);
        const auto line = std::string_view(head).substr(start, end - start);
        const auto colon = line.find(':');
        if (colon == name.size()) {
            bool same = true;
            for (std::size_t i = 0; i < colon; ++i)
                same = same && std::tolower(static_cast<unsigned char>(line[i])) ==
                                   std::tolower(static_cast<unsigned char>(name[i]));
            if (same) {
                auto v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                return std::string(v);
            }
        }
        pos = end;
    }
    return {};
}

/// A simple complete answer.
inline std::string answer(int status, std::string_view body, std::string_view extra_headers = {},
                          std::string_view content_type = "application/json") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + std::string(content_type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) + "\r\n" +
           std::string(body);
}

class fake_server {
public:
    /// Listens on a unix socket at `socket_path`.
    fake_server(const std::filesystem::path& socket_path, handler h) : handler_(std::move(h)), path_(socket_path) {
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        const auto s = socket_path.string();
        if (s.size() >= sizeof a.sun_path) throw std::runtime_error("socket path too long");
        std::memcpy(a.sun_path, s.c_str(), s.size() + 1);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0)
            throw std::runtime_error("fake_server: cannot listen on " + s + ": " + std::strerror(errno));
        start();
    }
    /// Listens on 127.0.0.1 at a free port.
    explicit fake_server(handler h) : handler_(std::move(h)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error(std::string("fake_server: cannot listen on 127.0.0.1: ") + std::strerror(errno));
        port_ = ntohs(a.sin_port);
        start();
    }
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;
    ~fake_server() {
        stopping_ = true;
        if (acceptor_.joinable()) acceptor_.join();
        for (auto& t : workers_) t.join();
        ::close(listen_fd_);
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove(path_, ec);
        }
    }

    int port() const noexcept { return port_; }
    /// Connections accepted so far.
    int connections() const noexcept { return accepted_; }
    /// Requests handled so far.
    int requests() const noexcept { return requests_; }

private:
    void start() {
        acceptor_ = std::thread([this] {
            while (!stopping_) {
                pollfd p{listen_fd_, POLLIN, 0};
                if (::poll(&p, 1, 50) <= 0) continue;
                const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) continue;
                ++accepted_;
                std::lock_guard lock(mutex_);
                workers_.emplace_back([this, fd] {
                    connection c(fd, stopping_);
                    while (!stopping_) {
                        const auto head = c.read_head();
                        if (head.empty()) break;
                        ++requests_;
                        if (!handler_(c, head)) break;
                    }
                    ::close(fd);
                });
            }
        });
    }

    handler handler_;
    std::filesystem::path path_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> accepted_{0}, requests_{0};
    std::mutex mutex_;
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

/// Open file descriptors of this process (for leak checks).
inline std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

}  // namespace rtb::test
