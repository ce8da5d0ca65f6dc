// RAII owners of libcurl handles and the one-time global initialisation.
// Internal to transport/http.hpp.
#pragma once

#include <memory>
#include <mutex>

#include <curl/curl.h>

#include "rtb/error.hpp"

namespace rtb::detail::curl {

/// curl_global_init once per process, before the first handle. Never cleaned
/// up: other code in the process may still use libcurl at exit.
inline void global_init() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (result != CURLE_OK)
        throw error(errc::io_error, std::string("libcurl failed to initialise: ") + curl_easy_strerror(result));
}

struct easy_deleter {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
struct multi_deleter {
    void operator()(CURLM* h) const noexcept { curl_multi_cleanup(h); }
};
struct slist_deleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

using easy_ptr = std::unique_ptr<CURL, easy_deleter>;
using multi_ptr = std::unique_ptr<CURLM, multi_deleter>;
using slist_ptr = std::unique_ptr<curl_slist, slist_deleter>;

/// Appends a header line to a list, keeping ownership in `list`.
inline void append(slist_ptr& list, const char* line) {
    curl_slist* next = curl_slist_append(list.get(), line);
    if (!next) throw std::bad_alloc();
    (void)list.release();
    list.reset(next);
}

}  // namespace rtb::detail::curl
