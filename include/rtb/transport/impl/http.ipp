// The HTTP layer's functions that need a JSON parser (rtb/transport/http.hpp):
// included by that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so simdjson stays out of the header.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "rtb/detail/config.hpp"
#include "rtb/transport/http.hpp"

namespace rtb::http {

RTB_DECL std::string server_message(std::string_view body) {
    auto printable_cut = [](std::string_view s) {
        std::string out;
        for (unsigned char c : s.substr(0, 300)) {
            if (c == '\n' || c == '\r' || c == '\t') out += ' ';
            else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
            else out += static_cast<char>(c);
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        if (s.size() > 300) out += "...";
        return out;
    };
    const auto first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '{') {
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS) {
            std::string_view m;
            if (doc["message"].get_string().get(m) == simdjson::SUCCESS) return printable_cut(m);
            simdjson::dom::array errors;
            if (doc["errors"].get_array().get(errors) == simdjson::SUCCESS) {
                std::string all;
                for (auto e : errors) {
                    if (e["message"].get_string().get(m) != simdjson::SUCCESS) continue;
                    if (!all.empty()) all += "; ";
                    all += m;
                }
                if (!all.empty()) return printable_cut(all);
            }
        }
    }
    return printable_cut(body);
}

}  // namespace rtb::http
