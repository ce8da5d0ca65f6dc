// Engine output hot paths: rtb's chunked engine-stream decoder against
// simdjson iterate_many over the whole buffer (the limit) and nlohmann::json
// per line; rtb's BuildKit plain parser against a std::regex line parser.
// Python's json.loads runs on the same corpus from benchmarks/stream_report.py
// (benchmarks/run_stream_benchmarks.sh runs everything).
//
//   bench_stream --write-corpus=DIR   also writes engine.ndjson and plain.log to DIR
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "rtb/stream/buildkit_plain.hpp"
#include "rtb/stream/engine_stream.hpp"
#include "stream_corpus.hpp"

namespace {

constexpr std::size_t chunk = 16 * 1024;

const std::string& engine_corpus() {
    static const std::string c = rtb::bench::engine_corpus();
    return c;
}
const std::string& plain_corpus() {
    static const std::string c = rtb::bench::plain_corpus();
    return c;
}

// What every engine-stream contender produces: the same counts, so the work
// can be checked to be the same.
struct tally {
    std::uint64_t docs = 0, text_bytes = 0, progress = 0, current_sum = 0;
    void on_event(const rtb::build_event& e) noexcept {
        ++docs;
        if (const auto* p = std::get_if<rtb::events::progress>(&e)) {
            ++progress;
            current_sum += p->current;
        } else if (const auto* l = std::get_if<rtb::events::log_line>(&e)) {
            text_bytes += l->text.size();
        }
    }
};

void set_counters(benchmark::State& state, std::size_t bytes, std::uint64_t items) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
    state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}

// ---- engine JSON stream ---------------------------------------------------------

void engine_rtb_decoder_16k(benchmark::State& state) {
    const auto& data = engine_corpus();
    tally t;
    for (auto _ : state) {
        t = {};
        rtb::engine_stream_decoder d(t);
        for (std::size_t at = 0; at < data.size(); at += chunk) d.feed(std::string_view(data).substr(at, chunk));
        d.finish();
        benchmark::DoNotOptimize(t);
    }
    set_counters(state, data.size(), t.docs);
    state.counters["progress"] = static_cast<double>(t.progress);
}

// Raw key compare, the same fixed-size compare rtb's decoder uses.
template <std::size_t N>
bool key_is(const simdjson::ondemand::raw_json_string& key, const char (&name)[N]) noexcept {
    return std::memcmp(key.raw(), name, N - 1) == 0 && key.raw()[N - 1] == '"';
}

// The same fields an engine stream decoder reads, with the same raw-key
// dispatch, from any On-Demand document.
template <class Doc>
simdjson::error_code read_fields(Doc& doc, std::uint64_t& sum) {
    simdjson::ondemand::object o;
    if (auto e = doc.get_object().get(o)) return e;
    for (auto f : o) {  // fields used in place, as rtb's decoder does (a copy costs a stall)
        if (auto e = f.error()) return e;
        simdjson::ondemand::field& field = f.value_unsafe();
        const auto key = field.key();
        simdjson::error_code e = simdjson::SUCCESS;
        std::string_view s;
        if (key_is(key, "stream") || key_is(key, "status") || key_is(key, "id") ||
            key_is(key, "error")) {
            if (!(e = field.value().get_string().get(s))) sum += s.size();
        } else if (key_is(key, "progressDetail") || key_is(key, "errorDetail") ||
                   key_is(key, "aux")) {
            simdjson::ondemand::object inner;
            if ((e = field.value().get_object().get(inner))) return e;
            for (auto g : inner) {
                if ((e = g.error())) return e;
                simdjson::ondemand::field& gf = g.value_unsafe();
                const auto k = gf.key();
                if (key_is(k, "current") || key_is(k, "total") || key_is(k, "code") ||
                    key_is(k, "Size")) {
                    std::int64_t n = 0;
                    if (!(e = gf.value().get_int64().get(n))) sum += static_cast<std::uint64_t>(n);
                } else if (key_is(k, "ID") || key_is(k, "message") || key_is(k, "Tag") ||
                           key_is(k, "Digest")) {
                    if (!(e = gf.value().get_string().get(s))) sum += s.size();
                }
                if (e) return e;
            }
        }
        if (e) return e;
    }
    return simdjson::SUCCESS;
}

void iterate_many(benchmark::State& state, bool threaded) {
    const auto& data = engine_corpus();
    const simdjson::padded_string padded(data);
    simdjson::ondemand::parser parser;
    parser.threaded = threaded;
    std::uint64_t docs = 0, sum = 0;
    for (auto _ : state) {
        docs = sum = 0;
        simdjson::ondemand::document_stream stream;
        if (parser.iterate_many(padded).get(stream)) state.SkipWithError("iterate_many failed");
        for (auto it = stream.begin(); it != stream.end(); ++it) {
            simdjson::ondemand::document_reference doc;
            if ((*it).get(doc) || read_fields(doc, sum)) {
                state.SkipWithError("bad document");
                break;
            }
            ++docs;
        }
        benchmark::DoNotOptimize(sum);
    }
    set_counters(state, data.size(), docs);
}
// iterate_many as an engine socket feeds the decoder: 16 KiB chunks, each
// one's complete lines parsed in one pass (the incomplete tail waits for the
// next chunk), from a padded buffer; with `source`, each document's
// iterator::source() is also taken, as the decoder's batch pass does to
// check the document ends its line.
void iterate_many_chunked(benchmark::State& state, bool source) {
    const auto& data = engine_corpus();
    simdjson::ondemand::parser parser;
#ifdef SIMDJSON_THREADS_ENABLED
    parser.threaded = false;
#endif
    std::string buf;
    std::uint64_t docs = 0, sum = 0;
    for (auto _ : state) {
        docs = sum = 0;
        buf.clear();
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            buf.append(std::string_view(data).substr(at, chunk));
            const auto last = buf.rfind('\n');
            if (last == std::string::npos) continue;
            const auto len = last + 1;
            buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
            simdjson::ondemand::document_stream stream;
            if (parser.iterate_many(buf.data(), len, std::size_t{1} << 20).get(stream)) {
                state.SkipWithError("iterate_many failed");
                return;
            }
            for (auto it = stream.begin(); it != stream.end(); ++it) {
                simdjson::ondemand::document_reference doc;
                if ((*it).get(doc) || read_fields(doc, sum)) {
                    state.SkipWithError("bad document");
                    return;
                }
                if (source) sum += it.source().size();
                ++docs;
            }
            buf.erase(0, len);
        }
        benchmark::DoNotOptimize(sum);
    }
    set_counters(state, data.size(), docs);
}

