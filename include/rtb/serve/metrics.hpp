// Metrics for `rtb serve` in the Prometheus text exposition format 0.0.4:
// counters, gauges and histograms with labels, in a small thread-safe
// registry. Written here rather than taken from a client library: the server
// needs a few families, and a dependency for that is not worth it. Rendering
// is a pure function of the recorded values, so the format is tested without
// a server. Label values are escaped (and invalid UTF-8 replaced), but
// callers still pass only values from fixed lists: a label value taken from
// a request would let clients create series without bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/error.hpp"

namespace rtb::serve {

namespace metrics_detail {

inline bool name_char(char c, bool first, bool colon) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

inline bool valid_name(std::string_view s, bool colon) {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (!name_char(s[i], i == 0, colon)) return false;
    return true;
}

/// The length of the valid UTF-8 sequence at s[i], 0 if there is none
/// (overlong forms, surrogates and code points past U+10FFFF are invalid).
inline std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;  // overlong
        if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;  // overlong
        if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
    } else {
        return 0;
    }
    if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return n;
}

}  // namespace metrics_detail

/// A label value as the text format wants it between double quotes:
/// backslash, double quote and line feed escaped; bytes that are not UTF-8
/// become U+FFFD (scrapers reject invalid UTF-8).
inline std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size();) {
        const char c = v[i];
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else if (const auto n = metrics_detail::utf8_length(v, i); n == 0) {
            out += "\xef\xbf\xbd";
            ++i;
            continue;
        } else {
            out.append(v.substr(i, n));
            i += n;
            continue;
        }
        ++i;
    }
    return out;
}

/// HELP text: only backslash and line feed are escaped there.
inline std::string escape_help(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

/// A sample value: shortest round-trip decimal; +Inf, -Inf, NaN as Go writes them.
inline std::string format_sample_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

/// `{a="x",b="y"}` (empty for no labels), with an optional extra `le`.
inline std::string format_labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                                 std::string_view le = {}) {
    if (names.empty() && le.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) out += ',';
        out += fmt::format("{}=\"{}\"", names[i], escape_label_value(values[i]));
    }
    if (!le.empty()) out += fmt::format("{}le=\"{}\"", names.empty() ? "" : ",", le);
    return out + "}";
}

/// What every family shares: a name, help text, label names, a lock.
class metric_family {
public:
    enum class kind { counter, gauge, histogram };

    metric_family(kind k, std::string name, std::string help, std::vector<std::string> labels)
        : kind_(k), name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {
        if (!metrics_detail::valid_name(name_, true))
            throw error(errc::invalid_argument, fmt::format("'{}' is not a metric name", name_));
        for (const auto& l : labels_)
            if (!metrics_detail::valid_name(l, false) || l.starts_with("__") || l == "le")
                throw error(errc::invalid_argument, fmt::format("'{}' is not a label name for {}", l, name_));
    }
    virtual ~metric_family() = default;
    metric_family(const metric_family&) = delete;
    metric_family& operator=(const metric_family&) = delete;

    const std::string& name() const noexcept { return name_; }
    /// The `# HELP`, `# TYPE` and sample lines.
    std::string render() const {
        static constexpr const char* types[] = {"counter", "gauge", "histogram"};
        std::string out = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, escape_help(help_), name_,
                                      types[static_cast<int>(kind_)]);
        std::lock_guard lock(mutex_);
        render_samples_locked(out);
        return out;
    }

protected:
    using key = std::vector<std::string>;
    key make_key(std::initializer_list<std::string_view> values) const {
        if (values.size() != labels_.size())
            throw error(errc::invalid_argument,
                        fmt::format("{} takes {} label values, not {}", name_, labels_.size(), values.size()));
        return key(values.begin(), values.end());
    }
    virtual void render_samples_locked(std::string& out) const = 0;

    kind kind_;
    std::string name_, help_;
    std::vector<std::string> labels_;
    mutable std::mutex mutex_;
};

/// Counts that only go up (name them `..._total`).
class counter_family : public metric_family {
public:
    counter_family(std::string name, std::string help, std::vector<std::string> labels)
        : metric_family(kind::counter, std::move(name), std::move(help), std::move(labels)) {
        if (labels_.empty()) values_[{}] = 0;  // a label-less series exists from the start
    }
    void inc(std::initializer_list<std::string_view> labels = {}, std::uint64_t n = 1) {
        auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        values_[std::move(k)] += n;
    }
    /// Makes the series exist (at 0) before its first event, so rates see it.
    void touch(std::initializer_list<std::string_view> labels) { inc(labels, 0); }
    std::uint64_t value(std::initializer_list<std::string_view> labels = {}) const {
        const auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        const auto it = values_.find(k);
        return it == values_.end() ? 0 : it->second;
    }

private:
    void render_samples_locked(std::string& out) const override {
        for (const auto& [k, v] : values_) out += fmt::format("{}{} {}\n", name_, format_labels(labels_, k), v);
    }
    std::map<key, std::uint64_t> values_;
};

