// rtb::stat_cache: an on-disk map (path, size, mtime, ctime, inode, device)
// -> content digest, like git's index, so re-hashing an unchanged tree reads
// no file content.
#pragma once

#include <atomic>
#include <memory>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "rtb/cache_directory.hpp"
#include "rtb/detail/posix.hpp"
#include "rtb/hash/digest.hpp"

namespace rtb {

/// The part of a file's stat that says "unchanged" when it is equal.
struct file_stamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;

    static file_stamp of(const struct stat& st) noexcept {
        return {static_cast<std::uint64_t>(st.st_size),
                static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec,
                static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_dev)};
    }
    friend bool operator==(const file_stamp&, const file_stamp&) = default;
};

/// Whether a cached digest may be trusted: the stamp must be equal, and the
/// file must not have changed within `granularity` of the moment the cache
/// was taken (git's "racy" rule: a write in the same timestamp tick after we
/// read the file would leave the stamp unchanged). A pure decision.
constexpr bool stamp_trusted(const file_stamp& cached, const file_stamp& now, std::int64_t taken_at_ns,
                             std::int64_t granularity_ns) noexcept {
    if (!(cached == now)) return false;
    const std::int64_t last_change = cached.mtime_ns > cached.ctime_ns ? cached.mtime_ns : cached.ctime_ns;
    return last_change + granularity_ns < taken_at_ns;
}

/// A stat cache for one tree and one algorithm, stored in one file.
///
/// Loading never trusts the file: a wrong magic, version, scope (tree path +
/// algorithm) or checksum, or a truncated file, makes an empty cache that is
/// rebuilt. Lookups are lock-free and allocation-free (the loaded entries are
/// read-only; a hit only marks its entry as still present); records of new or
/// changed files go to a list under a mutex. save() writes a temp file and
/// renames it, so concurrent writers never leave a torn file (the last rename
/// wins), and writes nothing when nothing changed.
class stat_cache {
public:
    /// Timestamps on some filesystems are coarse (1-2 s) and the kernel's file
    /// clock can lag the wall clock; 2 s covers both.
    static constexpr std::int64_t default_granularity_ns = 2'000'000'000;

    /// Opens (loads) the cache stored at `file` for `scope`; a missing or bad
    /// file gives an empty cache. `scope` should name the tree and algorithm.
    /// `taken_at_ns` is when this run started reading files (now, unless a
    /// test forges a situation): the next run's racy boundary.
    stat_cache(std::filesystem::path file, std::string scope,
               std::int64_t granularity_ns = default_granularity_ns, std::int64_t taken_at_ns = now_ns())
        : file_(std::move(file)), scope_(std::move(scope)), granularity_ns_(granularity_ns),
          taken_at_ns_(taken_at_ns) {
        load();
    }

    /// The cached digest for `relative_path` if `stamp` proves it current.
    std::optional<digest> lookup(std::string_view relative_path, const file_stamp& stamp) const {
        const auto it = index_.find(relative_path);
        if (it != index_.end()) {
            const entry& e = loaded_[it->second];
            if (stamp_trusted(e.stamp, stamp, loaded_taken_at_ns_, granularity_ns_)) {
                seen_[it->second].store(true, std::memory_order_relaxed);
                hits_.fetch_add(1, std::memory_order_relaxed);
                return e.value;
            }
        }
        misses_.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }

    /// Records a digest computed now (thread-safe).
    void record(std::string_view relative_path, const file_stamp& stamp, const digest& value) {
        if (const auto it = index_.find(relative_path); it != index_.end()) {
            const entry& e = loaded_[it->second];
            if (e.stamp == stamp && e.value == value) {
                seen_[it->second].store(true, std::memory_order_relaxed);  // unchanged: keep the loaded entry
                return;
            }
        }
        std::lock_guard lock(mutex_);
        fresh_.push_back(entry{std::string(relative_path), stamp, value});
    }

