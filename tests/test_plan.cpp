#define BOOST_TEST_MODULE plan
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <algorithm>

#include "rtb/plan.hpp"

using namespace rtb;

namespace {
const tag_set tags{"reg/rt", "src", "lck", "ver"};
const std::string base = "ubuntu:22.04";
}  // namespace

// Every combination of (force, source, lock, versioned) existence answers.
BOOST_AUTO_TEST_CASE(every_combination_of_existence_answers) {
    for (int bits = 0; bits < 16; ++bits) {
        const bool force = bits & 8;
        const existing_images e{(bits & 4) != 0, (bits & 2) != 0, (bits & 1) != 0};
        BOOST_TEST_CONTEXT("force=" << force << " source=" << e.source << " lock=" << e.lock
                                    << " versioned=" << e.versioned) {
            const auto p = plan_build(tags, base, e, force);
            BOOST_TEST(p.image == "reg/rt:src");
            if (force) {
                BOOST_TEST((p.kind == plan_kind::scratch));
                BOOST_TEST(p.from_image == base);
                BOOST_TEST((p.tags_to_apply == std::vector<std::string>{"reg/rt:src", "reg/rt:lck", "reg/rt:ver"}));
            } else if (e.source) {
                BOOST_TEST((p.kind == plan_kind::reuse));
                BOOST_TEST(p.from_image.empty());
                BOOST_TEST(p.tags_to_apply.empty());
            } else if (e.lock) {
                BOOST_TEST((p.kind == plan_kind::lock));
                BOOST_TEST(p.from_image == "reg/rt:lck");
                BOOST_TEST((p.tags_to_apply == std::vector<std::string>{"reg/rt:src"}));
            } else if (e.versioned) {
                BOOST_TEST((p.kind == plan_kind::versioned));
                BOOST_TEST(p.from_image == "reg/rt:ver");
                BOOST_TEST((p.tags_to_apply == std::vector<std::string>{"reg/rt:src", "reg/rt:lck"}));
            } else {
                BOOST_TEST((p.kind == plan_kind::scratch));
                BOOST_TEST(p.from_image == base);
                BOOST_TEST((p.tags_to_apply == std::vector<std::string>{"reg/rt:src", "reg/rt:lck", "reg/rt:ver"}));
            }
            // the versioned tag is applied only by scratch builds
            const bool applies_versioned =
                std::find(p.tags_to_apply.begin(), p.tags_to_apply.end(), "reg/rt:ver") != p.tags_to_apply.end();
            BOOST_TEST(applies_versioned == (p.kind == plan_kind::scratch));
            // a plan never builds an image on top of itself
            BOOST_TEST((std::find(p.tags_to_apply.begin(), p.tags_to_apply.end(), p.from_image) == p.tags_to_apply.end()));
        }
    }
}

BOOST_AUTO_TEST_CASE(answers_after_the_first_yes_are_not_read) {
    for (bool l : {false, true})
        for (bool v : {false, true}) BOOST_TEST((plan_build(tags, base, {true, l, v}, false) == plan_build(tags, base, {true, false, false}, false)));
    for (bool v : {false, true}) BOOST_TEST((plan_build(tags, base, {false, true, v}, false) == plan_build(tags, base, {false, true, false}, false)));
}

BOOST_AUTO_TEST_CASE(plan_names) {
    BOOST_TEST(to_string(plan_kind::reuse) == "reuse");
    BOOST_TEST(to_string(plan_kind::lock) == "lock");
    BOOST_TEST(to_string(plan_kind::versioned) == "versioned");
    BOOST_TEST(to_string(plan_kind::scratch) == "scratch");
}
