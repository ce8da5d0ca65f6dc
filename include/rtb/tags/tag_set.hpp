// rtb::tag_set: the three tags of a runtime image (source, lock, versioned).
#pragma once

#include <string>
#include <string_view>

namespace rtb {

/// The three levels of runtime image tags, all in one repository:
///  - source: the exact image (base + dependencies + runtime source);
///  - lock: base + dependencies; a build on it only adds the source;
///  - versioned: base + runtime version; a build on it re-installs dependencies.
struct tag_set {
    std::string repository;
    std::string source;
    std::string lock;
    std::string versioned;

    std::string image(std::string_view tag) const {
        std::string s = repository;
        s += ':';
        s += tag;
        return s;
    }
    std::string source_image() const { return image(source); }
    std::string lock_image() const { return image(lock); }
    std::string versioned_image() const { return image(versioned); }

    friend bool operator==(const tag_set&, const tag_set&) = default;
};

}  // namespace rtb
