// any_tag_strategy: any TagStrategy, chosen at run time, so one
// basic_builder instantiation serves every choice (as any_transport does
// for Transports). It is always SourceFiltering: the held strategy's
// filter, or, for a strategy without one, the source's own .dockerignore
// (what the builder would send). It is always RecordsHashedFiles: the held
// strategy's record, or, for a strategy without one, an empty record
// (nothing is checked, as with that strategy held directly).
#pragma once

#include <concepts>
#include <filesystem>
#include <memory>
#include <type_traits>
#include <utility>

#include "rtb/concepts.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/hash/hashed_files.hpp"
#include "rtb/hash/path_filter.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/tags/tag_set.hpp"

namespace rtb {

namespace detail {
/// The filter for a strategy without source_filter(): the source's own
/// .dockerignore, as the builder would send it. Out of line, so the
/// .dockerignore matcher is compiled where it is used, not with every wrapper.
any_path_filter source_dockerignore(const std::filesystem::path& source_dir);
}  // namespace detail

/// Any TagStrategy (copies share the held strategy, which tags() does not change).
class any_tag_strategy {
public:
    template <TagStrategy S>
        requires(!std::same_as<std::remove_cvref_t<S>, any_tag_strategy>)
    any_tag_strategy(S strategy) : held_(std::make_shared<model<S>>(std::move(strategy))) {}

    tag_set tags(const runtime_spec& spec) const { return held_->tags(spec); }
    tag_set tags(const runtime_spec& spec, hashed_files& record) const { return held_->tags(spec, record); }
    any_path_filter source_filter(const runtime_spec& spec) const { return held_->source_filter(spec); }

    /// The held strategy when it is an S.
    template <class S>
    const S* target() const noexcept {
        const auto* m = dynamic_cast<const model<S>*>(held_.get());
        return m ? &m->strategy : nullptr;
    }

private:
    struct concept_ {
        virtual ~concept_() = default;
        virtual tag_set tags(const runtime_spec& spec) const = 0;
        virtual tag_set tags(const runtime_spec& spec, hashed_files& record) const = 0;
        virtual any_path_filter source_filter(const runtime_spec& spec) const = 0;
    };
    template <class S>
    struct model final : concept_ {
        explicit model(S s) : strategy(std::move(s)) {}
        tag_set tags(const runtime_spec& spec) const override { return strategy.tags(spec); }
        tag_set tags(const runtime_spec& spec, hashed_files& record) const override {
            if constexpr (RecordsHashedFiles<S>) return strategy.tags(spec, record);
            else return strategy.tags(spec);
        }
        any_path_filter source_filter(const runtime_spec& spec) const override {
            if constexpr (SourceFiltering<S>) return any_path_filter(strategy.source_filter(spec));
            else return detail::source_dockerignore(spec.source_dir);
        }
        S strategy;
    };
    std::shared_ptr<const concept_> held_;
};

static_assert(TagStrategy<any_tag_strategy> && SourceFiltering<any_tag_strategy> &&
              RecordsHashedFiles<any_tag_strategy>);

}  // namespace rtb

#ifndef RTB_SEPARATE_COMPILATION
#include "rtb/impl/any_tag_strategy.ipp"
#endif
