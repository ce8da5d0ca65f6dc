// Parallel, deterministic gzip of a ByteSource (pigz's scheme): the input is
// cut into fixed-size blocks, each deflated on a worker and ended on a byte
// boundary as a non-final block, so the output is one gzip member with the
// same bytes whatever the number of threads or read sizes. A block goes
// through libdeflate (alone: it takes no dictionary) or zlib (with the
// previous 32 KiB of input as its dictionary). The header is fixed: no name,
// no time, no extra flags, OS "unknown" (255).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <libdeflate.h>
#include <zlib.h>

#include <fmt/format.h>

#include "rtb/context/byte_source.hpp"
#include "rtb/context/detail/deflate_blocks.hpp"
#include "rtb/context/gzip_options.hpp"
#include "rtb/detail/parallel.hpp"
#include "rtb/error.hpp"

namespace rtb {

/// Compresses `source` into one gzip member. Memory stays bounded by about
/// 2 x jobs blocks. The output depends only on the input, the level, the
/// block size and the codec.
template <ByteSource S>
class gzip_stream {
public:
    explicit gzip_stream(S source, gzip_options options = {});
    gzip_stream(gzip_stream&&) noexcept = default;
    gzip_stream& operator=(gzip_stream&&) noexcept = default;
    ~gzip_stream();

    std::size_t read(std::span<std::byte> buf);