/// Values that go up and down (set at the time of a scrape, or as they change).
class gauge_family : public metric_family {
public:
    gauge_family(std::string name, std::string help, std::vector<std::string> labels)
        : metric_family(kind::gauge, std::move(name), std::move(help), std::move(labels)) {
        if (labels_.empty()) values_[{}] = 0;
    }
    void set(std::initializer_list<std::string_view> labels, double v) {
        auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        values_[std::move(k)] = v;
    }
    void set(double v) { set({}, v); }
    void add(std::initializer_list<std::string_view> labels, double d) {
        auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        values_[std::move(k)] += d;
    }
    double value(std::initializer_list<std::string_view> labels = {}) const {
        const auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        const auto it = values_.find(k);
        return it == values_.end() ? 0 : it->second;
    }

private:
    void render_samples_locked(std::string& out) const override {
        for (const auto& [k, v] : values_)
            out += fmt::format("{}{} {}\n", name_, format_labels(labels_, k), format_sample_value(v));
    }
    std::map<key, double> values_;
};

/// Distributions: per series, counts of observations at or below each upper
/// bound (rendered cumulative, ending with `+Inf`), their sum and count.
class histogram_family : public metric_family {
public:
    histogram_family(std::string name, std::string help, std::vector<std::string> labels, std::vector<double> bounds)
        : metric_family(kind::histogram, std::move(name), std::move(help), std::move(labels)), bounds_(std::move(bounds)) {
        for (std::size_t i = 0; i < bounds_.size(); ++i)
            if (!std::isfinite(bounds_[i]) || (i && bounds_[i] <= bounds_[i - 1]))
                throw error(errc::invalid_argument,
                            fmt::format("{}: bucket bounds must be finite and increasing", name_));
        if (labels_.empty()) series_[{}] = series{std::vector<std::uint64_t>(bounds_.size() + 1, 0)};
    }
    void observe(std::initializer_list<std::string_view> labels, double v) {
        auto k = make_key(labels);
        // The first bound at or above v; past the last: the +Inf bucket.
        const auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
        std::lock_guard lock(mutex_);
        auto& s = at_locked(std::move(k));
        ++s.buckets[std::isnan(v) ? bounds_.size() : bucket];
        s.sum += v;
        ++s.count;
    }
    void observe(double v) { observe({}, v); }
    void touch(std::initializer_list<std::string_view> labels) {
        auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        at_locked(std::move(k));
    }
    std::uint64_t count(std::initializer_list<std::string_view> labels = {}) const {
        const auto k = make_key(labels);
        std::lock_guard lock(mutex_);
        const auto it = series_.find(k);
        return it == series_.end() ? 0 : it->second.count;
    }

private:
    struct series {
        std::vector<std::uint64_t> buckets;  // not cumulative; the last is +Inf
        double sum = 0;
        std::uint64_t count = 0;
    };
    series& at_locked(key k) {
        auto it = series_.find(k);
        if (it == series_.end())
            it = series_.emplace(std::move(k), series{std::vector<std::uint64_t>(bounds_.size() + 1, 0)}).first;
        return it->second;
    }
    void render_samples_locked(std::string& out) const override {
        for (const auto& [k, s] : series_) {
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i <= bounds_.size(); ++i) {
                cumulative += s.buckets[i];
                const auto le = i < bounds_.size() ? format_sample_value(bounds_[i]) : std::string("+Inf");
                out += fmt::format("{}_bucket{} {}\n", name_, format_labels(labels_, k, le), cumulative);
            }
            const auto labels = format_labels(labels_, k);
            out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name_, labels, format_sample_value(s.sum), name_, labels,
                               s.count);
        }
    }
    std::vector<double> bounds_;
    std::map<key, series> series_;
};

/// The families of one server, rendered in the order they were added.
/// Families live as long as the registry; the references returned stay valid.
class metrics_registry {
public:
    counter_family& counter(std::string name, std::string help, std::vector<std::string> labels = {}) {
        return add(std::make_unique<counter_family>(std::move(name), std::move(help), std::move(labels)));
    }
    gauge_family& gauge(std::string name, std::string help, std::vector<std::string> labels = {}) {
        return add(std::make_unique<gauge_family>(std::move(name), std::move(help), std::move(labels)));
    }
    histogram_family& histogram(std::string name, std::string help, std::vector<std::string> labels,
                                std::vector<double> bounds) {
        return add(std::make_unique<histogram_family>(std::move(name), std::move(help), std::move(labels),
                                                      std::move(bounds)));
    }

    /// The exposition text (Content-Type: text/plain; version=0.0.4).
    std::string render() const {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& f : families_) out += f->render();
        return out;
    }

    static constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    template <class F>
    F& add(std::unique_ptr<F> f) {
        std::lock_guard lock(mutex_);
        for (const auto& g : families_)
            if (g->name() == f->name()) throw error(errc::invalid_argument, fmt::format("metric {} is added twice", f->name()));
        auto& ref = *f;
        families_.push_back(std::move(f));
        return ref;
    }
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<metric_family>> families_;
};

}  // namespace rtb::serve
