// plan_prune: which rtb-built images go, as a pure function of the listing.
#define BOOST_TEST_MODULE prune
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "rtb/prune.hpp"
#include "support/checks.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

prune_candidate image(std::string id, std::string lock, std::int64_t created, bool in_use = false, bool carries_lock = false) {
    prune_candidate c;
    c.id = std::move(id);
    c.names = {fmt::format("repo:{}", c.id)};
    c.lock_tag = std::move(lock);
    c.created = created;
    c.in_use = in_use;
    c.carries_lock_tag = carries_lock;
    return c;
}

std::vector<std::string> ids(const std::vector<prune_decision>& d) {
    std::vector<std::string> out;
    for (const auto& x : d) out.push_back(x.image.id);
    return out;
}

const std::int64_t now = 1'000'000;

}  // namespace

BOOST_AUTO_TEST_CASE(without_a_criterion_nothing_is_pruned_and_it_says_so) {
    const auto e = error_of([] { plan_prune({image("a", "l", 1)}, {}, now); });
    BOOST_TEST(e.value() == errc::invalid_argument);
    BOOST_TEST(contains(e.what(), "criterion"));
}

BOOST_AUTO_TEST_CASE(older_than_removes_old_images_oldest_first_but_never_one_in_use) {
    const std::vector<prune_candidate> imgs = {image("new", "l", now - 10), image("old", "l", now - 1000),
                                               image("older", "l", now - 5000), image("used", "l", now - 9000, true),
                                               image("base", "l", now - 8000, false, true)};
    const auto d = plan_prune(imgs, {.older_than = std::chrono::seconds(100), .keep_per_lock = std::nullopt}, now);
    BOOST_TEST((ids(d) == std::vector<std::string>{"base", "older", "old"}));
    BOOST_TEST(contains(d[0].reason, "older than 100 s"));
    // The boundary: created exactly at now - older_than stays.
    BOOST_TEST(plan_prune({image("edge", "l", now - 100)}, {.older_than = std::chrono::seconds(100), .keep_per_lock = std::nullopt}, now).empty());
}

BOOST_AUTO_TEST_CASE(keep_per_lock_keeps_the_newest_k_of_each_lock_tag_and_the_lock_base) {
    std::vector<prune_candidate> imgs = {image("a1", "A", 10), image("a2", "A", 20), image("a3", "A", 30),
                                         image("a0", "A", 5, false, true), image("b1", "B", 1)};
    // Listing order does not matter.
    for (int round = 0; round < 5; ++round) {
        std::rotate(imgs.begin(), imgs.begin() + 1, imgs.end());
        const auto d = plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 1}, now);
        BOOST_TEST((ids(d) == std::vector<std::string>{"a1", "a2"}));
    }
    BOOST_TEST(plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 10}, now).empty());
    const auto zero = plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 0}, now);
    BOOST_TEST((ids(zero) == std::vector<std::string>{"b1", "a1", "a2", "a3"}));
}

BOOST_AUTO_TEST_CASE(an_image_in_use_still_counts_toward_the_newest_k) {
    const std::vector<prune_candidate> imgs = {image("new", "A", 30, true), image("mid", "A", 20), image("old", "A", 10)};
    const auto d = plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 2}, now);
    BOOST_TEST((ids(d) == std::vector<std::string>{"old"}));
}

BOOST_AUTO_TEST_CASE(equal_creation_times_are_ordered_by_id) {
    const std::vector<prune_candidate> imgs = {image("b", "A", 10), image("a", "A", 10), image("c", "A", 10)};
    const auto d = plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 1}, now);
    BOOST_TEST((ids(d) == std::vector<std::string>{"c", "b"}));
}

BOOST_AUTO_TEST_CASE(many_images_are_decided_quickly_and_exactly) {
    std::vector<prune_candidate> imgs;
    for (int i = 0; i < 20'000; ++i) imgs.push_back(image(std::to_string(i), fmt::format("L{}", i % 7), i));
    const auto d = plan_prune(imgs, {.older_than = std::nullopt, .keep_per_lock = 3}, now);
    BOOST_TEST(d.size() == 20'000u - 7 * 3);
}