    /// Uncompressed bytes consumed so far.
    std::uint64_t bytes_in() const noexcept { return state_->total_in; }

private:
    struct block {
        std::string input;
        std::string dictionary;
        std::string output;
        std::size_t in_size = 0;
        std::uint32_t crc = 0;
        bool last = false;
    };
    struct state;
    std::unique_ptr<state> state_;
};

// ---------------------------------------------------------------------------

namespace detail {

/// A fixed set of threads running submitted tasks in order of submission.
class worker_pool {
public:
    explicit worker_pool(unsigned n) {
        for (unsigned i = 0; i < n; ++i)
            threads_.emplace_back([this] {
                while (true) {
                    std::function<void()> task;
                    {
                        std::unique_lock lock(m_);
                        cv_.wait(lock, [&] { return stop_ || !q_.empty(); });
                        if (q_.empty()) return;
                        task = std::move(q_.front());
                        q_.pop_front();
                    }
                    task();
                }
            });
    }
    ~worker_pool() {
        {
            std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        // jthreads join here, after the queue has drained
    }
    void submit(std::function<void()> task) {
        {
            std::lock_guard lock(m_);
            q_.push_back(std::move(task));
        }
        cv_.notify_one();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> q_;
    bool stop_ = false;
    std::vector<std::jthread> threads_;  // last: joined before the members above go away
};

/// One raw-deflate stream per thread and level, reset between blocks.
class deflater {
public:
    explicit deflater(int level) : level_(level) {
        if (deflateInit2(&z_, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw error(errc::io_error, "zlib: cannot initialize deflate");
    }
    ~deflater() { deflateEnd(&z_); }
    deflater(const deflater&) = delete;
    deflater& operator=(const deflater&) = delete;
    int level() const noexcept { return level_; }

    /// Deflates `in` after `dict`, ending with a sync flush (or the final
    /// block when `last`), into `out`.
    void run(std::string_view dict, std::string_view in, bool last, std::string& out) {
        if (deflateReset(&z_) != Z_OK) throw error(errc::io_error, "zlib: deflateReset failed");
        if (!dict.empty() &&
            deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(dict.data()), static_cast<uInt>(dict.size())) != Z_OK)
            throw error(errc::io_error, "zlib: deflateSetDictionary failed");
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        out.resize(deflateBound(&z_, static_cast<uLong>(in.size())) + 64);
        std::size_t used = 0;
        const int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
        while (true) {
            z_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
            z_.avail_out = static_cast<uInt>(out.size() - used);
            const int r = deflate(&z_, flush);
            used = out.size() - z_.avail_out;
            if (r == Z_STREAM_ERROR) throw error(errc::io_error, "zlib: deflate failed");
            if (last ? r == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) break;
            out.resize(out.size() * 2);
        }
        out.resize(used);
    }

private:
    z_stream z_{};
    int level_;
};

inline void zlib_block(int level, std::string_view dict, std::string_view in, bool last, std::string& out) {
    thread_local std::unique_ptr<deflater> d;
    if (!d || d->level() != level) d = std::make_unique<deflater>(level);
    d->run(dict, in, last, out);
}

/// One libdeflate compressor per thread and level.
class libdeflater {
public:
    explicit libdeflater(int level) : c_(libdeflate_alloc_compressor(level)), level_(level) {
        if (!c_) throw error(errc::io_error, "libdeflate: cannot allocate a compressor");
    }
    ~libdeflater() { libdeflate_free_compressor(c_); }
    libdeflater(const libdeflater&) = delete;
    libdeflater& operator=(const libdeflater&) = delete;
    int level() const noexcept { return level_; }

    /// `in` as one complete raw deflate stream, into out.
    void run(std::string_view in, std::string& out) {
        out.resize(libdeflate_deflate_compress_bound(c_, in.size()) + 8);
        const auto n = libdeflate_deflate_compress(c_, in.data(), in.size(), out.data(), out.size());
        if (n == 0) throw error(errc::io_error, "libdeflate: output larger than its bound");
        out.resize(n);
    }

private:
    ::libdeflate_compressor* c_;
    int level_;
};

inline libdeflater& libdeflate_for(int level) {
    thread_local std::unique_ptr<libdeflater> c;
    if (!c || c->level() != level) c = std::make_unique<libdeflater>(level);
    return *c;
}

/// Turns a complete deflate stream into one that goes on: the final block's
/// BFINAL bit is cleared and an empty stored block follows it, which ends the
/// piece on a byte boundary (as zlib's sync flush does). False when the
/// stream cannot be walked (never for libdeflate's output; the caller then
/// compresses the block with zlib).
inline bool continue_after(std::string& out) {
    const auto end = find_final_block({reinterpret_cast<const unsigned char*>(out.data()), out.size()});
    if (!end) return false;
    out[end->header_bit / 8] = static_cast<char>(static_cast<unsigned char>(out[end->header_bit / 8]) &
                                                 ~(1u << (end->header_bit % 8)));
    const unsigned used = end->end_bit % 8;  // bits used in the last byte
    if (used) {  // the unused high bits are zero: a stored block's header (000) when 3 fit
        out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) & ((1u << used) - 1));
        if (used > 5) out += '\0';
    } else {
        out += '\0';
    }
    out.append("\0\0\xff\xff", 4);  // LEN 0, NLEN 0xffff
    return true;
}

/// Compresses one block as the codec says; the block ends the stream when `last`.
inline void deflate_block(gzip_codec codec, int level, std::string_view dict, std::string_view in, bool last,
                          std::string& out) {
    if (level == 0 && codec == gzip_codec::automatic) codec = gzip_codec::zlib;
    if (codec == gzip_codec::automatic) {
        constexpr std::size_t sample = 32 * 1024;
        const auto head = in.substr(0, sample);
        zlib_block(level, {}, head, false, out);
        const auto zlib_size = out.size();
        libdeflate_for(level).run(head, out);
        codec = out.size() * 100 <= zlib_size * 101 ? gzip_codec::libdeflate : gzip_codec::zlib;
    }
    if (codec == gzip_codec::libdeflate) {
        libdeflate_for(level).run(in, out);
        if (last || continue_after(out)) return;
    }
    zlib_block(level, dict, in, last, out);
}

}  // namespace detail

template <ByteSource S>
struct gzip_stream<S>::state {
    S source;
    gzip_options options;
    std::unique_ptr<detail::worker_pool> pool;
    std::deque<std::pair<std::shared_ptr<block>, std::future<void>>> inflight;
    std::string tail;  // the last 32 KiB of input: the next block's dictionary
    detail::byte_fifo out;
    bool input_done = false;
    bool finished = false;
    std::uint32_t crc = 0;
    std::uint64_t total_in = 0;

