// rtb events: decodes a recorded engine stream (Docker/Podman JSON) or a
// BuildKit plain log into typed events, one per line.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "cli.hpp"
#include "rtb/policy/redactor.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/stream/buildkit_plain.hpp"
#include "rtb/stream/detect.hpp"
#include "rtb/stream/engine_stream.hpp"
#include "rtb/stream/event_text.hpp"
#include "files.hpp"
#include "rtb/text.hpp"

namespace rtb::cli {

namespace {

/// Prints each event as one line on stdout: human text or a JSON object.
/// Secrets (RTB_API_KEY, credential patterns) are masked. Lines are written
/// 64 KiB at a time (a write per event cost more than the event); flush()
/// writes the rest.
class event_printer {
public:
    event_printer(bool json, redactor r) : json_(json), redactor_(std::move(r)) { buf_.reserve(batch + 4096); }
    void on_event(const build_event& e) {
        auto filter = [this](std::string_view s) { return redactor_.apply(s, scratch_); };
        if (json_) append_event_json(buf_, e, filter);
        else append_event_text(buf_, e, filter);
        buf_ += '\n';
        if (buf_.size() >= batch) flush();
    }
    void flush() {
        std::fwrite(buf_.data(), 1, buf_.size(), stdout);
        buf_.clear();
    }

private:
    static constexpr std::size_t batch = 64 * 1024;
    bool json_;
    redactor redactor_;
    std::string buf_, scratch_;
};

class input {
public:
    explicit input(const std::string& path) : name_(path == "-" ? "stdin" : path) {
        if (path == "-") {
            fd_ = STDIN_FILENO;
        } else {
            owned_ = file_descriptor(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!owned_) throw_io("open", path);
            fd_ = owned_.get();
        }
    }
    /// Reads up to buf.size() bytes; 0 at the end.
    std::size_t read(char* buf, std::size_t size) {
        while (true) {
            const auto n = ::read(fd_, buf, size);
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) throw_io("read", name_);
        }
    }
    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
    file_descriptor owned_;
    int fd_ = -1;
};

constexpr std::size_t chunk_size = 64 * 1024;

template <class Decoder>
int drain(Decoder& decoder, input& in, std::string_view head) {
    decoder.feed(head);
    auto buf = std::make_unique_for_overwrite<char[]>(chunk_size);
    while (const auto n = in.read(buf.get(), chunk_size)) decoder.feed({buf.get(), n});
    decoder.finish();
    return decoder.summary().failed() ? negative : ok;
}

template <class Sink>
int decode(Sink& sink, stream_format format, input& in, std::string_view head) {
    if (format == stream_format::engine_json) {
        engine_stream_decoder<Sink> d(sink, {.max_line = std::size_t{16} << 20, .source = in.name()});
        return drain(d, in, head);
    }
    buildkit_plain_parser<Sink> p(sink, {.max_line = std::size_t{16} << 20, .source = in.name()});
    return drain(p, in, head);
}

}  // namespace

void add_events(CLI::App& command, action& run) {
    struct options {
        std::string file;
        std::string format = "auto";
        bool json = false;
        bool live = false;
    };
    auto o = std::make_shared<options>();
    auto* cmd = &command;
    cmd->add_option("file", o->file, "The recorded stream or log; - for stdin")->required();
    cmd->add_flag("--json", o->json, "One JSON object per event");
    cmd->add_option("--format", o->format, "auto (by the first bytes), engine (JSON lines) or plain (BuildKit)")
        ->check(CLI::IsMember({"auto", "engine", "plain"}));
    cmd->add_flag("--live", o->live,
                  "Show the stream on stderr as rtb build does (progress bars on a terminal) instead of printing events");
    cmd->get_option("--live")->excludes("--json");
    cmd->callback([o, &run] {
        run = [o]() -> int {
            input in(o->file);
            // read until the first bytes tell the format
            std::string head;
            stream_format format = o->format == "engine"  ? stream_format::engine_json
                                   : o->format == "plain" ? stream_format::buildkit_plain
                                                          : stream_format::undecided;
            if (format == stream_format::undecided) {
                char buf[4096];
                while ((format = detect_stream_format(head)) == stream_format::undecided) {
                    const auto n = in.read(buf, sizeof buf);
                    if (n == 0) break;
                    head.append(buf, n);
                }
                if (format == stream_format::undecided) return ok;  // empty (or blank) input: no events
                if (format == stream_format::unknown) {
                    throw error(errc::parse_error,
                                fmt::format("{}: neither an engine JSON stream nor a BuildKit plain log (it starts "
                                            "with {}); say which with --format",
                                            in.name(), excerpt(head.substr(0, head.find('\n')), 40)));
                }
            }
            redactor secrets;
            if (const char* key = std::getenv("RTB_API_KEY")) secrets.add_secret(key);
            int status = ok;
            if (o->live) {
                stderr_logger logger(stderr_logger::options{}, secrets);
                status = decode(logger, format, in, head);
            } else {
                static char out_buffer[1 << 16];
                std::setvbuf(stdout, out_buffer, _IOFBF, sizeof out_buffer);
                event_printer printer(o->json, secrets);
                try {
                    status = decode(printer, format, in, head);
                    printer.flush();
                } catch (...) {
                    printer.flush();  // the events before the error are still printed
                    std::fflush(stdout);
                    throw;
                }
            }
            if (std::fflush(stdout) != 0) throw_io("write", "stdout");
            return status;
        };
    });
}

}  // namespace rtb::cli
