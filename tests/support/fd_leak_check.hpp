// Included once by a Boost.Test program (after <boost/test/unit_test.hpp>):
// every test case fails if it returns with more file descriptors open than it
// started with, naming each one and what it points at. The check runs as a
// fixture of each case (added to the whole tree at start-up), so a failure is
// reported in the case that leaked. Processes, temporary folders and engine
// objects are checked from outside, by support/leak_check.py.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <boost/make_shared.hpp>
#include <boost/test/tree/traverse.hpp>
#include <boost/test/tree/visitor.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace rtb::test {

/// Open descriptors of this process and what each points at.
inline std::map<int, std::string> open_descriptors() {
    std::map<int, std::string> out;
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return out;
    while (const auto* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd == ::dirfd(dir)) continue;
        char target[512];
        const auto n = ::readlink((std::string("/proc/self/fd/") + e->d_name).c_str(), target, sizeof target - 1);
        out[fd] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    }
    ::closedir(dir);
    return out;
}

/// One test case's check: the descriptors at its start, compared at its end.
struct fd_leak_check {
    std::map<int, std::string> before = open_descriptors();
    ~fd_leak_check() {
        for (const auto& [fd, target] : open_descriptors()) {
            const auto was = before.find(fd);
            BOOST_TEST((was != before.end() && was->second == target),
                       "the test case left file descriptor " << fd << " open (" << target << ")");
        }
    }
};

/// Adds fd_leak_check to every test case of the program.
struct fd_leak_check_everywhere {
    fd_leak_check_everywhere() {
        struct collect : boost::unit_test::test_tree_visitor {
            std::vector<boost::unit_test::test_unit_id> cases;
            void visit(const boost::unit_test::test_case& tc) override { cases.push_back(tc.p_id); }
        } all;
        boost::unit_test::traverse_test_tree(boost::unit_test::framework::master_test_suite(), all);
        for (const auto id : all.cases)
            boost::unit_test::framework::get<boost::unit_test::test_case>(id).p_fixtures.value.push_back(
                boost::make_shared<boost::unit_test::class_based_fixture<fd_leak_check>>());
    }
};
BOOST_TEST_GLOBAL_FIXTURE(fd_leak_check_everywhere);

}  // namespace rtb::test
