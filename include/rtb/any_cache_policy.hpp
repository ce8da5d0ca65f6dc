// any_cache_policy: any CachePolicy, chosen at run time (a flag picks the
// layer cache, no cache, or a BuildKit cache), so one basic_builder
// instantiation serves every choice; cache_chain applies several at once.
#pragma once

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/policy/build_cache.hpp"

namespace rtb {

/// Any CachePolicy (move-only: a policy may keep state; the builder holds
/// one and calls it under a lock).
class any_cache_policy {
public:
    /// The engine's layer cache.
    any_cache_policy();
    template <CachePolicy C>
        requires(!std::same_as<std::remove_cvref_t<C>, any_cache_policy>)
    any_cache_policy(C policy) : held_(std::make_unique<model<C>>(std::move(policy))) {}

    void prepare(build_request& request) { held_->prepare(request); }
    void after_build(const build_result& result) { held_->after_build(result); }
    void maintain() { held_->maintain(); }

    /// The held policy when it is a C.
    template <class C>
    C* target() noexcept {
        auto* m = dynamic_cast<model<C>*>(held_.get());
        return m ? &m->policy : nullptr;
    }

private:
    struct concept_ {
        virtual ~concept_() = default;
        virtual void prepare(build_request& request) = 0;
        virtual void after_build(const build_result& result) = 0;
        virtual void maintain() = 0;
    };
    template <class C>
    struct model final : concept_ {
        explicit model(C c) : policy(std::move(c)) {}
        void prepare(build_request& request) override { policy.prepare(request); }
        void after_build(const build_result& result) override { policy.after_build(result); }
        void maintain() override { policy.maintain(); }
        C policy;
    };
    std::unique_ptr<concept_> held_;
};

/// Several CachePolicies applied in order (a BuildKit cache folder and a
/// registry cache at once, say): prepare() and after_build() call each,
/// maintain() maintains each.
class cache_chain {
public:
    cache_chain() = default;
    explicit cache_chain(std::vector<any_cache_policy> policies) : policies_(std::move(policies)) {}
    void add(any_cache_policy p) { policies_.push_back(std::move(p)); }

    void prepare(build_request& request) {
        for (auto& p : policies_) p.prepare(request);
    }
    void after_build(const build_result& result) {
        for (auto& p : policies_) p.after_build(result);
    }
    void maintain() {
        for (auto& p : policies_) p.maintain();
    }
    std::vector<any_cache_policy>& policies() noexcept { return policies_; }

private:
    std::vector<any_cache_policy> policies_;
};

static_assert(CachePolicy<any_cache_policy> && CachePolicy<cache_chain>);

#ifdef RTB_SEPARATE_COMPILATION
// The wrappers around the stock policies are compiled once, by <rtb/src.hpp>
// (those of the other headers' policies are declared there).
extern template struct any_cache_policy::model<engine_layer_cache>;
extern template struct any_cache_policy::model<no_build_cache>;
extern template struct any_cache_policy::model<cache_chain>;
#endif

// After the declarations above: the default policy's wrapper is one of them.
inline any_cache_policy::any_cache_policy() : any_cache_policy(engine_layer_cache{}) {}

}  // namespace rtb
