// The API keys a Runtime API server accepts and the tenant each belongs to,
// and the check of a presented key in constant time (its length and its
// bytes leak nothing through timing). Keys are never printed: errors and
// logs name a key by its number and line ("key 2 (line 3)").
//
// The plain key file has one key per line; each key is its own tenant,
// named key1, key2, ... by its order in the file, building under
// "<registry prefix>/keyN". The TOML form (tenant_file.hpp) names tenants
// and their prefixes.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rtb/detail/posix.hpp"
#include "rtb/error.hpp"
#include "rtb/hash/hasher.hpp"
#include "rtb/policy/known_secrets.hpp"
#include "rtb/serve/tenants.hpp"

namespace rtb::serve {

class api_keys {
public:
    /// Keys shorter than this are refused: a guessable key is no key.
    static constexpr std::size_t min_length = 16;
    static constexpr std::size_t max_length = 4096;
    /// Bounds on what a key file may describe (tenants are metric labels).
    static constexpr std::size_t max_keys = 10'000;
    static constexpr std::size_t max_tenants = 1'000;

    /// A key as a key file gives it: its text and the line it is on.
    struct key_entry {
        std::string key;
        int line = 0;
    };
    /// A tenant and its keys.
    struct tenant_entry {
        serve::tenant tenant;
        std::vector<key_entry> keys;
    };

    /// The plain form: one key per line; blank lines and lines starting with
    /// '#' are skipped; surrounding blanks trimmed. A key is printable ASCII
    /// without spaces. Each key is its own tenant, key1, key2, ..., under
    /// "<registry_prefix>/keyN".
    static api_keys parse(std::string_view text, std::string_view display = "the API key file",
                          std::string_view registry_prefix = "local/rtb") {
        std::vector<tenant_entry> tenants;
        int line_no = 0;
        while (!text.empty()) {
            ++line_no;
            const auto nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
            if (line.empty() || line.front() == '#') continue;
            tenant_entry t;
            t.tenant.name = fmt::format("key{}", tenants.size() + 1);
            t.tenant.prefixes = {default_prefix(registry_prefix, t.tenant.name)};
            t.keys.push_back({std::string(line), line_no});
            tenants.push_back(std::move(t));
            if (tenants.size() > max_keys)
                throw error(errc::invalid_argument, fmt::format("{} holds more than {} keys", display, max_keys));
        }
        return from_tenants(std::move(tenants), display);
    }

    /// Keys from tenants a file described (checked here: key shapes, one
    /// tenant per key, names, prefixes that do not overlap).
    static api_keys from_tenants(std::vector<tenant_entry> tenants, std::string_view display) {
        api_keys k;
        if (tenants.size() > max_tenants)
            throw error(errc::invalid_argument, fmt::format("{} describes more than {} tenants", display, max_tenants));
        std::set<std::string, std::less<>> names;
        std::map<std::string, std::size_t> seen;  // key fingerprint -> key number
        for (auto& t : tenants) {
            if (const auto problem = tenant_name_problem(t.tenant.name))
                throw error(errc::invalid_argument, fmt::format("{}: {}", display, *problem));
            if (!names.insert(t.tenant.name).second)
                throw error(errc::invalid_argument, fmt::format("{}: tenant {} is described twice", display, t.tenant.name));
            if (t.tenant.prefixes.empty())
                throw error(errc::invalid_argument, fmt::format("{}: tenant {} has no image name prefix", display,
                                                                t.tenant.name));
            for (const auto& p : t.tenant.prefixes) {
                try {
                    normalized_prefix(p);
                } catch (const error& e) {
                    throw error(errc::invalid_argument, fmt::format("{}: tenant {}: {}", display, t.tenant.name, e.what()));
                }
            }
            if (t.keys.empty())
                throw error(errc::invalid_argument, fmt::format("{}: tenant {} has no key", display, t.tenant.name));
            for (const auto& key : t.keys) {
                const auto where = key.line > 0 ? fmt::format("{}, line {}", display, key.line)
                                                : fmt::format("{}, tenant {}", display, t.tenant.name);
                for (const char c : key.key)
                    if (c <= 0x20 || c >= 0x7f)
                        throw error(errc::invalid_argument, fmt::format("{}: a key is printable ASCII without spaces", where));
                if (key.key.size() < min_length || key.key.size() > max_length)
                    throw error(errc::invalid_argument, fmt::format("{}: a key has {} to {} characters (this one {})",
                                                                    where, min_length, max_length, key.key.size()));
                remember_secret(key.key);  // masked in every log line and error, whatever a client echoes
                auto digest = fingerprint(key.key);
                if (const auto [it, fresh] = seen.try_emplace(digest, k.digests_.size() + 1); !fresh)
                    throw error(errc::invalid_argument,
                                fmt::format("{}: the same key as key {} (a key must name one tenant)", where, it->second));
                k.digests_.push_back(std::move(digest));
                k.lines_.push_back(key.line);
                k.owners_.push_back(k.tenants_.size());
            }
            k.tenants_.push_back(std::move(t.tenant));
        }
        if (k.digests_.empty()) throw error(errc::invalid_argument, fmt::format("{} holds no key", display));
        if (k.digests_.size() > max_keys)
            throw error(errc::invalid_argument, fmt::format("{} holds more than {} keys", display, max_keys));
        check_tenants_apart(k.tenants_, display);
        return k;
    }

    /// The index of the key `presented` is, or std::nullopt. Every key is
    /// compared, each in constant time over SHA-256 fingerprints, so neither
    /// which key matched nor how much of it leaks through timing.
    std::optional<std::size_t> match(std::string_view presented) const {
        const auto d = fingerprint(presented.substr(0, max_length + 1));
        std::optional<std::size_t> found;
        for (std::size_t i = 0; i < digests_.size(); ++i) {
            const bool same = CRYPTO_memcmp(d.data(), digests_[i].data(), d.size()) == 0;
            if (same && !found) found = i;
        }
        return found;
    }

    std::size_t size() const noexcept { return digests_.size(); }
    /// How a key is named in logs: "key 2 (line 3)".
    std::string describe(std::size_t index) const {
        return lines_.at(index) > 0 ? fmt::format("key {} (line {})", index + 1, lines_.at(index))
                                    : fmt::format("key {}", index + 1);
    }
    /// The tenant key `index` belongs to.
    const tenant& tenant_of(std::size_t index) const { return tenants_.at(owners_.at(index)); }
    /// Every tenant (a plain file: in its order; the TOML form: by name).
    const std::vector<tenant>& tenants() const noexcept { return tenants_; }

private:
    static std::string fingerprint(std::string_view key) {
        const auto d = hash_bytes(hash_algorithm::sha256, key);
        return std::string(reinterpret_cast<const char*>(d.bytes().data()), d.size());
    }
    std::vector<std::string> digests_;
    std::vector<int> lines_;
    std::vector<std::size_t> owners_;  ///< key -> tenant
    std::vector<tenant> tenants_;
};

}  // namespace rtb::serve
