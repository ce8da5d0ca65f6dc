// A temporary directory tree for tests, removed on every path.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

namespace rtb::test {

class temp_tree {
public:
    temp_tree() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "rtb-test-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        root_ = tmpl;
    }
    temp_tree(const temp_tree&) = delete;
    temp_tree& operator=(const temp_tree&) = delete;
    ~temp_tree() {
        std::error_code ec;
        // make everything removable (tests create unreadable folders)
        for (auto it = std::filesystem::recursive_directory_iterator(
                 root_, std::filesystem::directory_options::skip_permission_denied, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                         std::filesystem::perm_options::add |
                                             std::filesystem::perm_options::nofollow, ec);
        }
        std::filesystem::remove_all(root_, ec);
    }

    const std::filesystem::path& root() const noexcept { return root_; }
    std::filesystem::path operator/(std::string_view rel) const { return root_ / rel; }

    /// Writes a file (creating parent folders).
    std::filesystem::path file(std::string_view rel, std::string_view content = {}) const {
        const auto p = root_ / rel;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
        return p;
    }
    std::filesystem::path dir(std::string_view rel) const {
        const auto p = root_ / rel;
        std::filesystem::create_directories(p);
        return p;
    }
    std::filesystem::path symlink(std::string_view target, std::string_view rel) const {
        const auto p = root_ / rel;
        std::filesystem::create_directories(p.parent_path());
        std::filesystem::create_symlink(target, p);
        return p;
    }

private:
    std::filesystem::path root_;
};

}  // namespace rtb::test
