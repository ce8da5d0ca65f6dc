// PathFilter: which entries of a tree a walk keeps (what a hash covers and a
// build context sends), the filter that keeps everything, and a type-erased
// holder for filters chosen at run time.
#pragma once

#include <concepts>
#include <memory>
#include <string_view>
#include <utility>

namespace rtb {

/// PathFilter: decides which entries a walk keeps. Paths are relative to the
/// root, '/'-separated, without a leading "./".
///  - `excluded(path, is_dir)`: leave this entry out.
///  - `may_include_below(dir)`: for an excluded directory, whether an
///    exception could still bring back something inside it (then the walk
///    descends, without listing the directory itself, as Docker does).
/// Both are called from several threads at once: they must not change the
/// filter.
template <class F>
concept PathFilter = requires(const F& f, std::string_view path, bool is_dir) {
    { f.excluded(path, is_dir) } -> std::convertible_to<bool>;
    { f.may_include_below(path) } -> std::convertible_to<bool>;
};

/// Keeps everything.
struct include_everything {
    constexpr bool excluded(std::string_view, bool) const noexcept { return false; }
    constexpr bool may_include_below(std::string_view) const noexcept { return false; }
};

/// Any PathFilter, chosen at run time (a copy shares the filter, which is
/// never changed after it is made).
class any_path_filter {
public:
    any_path_filter() : any_path_filter(include_everything{}) {}
    template <PathFilter F>
        requires(!std::same_as<std::remove_cvref_t<F>, any_path_filter>)
    any_path_filter(F filter) : held_(std::make_shared<model<F>>(std::move(filter))) {}

    bool excluded(std::string_view path, bool is_dir) const { return held_->excluded(path, is_dir); }
    bool may_include_below(std::string_view dir) const { return held_->may_include_below(dir); }

private:
    struct concept_ {
        virtual ~concept_() = default;
        virtual bool excluded(std::string_view path, bool is_dir) const = 0;
        virtual bool may_include_below(std::string_view dir) const = 0;
    };
    template <class F>
    struct model final : concept_ {
        explicit model(F f) : filter(std::move(f)) {}
        bool excluded(std::string_view path, bool is_dir) const override { return filter.excluded(path, is_dir); }
        bool may_include_below(std::string_view dir) const override { return filter.may_include_below(dir); }
        F filter;
    };
    std::shared_ptr<const concept_> held_;
};

static_assert(PathFilter<include_everything> && PathFilter<any_path_filter>);

}  // namespace rtb