void engine_simdjson_iterate_many(benchmark::State& state) { iterate_many(state, true); }
void engine_simdjson_iterate_many_16k(benchmark::State& state) { iterate_many_chunked(state, false); }
void engine_simdjson_iterate_many_16k_source(benchmark::State& state) { iterate_many_chunked(state, true); }
void engine_simdjson_iterate_many_one_thread(benchmark::State& state) { iterate_many(state, false); }

void engine_nlohmann_per_line(benchmark::State& state) {
    const auto& data = engine_corpus();
    std::uint64_t docs = 0, sum = 0;
    for (auto _ : state) {
        docs = sum = 0;
        std::size_t at = 0;
        while (at < data.size()) {
            auto nl = data.find('\n', at);
            if (nl == std::string::npos) nl = data.size();
            if (nl > at) {
                const auto j = nlohmann::json::parse(data.begin() + static_cast<std::ptrdiff_t>(at),
                                                     data.begin() + static_cast<std::ptrdiff_t>(nl));
                for (const char* k : {"stream", "status", "id", "error"})
                    if (auto f = j.find(k); f != j.end() && f->is_string()) sum += f->get_ref<const std::string&>().size();
                for (const char* o : {"progressDetail", "errorDetail", "aux"}) {
                    const auto f = j.find(o);
                    if (f == j.end() || !f->is_object()) continue;
                    for (const char* k : {"current", "total", "code", "Size"})
                        if (auto g = f->find(k); g != f->end() && g->is_number()) sum += g->get<std::uint64_t>();
                    for (const char* k : {"ID", "message", "Tag", "Digest"})
                        if (auto g = f->find(k); g != f->end() && g->is_string()) sum += g->get_ref<const std::string&>().size();
                }
                ++docs;
            }
            at = nl + 1;
        }
        benchmark::DoNotOptimize(sum);
    }
    set_counters(state, data.size(), docs);
}

// ---- BuildKit plain log ------------------------------------------------------------

void plain_rtb_parser_16k(benchmark::State& state) {
    const auto& data = plain_corpus();
    tally t;
    for (auto _ : state) {
        t = {};
        rtb::buildkit_plain_parser p(t);
        for (std::size_t at = 0; at < data.size(); at += chunk) p.feed(std::string_view(data).substr(at, chunk));
        p.finish();
        benchmark::DoNotOptimize(t);
    }
    set_counters(state, data.size(), t.docs);
}

// The obvious way: one std::regex per line shape.
void plain_std_regex_per_line(benchmark::State& state) {
    const auto& data = plain_corpus();
    const std::regex header(R"(^#(\d+) \[([^\]]*?)(?: ?(\d+)/(\d+))?\] (.*)$)");
    const std::regex log(R"(^#(\d+) (\d+\.\d+) (.*)$)");
    const std::regex done(R"(^#(\d+) (?:DONE (\d+\.\d+)s|CACHED)$)");
    const std::regex err(R"(^#(\d+) ERROR: (.*)$)");
    const std::regex other(R"(^#(\d+) (.*)$)");
    std::uint64_t events = 0, sum = 0;
    for (auto _ : state) {
        events = sum = 0;
        std::size_t at = 0;
        std::smatch m;
        while (at < data.size()) {
            auto nl = data.find('\n', at);
            if (nl == std::string::npos) nl = data.size();
            const std::string line = data.substr(at, nl - at);
            at = nl + 1;
            if (std::regex_match(line, m, log) || std::regex_match(line, m, done) || std::regex_match(line, m, err) ||
                std::regex_match(line, m, header) || std::regex_match(line, m, other)) {
                sum += static_cast<std::uint64_t>(m[m.size() - 1].length());
                ++events;
            }
        }
        benchmark::DoNotOptimize(sum);
    }
    set_counters(state, data.size(), events);
}

}  // namespace

BENCHMARK(engine_rtb_decoder_16k)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(engine_simdjson_iterate_many)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(engine_simdjson_iterate_many_one_thread)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(engine_simdjson_iterate_many_16k)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(engine_simdjson_iterate_many_16k_source)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(engine_nlohmann_per_line)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(plain_rtb_parser_16k)->Unit(benchmark::kMillisecond)->MinTime(1.0)->MeasureProcessCPUTime();
BENCHMARK(plain_std_regex_per_line)->Unit(benchmark::kMillisecond)->Iterations(1)->MeasureProcessCPUTime();

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        constexpr std::string_view flag = "--write-corpus=";
        const std::string_view arg = argv[i];
        if (!arg.starts_with(flag)) continue;
        const std::string dir(arg.substr(flag.size()));
        std::ofstream(dir + "/engine.ndjson", std::ios::binary) << engine_corpus();
        std::ofstream(dir + "/plain.log", std::ios::binary) << plain_corpus();
        for (int k = i; k + 1 < argc; ++k) argv[k] = argv[k + 1];
        --argc;
        break;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
