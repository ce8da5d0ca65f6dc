// The Engine API's answers that need a JSON parser (rtb/transport/docker_api.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so simdjson stays out of the header.
#pragma once

#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/error.hpp"
#include "rtb/transport/docker_api.hpp"

namespace rtb::docker_api {

RTB_DECL version_answer parse_version(std::string_view json, std::string_view where) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    auto bad = [&](std::string_view why) {
        return error(errc::parse_error, fmt::format("GET /version on {}: {}", where, why));
    };
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object())
        throw bad("the answer is not a JSON object");
    version_answer v;
    std::string_view s;
    if (doc["Version"].get_string().get(s) != simdjson::SUCCESS) throw bad("no \"Version\" string");
    v.version = s;
    if (doc["ApiVersion"].get_string().get(s) != simdjson::SUCCESS) throw bad("no \"ApiVersion\" string");
    v.api_version = s;
    if (doc["MinAPIVersion"].get_string().get(s) == simdjson::SUCCESS) v.min_api_version = s;
    v.product = "Docker Engine";
    simdjson::dom::array components;
    if (doc["Components"].get_array().get(components) == simdjson::SUCCESS) {
        for (auto c : components) {
            if (c["Name"].get_string().get(s) != simdjson::SUCCESS) continue;
            if (s == "Podman Engine") {
                v.is_podman = true;
                v.product = "Podman Engine";
                std::string_view pv;
                if (c["Version"].get_string().get(pv) == simdjson::SUCCESS) v.version = pv;
            }
        }
    }
    return v;
}

}  // namespace rtb::docker_api
