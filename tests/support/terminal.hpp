// Test support for terminal output: a real pseudo-terminal to write to, and a
// tiny screen model that replays what was written (printable text, CR, LF,
// cursor up, erase below) into the lines a person would see.
#pragma once

#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rtb::test {

/// A pty of the given size; out() is a FILE* on its terminal side, and
/// everything written there is collected from the other side.
class pseudo_terminal {
public:
    pseudo_terminal(int cols, int rows) {
        winsize ws{};
        ws.ws_col = static_cast<unsigned short>(cols);
        ws.ws_row = static_cast<unsigned short>(rows);
        if (::openpty(&master_, &slave_, nullptr, nullptr, &ws) != 0) throw std::runtime_error("openpty failed");
        out_ = ::fdopen(slave_, "w");
        if (!out_) throw std::runtime_error("fdopen failed");
        reader_ = std::thread([this] {
            char buf[4096];
            while (true) {
                const auto n = ::read(master_, buf, sizeof buf);
                if (n > 0) {
                    captured_.append(buf, static_cast<std::size_t>(n));
                } else if (n < 0 && errno == EINTR) {
                    continue;
                } else {
                    break;  // EIO once the terminal side is closed
                }
            }
        });
    }
    pseudo_terminal(const pseudo_terminal&) = delete;
    pseudo_terminal& operator=(const pseudo_terminal&) = delete;
    ~pseudo_terminal() {
        close_terminal_side();
        if (reader_.joinable()) reader_.join();
        ::close(master_);
    }

    std::FILE* out() const noexcept { return out_; }

    /// Closes the terminal side and returns all that was written to it.
    const std::string& output() {
        close_terminal_side();
        if (reader_.joinable()) reader_.join();
        return captured_;
    }

private:
    void close_terminal_side() {
        if (out_) {
            std::fclose(out_);  // closes slave_ too
            out_ = nullptr;
        }
    }
    int master_ = -1;
    int slave_ = -1;
    std::FILE* out_ = nullptr;
    std::thread reader_;
    std::string captured_;
};

/// A pipe: out() is a FILE* on its write end; output() is all written to it.
class pipe_capture {
public:
    pipe_capture() {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
        read_ = fds[0];
        out_ = ::fdopen(fds[1], "w");
        reader_ = std::thread([this] {
            char buf[4096];
            while (true) {
                const auto n = ::read(read_, buf, sizeof buf);
                if (n > 0) captured_.append(buf, static_cast<std::size_t>(n));
                else if (n < 0 && errno == EINTR) continue;
                else break;
            }
        });
    }
    pipe_capture(const pipe_capture&) = delete;
    pipe_capture& operator=(const pipe_capture&) = delete;
    ~pipe_capture() {
        output();
        ::close(read_);
    }
    std::FILE* out() const noexcept { return out_; }
    const std::string& output() {
        if (out_) {
            std::fclose(out_);
            out_ = nullptr;
        }
        if (reader_.joinable()) reader_.join();
        return captured_;
    }

private:
    int read_ = -1;
    std::FILE* out_ = nullptr;
    std::thread reader_;
    std::string captured_;
};

/// Replays terminal output: printable bytes, '\r', '\n' (to the start of the
/// next line, as a tty with ONLCR shows it), ESC[nA (cursor up),
/// ESC[J (erase to the end of the screen). Any other escape sequence is an
/// error (the logger must not send what this model does not know).
inline std::vector<std::string> screen(const std::string& bytes) {
    std::vector<std::string> lines(1);
    std::size_t row = 0, col = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (c == '\r') {
            col = 0;
        } else if (c == '\n') {  // as a tty with ONLCR (the default) shows it
            col = 0;
            ++row;
            if (row >= lines.size()) lines.resize(row + 1);
        } else if (c == '\x1b') {
            if (i + 1 >= bytes.size() || bytes[i + 1] != '[') throw std::runtime_error("unknown escape");
            std::size_t j = i + 2;
            std::size_t n = 0;
            bool has_n = false;
            while (j < bytes.size() && bytes[j] >= '0' && bytes[j] <= '9') {
                n = n * 10 + static_cast<std::size_t>(bytes[j] - '0');
                has_n = true;
                ++j;
            }
            if (j >= bytes.size()) throw std::runtime_error("truncated escape");
            if (bytes[j] == 'A') {
                row -= std::min(row, has_n ? n : 1);
            } else if (bytes[j] == 'J') {
                if (lines[row].size() > col) lines[row].resize(col);
                lines.resize(row + 1);
            } else {
                throw std::runtime_error(std::string("unexpected escape final byte ") + bytes[j]);
            }
            i = j;
        } else {
            auto& line = lines[row];
            if (line.size() < col) line.resize(col, ' ');
            if (col < line.size()) line[col] = c;
            else line += c;
            ++col;
        }
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

}  // namespace rtb::test