    state(S s, gzip_options o) : source(std::move(s)), options(o) {}
};

template <ByteSource S>
gzip_stream<S>::gzip_stream(S source, gzip_options options)
    : state_(std::make_unique<state>(std::move(source), options)) {
    if (options.level < 0 || options.level > 9)
        throw error(errc::invalid_argument, fmt::format("gzip level {} is not between 0 and 9", options.level));
    if (options.block_size < 32 * 1024 || options.block_size > (std::size_t{64} << 20))
        throw error(errc::invalid_argument,
                    fmt::format("gzip block size {} is not between 32 KiB and 64 MiB", options.block_size));
    const unsigned jobs = options.jobs ? options.jobs : detail::default_jobs();
    state_->options.jobs = jobs;
    if (jobs > 1) state_->pool = std::make_unique<detail::worker_pool>(jobs);
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown)
    static constexpr unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    state_->out.append(header, sizeof header);
}

template <ByteSource S>
gzip_stream<S>::~gzip_stream() {
    if (!state_) return;
    // Let running blocks finish before their buffers go away.
    for (auto& [b, f] : state_->inflight)
        if (f.valid()) f.wait();
    state_->pool.reset();
}

template <ByteSource S>
std::size_t gzip_stream<S>::read(std::span<std::byte> buf) {
    state& s = *state_;
    while (s.out.empty() && !s.finished) {
        const std::size_t depth = std::size_t{2} * s.options.jobs;
        while (!s.input_done && s.inflight.size() < depth) {
            auto b = std::make_shared<block>();
            b->input.resize(s.options.block_size);
            std::size_t filled = 0;
            while (filled < b->input.size()) {
                const auto n = s.source.read(
                    {reinterpret_cast<std::byte*>(b->input.data()) + filled, b->input.size() - filled});
                if (n == 0) {
                    s.input_done = true;
                    break;
                }
                filled += n;
            }
            b->input.resize(filled);
            b->in_size = filled;
            b->last = s.input_done;
            b->dictionary = s.tail;
            s.total_in += filled;
            if (filled >= 32 * 1024) {
                s.tail.assign(b->input, filled - 32 * 1024, 32 * 1024);
            } else {
                s.tail += b->input;
                if (s.tail.size() > 32 * 1024) s.tail.erase(0, s.tail.size() - 32 * 1024);
            }
            const int level = s.options.level;
            const gzip_codec codec = s.options.codec;
            auto task = [b, level, codec] {
                b->crc = libdeflate_crc32(0, b->input.data(), b->input.size());
                detail::deflate_block(codec, level, b->dictionary, b->input, b->last, b->output);
                std::string().swap(b->input);
                std::string().swap(b->dictionary);
            };
            if (s.pool) {
                auto packaged = std::make_shared<std::packaged_task<void()>>(std::move(task));
                std::future<void> f = packaged->get_future();
                s.pool->submit([packaged] { (*packaged)(); });
                s.inflight.emplace_back(std::move(b), std::move(f));
            } else {
                std::promise<void> p;
                try {
                    task();
                    p.set_value();
                } catch (...) {
                    p.set_exception(std::current_exception());
                }
                s.inflight.emplace_back(std::move(b), p.get_future());
            }
        }
        auto [b, f] = std::move(s.inflight.front());
        s.inflight.pop_front();
        f.get();  // rethrows a worker's error
        s.out.append(b->output);
        s.crc = static_cast<std::uint32_t>(crc32_combine(s.crc, b->crc, static_cast<z_off_t>(b->in_size)));
        if (b->last) {
            const std::uint32_t isize = static_cast<std::uint32_t>(s.total_in & 0xffffffffu);
            const unsigned char trailer[8] = {
                static_cast<unsigned char>(s.crc), static_cast<unsigned char>(s.crc >> 8),
                static_cast<unsigned char>(s.crc >> 16), static_cast<unsigned char>(s.crc >> 24),
                static_cast<unsigned char>(isize), static_cast<unsigned char>(isize >> 8),
                static_cast<unsigned char>(isize >> 16), static_cast<unsigned char>(isize >> 24)};
            s.out.append(trailer, sizeof trailer);
            s.finished = true;
        }
    }
    return s.out.take(buf);
}

}  // namespace rtb
