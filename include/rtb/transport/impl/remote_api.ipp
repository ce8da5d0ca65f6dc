// remote_api's non-template part (rtb/transport/remote_api.hpp): included by
// that header (header-only) or compiled once by <rtb/src.hpp>
// (RTB_SEPARATE_COMPILATION), so a unit that only constructs the Transport
// parses none of the form's tar, gzip and base64 streams.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/build_types.hpp"
#include "rtb/detail/config.hpp"
#include "rtb/transport/detail/multipart.hpp"
#include "rtb/transport/remote_api.hpp"

namespace rtb::detail {

RTB_DECL runtime_api_form runtime_api_build_form(const build_request& request, const std::vector<std::string>& names,
                                                 std::shared_ptr<const context_snapshot> context,
                                                 const gzip_options& gzip) {
    const auto boundary = multipart_boundary();
    std::string head = form_field(boundary, "target_image", names.front());
    for (std::size_t i = 1; i < names.size(); ++i) head += form_field(boundary, "tags", names[i]);
    // rtb serve reads these; a service that does not know them ignores them.
    for (const auto& [k, v] : request.build_args) head += form_field(boundary, "build_arg", k + "=" + v);
    for (const auto& [k, v] : request.labels) head += form_field(boundary, "label", k + "=" + v);
    // the service still hears the labels (rtb serve counts builds by
    // plan) but does not pass them to its engine again
    if (request.labels_in_dockerfile && !request.labels.empty())
        head += form_field(boundary, "labels_in_dockerfile", "1");
    if (!request.platform.empty()) head += form_field(boundary, "platform", request.platform);
    head += fmt::format(
        "--{}\r\nContent-Disposition: form-data; name=\"context\"; filename=\"context.tar.gz\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n",
        boundary);
    auto body = std::make_shared<multipart_context_body>(std::move(head), std::move(context),
                                                         fmt::format("\r\n--{}--\r\n", boundary), gzip);
    return {"multipart/form-data; boundary=" + boundary,
            [body](std::span<std::byte> buffer) { return body->read(buffer); }};
}

}  // namespace rtb::detail
