// known_secrets: the secrets rtb itself handled in this process (registry
// passwords, identity and bearer tokens, API keys). A hostile or careless
// server can echo them back inside an error message; every redactor masks
// them, so no stock logger and no rtb output ever shows one, whatever the
// text around it looks like.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rtb {

class known_secrets {
public:
    /// The process-wide set.
    static known_secrets& global() {
        static known_secrets set;
        return set;
    }

    /// Remembers a secret. Strings shorter than min_length are not kept:
    /// masking every "a" or "1234" would garble all output, and such a
    /// secret protects nothing anyway.
    void add(std::string_view secret) {
        if (secret.size() < min_length) return;
        std::lock_guard lock(mutex_);
        for (const auto& s : secrets_)
            if (s == secret) return;
        secrets_.emplace_back(secret);
        version_.fetch_add(1, std::memory_order_release);
    }

    /// Changes whenever a secret is added: a reader copies the set only then.
    std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

    /// The secrets from index `from` on (they are only ever appended).
    std::vector<std::string> since(std::size_t from) const {
        std::lock_guard lock(mutex_);
        if (from >= secrets_.size()) return {};
        return {secrets_.begin() + static_cast<std::ptrdiff_t>(from), secrets_.end()};
    }

    static constexpr std::size_t min_length = 6;

private:
    mutable std::mutex mutex_;
    std::vector<std::string> secrets_;
    std::atomic<std::uint64_t> version_{0};
};

/// Remembers `secret` process-wide (see known_secrets).
inline void remember_secret(std::string_view secret) { known_secrets::global().add(secret); }

}  // namespace rtb