    /// Writes the entries looked up or recorded since opening (the others are
    /// dropped: the tree no longer has them), unless nothing changed: every
    /// lookup hit and every loaded entry was seen again. Errors are reported,
    /// not swallowed, but the cache is only an accelerator: callers may ignore
    /// them. Returns whether the file was written.
    bool save() const;

    std::size_t loaded_entries() const noexcept { return loaded_.size(); }
    std::size_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
    std::size_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
    const std::filesystem::path& file() const noexcept { return file_; }

    /// Where rtb keeps stat caches by default: $RTB_CACHE_DIR, else
    /// $XDG_CACHE_HOME/rtb, else ~/.cache/rtb; then "statcache/".
    static std::filesystem::path default_directory();
    /// A stable file name for a (tree, algorithm, mode) scope.
    static std::filesystem::path default_file(std::string_view scope) {
        return default_directory() / fmt::format("{:016x}-2.bin", XXH3_64bits(scope.data(), scope.size()));
    }

    std::int64_t taken_at_ns() const noexcept { return taken_at_ns_; }
    static std::int64_t now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

private:
    struct entry {
        std::string path;
        file_stamp stamp;
        digest value;
    };
    struct path_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return XXH3_64bits(s.data(), s.size()); }
    };
    // Format 2: a value may carry a file's fingerprint after its digest
    // (hash/detail/cached_file_hash.hpp). A format-1 reader would take such a
    // value for a digest, so format 2 has its own magic and its own file name:
    // an older rtb never reads it, and the two never rewrite each other's file.
    static constexpr char magic[8] = {'R', 'T', 'B', 'S', 'T', 'A', 'T', '2'};
    static constexpr std::size_t max_file_size = std::size_t{1} << 30;

    void load();

    std::filesystem::path file_;
    std::string scope_;
    std::int64_t granularity_ns_;
    std::int64_t taken_at_ns_;             // when this run started: the next run's racy boundary
    std::int64_t loaded_taken_at_ns_ = 0;  // when the loaded cache's run started
    std::vector<entry> loaded_;
    std::unordered_map<std::string_view, std::uint32_t, path_hash, std::equal_to<>> index_;  // views into loaded_
    std::unique_ptr<std::atomic<bool>[]> seen_;  // per loaded entry: a hit, or recorded unchanged
    std::vector<entry> fresh_;              // new or changed files
    mutable std::mutex mutex_;
    mutable std::atomic<std::size_t> hits_{0}, misses_{0};
};

// ---------------------------------------------------------------------------

namespace detail::statcache {

struct writer {
    std::string out;
    template <class T>
    void pod(const T& v) {
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void bytes(std::string_view s) {
        pod(static_cast<std::uint32_t>(s.size()));
        out.append(s);
    }
};

struct reader {
    std::string_view in;
    bool ok = true;
    template <class T>
    T pod() {
        T v{};
        if (in.size() < sizeof v) {
            ok = false;
            return v;
        }
        std::memcpy(&v, in.data(), sizeof v);
        in.remove_prefix(sizeof v);
        return v;
    }
    std::string_view bytes(std::size_t limit) {
        const auto n = pod<std::uint32_t>();
        if (!ok || n > limit || in.size() < n) {
            ok = false;
            return {};
        }
        auto s = in.substr(0, n);
        in.remove_prefix(n);
        return s;
    }
};

}  // namespace detail::statcache

inline std::filesystem::path stat_cache::default_directory() { return cache_directory() / "statcache"; }

inline void stat_cache::load() {
    detail::unique_fd fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return;  // no cache yet
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 16 ||
        static_cast<std::uint64_t>(st.st_size) > max_file_size)
        return;
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
        const auto n = ::read(fd.get(), data.data() + got, data.size() - got);
        if (n <= 0) return;
        got += static_cast<std::size_t>(n);
    }
    // Trailer: XXH3-64 of everything before it.
    const auto body = std::string_view(data).substr(0, data.size() - 8);
    std::uint64_t stored = 0;
    std::memcpy(&stored, data.data() + body.size(), 8);
    if (stored != XXH3_64bits(body.data(), body.size())) return;

    detail::statcache::reader r{body};
    if (!r.in.starts_with(std::string_view(magic, sizeof magic))) return;
    r.in.remove_prefix(sizeof magic);
    if (r.bytes(1 << 20) != scope_ || !r.ok) return;
    const auto taken_at = r.pod<std::int64_t>();
    const auto count = r.pod<std::uint64_t>();
    if (!r.ok || count > body.size()) return;
    std::vector<entry> entries;
    entries.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        entry e;
        e.path = std::string(r.bytes(1 << 16));
        e.stamp.size = r.pod<std::uint64_t>();
        e.stamp.mtime_ns = r.pod<std::int64_t>();
        e.stamp.ctime_ns = r.pod<std::int64_t>();
        e.stamp.inode = r.pod<std::uint64_t>();
        e.stamp.device = r.pod<std::uint64_t>();
        const auto value = r.bytes(digest::max_size);
        if (!r.ok) return;
        e.value = digest({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
        entries.push_back(std::move(e));
    }
    if (!r.in.empty()) return;
    loaded_ = std::move(entries);
    index_.reserve(loaded_.size());
    for (std::uint32_t i = 0; i < loaded_.size(); ++i) index_.emplace(loaded_[i].path, i);
    if (index_.size() != loaded_.size()) {  // duplicate paths: not a file we wrote
        loaded_.clear();
        index_.clear();
        return;
    }
    seen_ = std::make_unique<std::atomic<bool>[]>(loaded_.size());
    loaded_taken_at_ns_ = taken_at;
}

