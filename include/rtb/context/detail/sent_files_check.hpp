// The check that keeps an image's content equal to what its tags hashed: a
// stream sending a context's files (the tar, a build folder) feeds each
// file's bytes through it as they go out, and it compares them with the
// record the TagStrategy made (context_snapshot::hashed). Any difference is
// errc::source_changed, thrown while the stream still has the archive's end
// to write: an engine never receives a complete context holding a changed
// file, so it never builds or tags one.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/context_entry.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/file_fingerprint.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/hasher.hpp"

namespace rtb::detail {

/// The message of a source change: the file, and how it changed.
inline std::string source_change_message(std::string_view display, std::string_view how) {
    return fmt::format("source changed during the build: {} ({})", printable(display), how);
}

class sent_files_check {
public:
    /// Checks the sends of `snapshot` (which must outlive this) against its
    /// record; with no record (or an empty one), every call is a no-op.
    explicit sent_files_check(const context_snapshot& snapshot) : snap_(&snapshot) {
        if (!snapshot.hashed || snapshot.hashed->empty()) return;
        record_ = snapshot.hashed.get();
        trees_.reserve(snapshot.roots.size());
        cursors_.reserve(snapshot.roots.size());
        for (const auto& r : snapshot.roots) {
            trees_.push_back(record_->find_tree(r.path));
            cursors_.push_back(trees_.back() ? trees_.back()->files.begin() : hashed_files::file_map::const_iterator{});
        }
    }

    bool active() const noexcept { return record_ != nullptr; }

    /// Just before the stream opens the file of `e`: the record's before_send hook.
    void before_open(const context_entry& e) const {
        if (record_ && record_->before_send && e.from != content_from::memory) record_->before_send(e.path);
    }

    /// The file of `e` could not be opened as a regular file: for a hashed
    /// file, that is a source change (removed, or replaced by something else).
    void open_failed(const context_entry& e) const {
        if (const auto* fp = expected(e))
            fail(e, fmt::format("hashed {} bytes, now missing or no longer a regular file", fp->size));
    }

    /// The stream starts sending the file of `e`, `size` bytes as opened:
    /// it must have been hashed (a regular file in a hashed tree that was
    /// not is an added file), with that size.
    void start(const context_entry& e, std::uint64_t size) {
        current_ = nullptr;
        if (!record_) return;
        const auto* fp = e.from == content_from::tree ? next_in_tree(e) : expected(e);
        if (!fp) {
            if (in_hashed_tree(e))
                fail(e, fmt::format("not hashed: it appeared after the tags were computed; sent {} bytes", size));
            return;
        }
        ++matched_;
        if (fp->size != size) fail(e, fmt::format("hashed {} bytes, sent {}", fp->size, size));
        if (const auto* shape = shape_of(e)) {
            const bool hashed_executable = shape->executable.contains(e.source);
            if (hashed_executable != e.executable)
                fail(e, hashed_executable ? "hashed with an execute bit, sent without one"
                                          : "hashed without an execute bit, sent with one");
        }
        current_ = fp;
        current_entry_ = &e;
        sent_ = 0;
    }

    /// The stream sends the symbolic link `e`: where the tags hashed its
    /// tree's links, it must be one of them, with the same target.
    void link(const context_entry& e) {
        const auto* shape = shape_of(e);
        if (!shape) return;
        const auto it = shape->links.find(e.source);
        if (it == shape->links.end())
            fail(e, fmt::format("a symbolic link to {} that was not hashed: it appeared after the tags were computed",
                                printable(e.link_target)));
        if (it->second != e.link_target)
            fail(e, fmt::format("hashed as a symbolic link to {}, sent as one to {}", printable(it->second),
                                printable(e.link_target)));
        ++matched_links_;
    }

    /// Bytes of the current file, in order, as they are sent.
    void update(std::span<const std::byte> bytes) {
        if (!current_ || bytes.empty()) return;
        if (sent_ == 0 && bytes.size() == current_->size) {
            whole_ = xxh3_128_hasher::of(bytes);  // the common small file: one read, hashed in one shot
        } else {
            hasher_.update(bytes);
            streamed_ = true;
        }
        sent_ += bytes.size();
    }

    /// The current file is sent whole: its bytes must be the hashed ones.
    /// Called before anything after the file (the next entry, the archive's
    /// end) is written.
    void finish_file() {
        if (!current_) return;
        // (Bytes after a whole read mean the file grew: the sizes differ.)
        const file_fingerprint sent{sent_, whole_ && !streamed_ ? *whole_ : hasher_.finish()};
        whole_.reset();
        streamed_ = false;
        const auto* fp = std::exchange(current_, nullptr);
        if (const auto how = fingerprint_difference(*fp, sent)) fail(*current_entry_, *how);
    }