inline bool stat_cache::save() const {
    namespace fs = std::filesystem;
    detail::statcache::writer w;
    {
        std::lock_guard lock(mutex_);
        // A loaded entry is kept when seen again and not superseded by a fresh record.
        std::unordered_map<std::string_view, bool, path_hash, std::equal_to<>> superseded;
        for (const auto& e : fresh_) superseded.emplace(e.path, true);
        std::vector<bool> keep(loaded_.size());
        std::size_t kept = 0;
        for (std::size_t i = 0; i < loaded_.size(); ++i) {
            keep[i] = seen_[i].load(std::memory_order_relaxed) && !superseded.contains(loaded_[i].path);
            kept += keep[i];
        }
        if (fresh_.empty() && misses() == 0 && kept == loaded_.size() && !loaded_.empty()) return false;
        w.out.reserve(64 + (kept + fresh_.size()) * 96);
        w.out.append(magic, 8);
        w.bytes(scope_);
        w.pod(taken_at_ns_);
        w.pod(static_cast<std::uint64_t>(kept + fresh_.size()));
        auto put = [&](const entry& e) {
            w.bytes(e.path);
            w.pod(e.stamp.size);
            w.pod(e.stamp.mtime_ns);
            w.pod(e.stamp.ctime_ns);
            w.pod(e.stamp.inode);
            w.pod(e.stamp.device);
            const auto b = e.value.bytes();
            w.bytes({reinterpret_cast<const char*>(b.data()), b.size()});
        };
        for (std::size_t i = 0; i < loaded_.size(); ++i)
            if (keep[i]) put(loaded_[i]);
        for (const auto& e : fresh_) put(e);
    }
    w.pod(XXH3_64bits(w.out.data(), w.out.size()));

    std::error_code ec;
    fs::create_directories(file_.parent_path(), ec);
    // A unique temp name per writer; rename() is atomic within a filesystem.
    std::string tmp = fmt::format("{}.tmp.{}.{:x}", file_.string(), ::getpid(),
                                  static_cast<std::uint64_t>(now_ns()) ^ reinterpret_cast<std::uintptr_t>(this));
    detail::unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) detail::throw_io("write the stat cache", tmp);
    if (const int e = detail::write_all(fd.get(), w.out.data(), w.out.size()); e != 0) {
        ::unlink(tmp.c_str());
        detail::throw_io("write the stat cache", tmp, e);
    }
    fd.reset();
    if (::rename(tmp.c_str(), file_.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        detail::throw_io("replace the stat cache", file_.string(), e);
    }
    return true;
}

}  // namespace rtb