    /// The file of `e` changed size while it was sent.
    void changed_while_sent(const context_entry& e) const {
        if (const auto* fp = expected(e)) fail(e, fmt::format("hashed {} bytes; it changed while it was sent", fp->size));
    }

    /// Every entry has been sent: every hashed file must have been among
    /// them. Called before the archive's end is written.
    void finish_all() const {
        if (!record_) return;
        if (matched_links_ != record_->link_count()) name_a_missing_link();
        if (matched_ == record_->size()) return;
        // Rare: find which hashed file was not sent (as a regular file).
        std::set<std::pair<const hashed_files::tree*, std::string_view>> sent_tree_files;
        std::set<std::string_view> sent_files;
        for (const auto& e : snap_->entries) {
            if (e.kind != entry_kind::file) continue;
            if (e.from == content_from::tree && trees_[e.root]) sent_tree_files.emplace(trees_[e.root], e.source);
            if (e.from == content_from::file) sent_files.insert(e.source);
        }
        for (const auto& t : record_->trees())
            for (const auto& [rel, fp] : t.files)
                if (!sent_tree_files.contains({&t, rel}))
                    throw error(errc::source_changed,
                                source_change_message(t.root.string() + "/" + rel,
                                                      fmt::format("hashed {} bytes, no longer in the source", fp.size)));
        for (const auto& [path, fp] : record_->files())
            if (!sent_files.contains(path))
                throw error(errc::source_changed,
                            source_change_message(path, fmt::format("hashed {} bytes, not in the context", fp.size)));
    }

private:
    [[noreturn]] void name_a_missing_link() const {
        std::set<std::pair<const hashed_files::tree*, std::string_view>> sent_links;
        for (const auto& e : snap_->entries)
            if (e.kind == entry_kind::symlink && e.from == content_from::tree && trees_[e.root])
                sent_links.emplace(trees_[e.root], e.source);
        for (const auto& t : record_->trees())
            if (t.shape)
                for (const auto& [rel, target] : t.shape->links)
                    if (!sent_links.contains({&t, rel}))
                        throw error(errc::source_changed,
                                    source_change_message(t.root.string() + "/" + rel,
                                                          fmt::format("hashed as a symbolic link to {}, no longer in the source",
                                                                      printable(target))));
        throw error(errc::source_changed, "source changed during the build: a hashed symbolic link was not sent");
    }

    /// The shape recorded for the tree of entry `e`, or null (no record of
    /// it, or a strategy whose digest covers no modes or links).
    const hashed_files::tree_shape* shape_of(const context_entry& e) const {
        if (!record_ || e.from != content_from::tree) return nullptr;
        const auto* t = trees_[e.root];
        return t && t->shape ? &*t->shape : nullptr;
    }

    /// The record of a tree entry, found by walking the tree's record in
    /// step with the stream: both are in bytewise path order (the snapshot
    /// sorts its entries, and a root's paths share its prefix), so each
    /// lookup costs a comparison or two, not a search.
    const file_fingerprint* next_in_tree(const context_entry& e) {
        const auto* t = trees_[e.root];
        if (!t) return nullptr;
        auto& it = cursors_[e.root];
        while (it != t->files.end()) {
            const int c = it->first.compare(e.source);
            if (c > 0) break;  // not recorded: an added file
            ++it;
            if (c == 0) return &std::prev(it)->second;
            // c < 0: a recorded file the stream did not send (finish_all names it)
        }
        return nullptr;
    }

    const file_fingerprint* expected(const context_entry& e) const {
        if (!record_) return nullptr;
        if (e.from == content_from::tree) {
            const auto* t = trees_[e.root];
            if (!t) return nullptr;
            const auto it = t->files.find(e.source);
            return it == t->files.end() ? nullptr : &it->second;
        }
        if (e.from == content_from::file) return record_->find_file(e.source);
        return nullptr;
    }
    bool in_hashed_tree(const context_entry& e) const {
        return e.from == content_from::tree && trees_[e.root] != nullptr;
    }
    [[noreturn]] void fail(const context_entry& e, std::string_view how) const {
        throw error(errc::source_changed, source_change_message(context_file_display(*snap_, e), how));
    }

    const context_snapshot* snap_;
    const hashed_files* record_ = nullptr;
    std::vector<const hashed_files::tree*> trees_;  // per root: its record, or null
    std::vector<hashed_files::file_map::const_iterator> cursors_;  // per root: the next recorded file
    std::size_t matched_ = 0;                       // files sent that were recorded
    std::size_t matched_links_ = 0;                 // links sent that were recorded
    const file_fingerprint* current_ = nullptr;
    const context_entry* current_entry_ = nullptr;
    std::uint64_t sent_ = 0;
    std::optional<digest> whole_;  // a file read in one piece
    bool streamed_ = false;        // bytes went through hasher_ (reset by finish())
    xxh3_128_hasher hasher_;
};

}  // namespace rtb::detail
