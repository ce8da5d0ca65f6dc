// Scope analysis: which variable every name in a template reads and writes,
// decided as Jinja2 decides it (jinja2.idtracking's Symbols and the frames
// of jinja2.compiler): a template's top level, each loop body and each macro
// body is a frame; a name assigned anywhere in a frame is that frame's own
// for the whole frame; loops copy outer variables in at every iteration;
// macros read the top level's variables as they are when the macro runs.
// Jinja2 compiles this to Python locals and closures; here every variable
// becomes a slot of an activation: the template's, or a macro call's, which
// links to the activation the macro was defined in.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "rtb/context/detail/jinja_ast.hpp"

namespace rtb::detail::jinja {

/// Fills in the slots and frame code of a parsed program. Throws failure
/// for what Jinja2 refuses at compile time, or rtb does not support.
void analyze(program& prog);

// ---------------------------------------------------------------------------

namespace scope {

struct load_instr {
    enum class kind : std::uint8_t { param, resolve, alias, undefined } how = kind::undefined;
    std::string arg;  ///< resolve: the name; alias: the outer identifier
};

/// jinja2.idtracking.Symbols: one frame's names. A branch of an `if` is an
/// overlay on its frame's symbols (jinja2 copies them): it sees everything
/// underneath and records only what it adds, so a template with many names
/// and many ifs costs what it holds, not their product.
class symbols {
public:
    symbols(const symbols* parent, int level) : parent_(parent), level_(level) {}

    /// An overlay on `base` for one branch of an `if` (jinja2's Symbols.copy()).
    static symbols branch_of(const symbols& base) {
        symbols s(base.parent_, base.level_);
        s.base_ = &base;
        return s;
    }

    int level() const noexcept { return level_; }
    const std::map<std::string, load_instr, std::less<>>& loads() const noexcept { return loads_; }

    const std::string* find_ref(std::string_view name) const {
        if (const auto* r = local_ref(name)) return r;
        return parent_ ? parent_->find_ref(name) : nullptr;
    }
    std::string ref(std::string_view name) const {
        if (const auto* r = find_ref(name)) return *r;
        throw failure{0, fmt::format("internal error: no variable for name '{}'", name)};
    }
    void load(std::string_view name) {
        if (!find_ref(name)) define_ref(name, {load_instr::kind::resolve, std::string(name)});
    }
    void store(std::string_view name) {
        stores_.emplace(name);
        if (local_ref(name)) return;
        if (parent_)
            if (const auto* outer = parent_->find_ref(name)) {
                define_ref(name, {load_instr::kind::alias, *outer});
                return;
            }
        define_ref(name, {load_instr::kind::undefined, {}});
    }
    std::string declare_parameter(std::string_view name) {
        stores_.emplace(name);
        return define_ref(name, {load_instr::kind::param, {}});
    }

    // Merges the branches of an `if` (overlays on this): a name stored in
    // some branches but not all keeps its outer value (or the context's) on
    // the other paths. Merging follows jinja2's dict.update of each branch's
    // full copy in turn: for a key this already has, the last branch's view
    // wins; for a new key, the last branch that has it.
    void branch_update(const std::vector<const symbols*>& branches) {
        std::map<std::string, std::size_t> counts;
        for (const auto* b : branches)
            for (const auto& target : b->stores_)
                if (!stored(target)) ++counts[target];
        merge(branches, &symbols::refs_, &symbols::local_ref);
        merge(branches, &symbols::loads_, &symbols::local_load);
        for (const auto* b : branches) stores_.insert(b->stores_.begin(), b->stores_.end());
        for (const auto& [name, count] : counts) {
            if (count == branches.size()) continue;
            const std::string target = ref(name);
            if (parent_)
                if (const auto* outer = parent_->find_ref(name)) {
                    loads_[target] = {load_instr::kind::alias, *outer};
                    continue;
                }
            loads_[target] = {load_instr::kind::resolve, name};
        }
    }

private:
    const std::string* local_ref(std::string_view name) const {
        if (const auto it = refs_.find(name); it != refs_.end()) return &it->second;
        return base_ ? base_->local_ref(name) : nullptr;
    }
    const load_instr* local_load(std::string_view ident) const {
        if (const auto it = loads_.find(ident); it != loads_.end()) return &it->second;
        return base_ ? base_->local_load(ident) : nullptr;
    }
    bool stored(std::string_view name) const { return stores_.count(name) || (base_ && base_->stored(name)); }

    template <class V, class Lookup>
    void merge(const std::vector<const symbols*>& branches, std::map<std::string, V, std::less<>> symbols::*table,
               Lookup visible) {
        std::map<std::string, std::pair<std::size_t, const V*>> latest;
        for (std::size_t i = 0; i < branches.size(); ++i)
            for (const auto& [k, v] : branches[i]->*table) latest[k] = {i, &v};
        for (const auto& [k, at] : latest) {
            // The last branch saw this key unchanged underneath: that view wins.
            if (at.first + 1 != branches.size() && (this->*visible)(k)) continue;
            (this->*table)[k] = *at.second;
        }
    }

    std::string define_ref(std::string_view name, load_instr l) {
        std::string ident = fmt::format("l_{}_{}", level_, name);
        refs_[std::string(name)] = ident;
        loads_[ident] = std::move(l);
        return ident;
    }

    const symbols* parent_;
    const symbols* base_ = nullptr;  ///< the frame's symbols under this branch overlay
    int level_;
    std::map<std::string, std::string, std::less<>> refs_;
    std::map<std::string, load_instr, std::less<>> loads_;
    std::set<std::string, std::less<>> stores_;
};

/// jinja2.idtracking.FrameSymbolVisitor over rtb's nodes.
inline void visit_expr(const expr* e, symbols& s) {
    if (!e) return;
    if (e->kind == expr_kind::name) s.load(e->name);
    visit_expr(e->a, s);
    visit_expr(e->b, s);
    visit_expr(e->c, s);
    for (const auto* x : e->args) visit_expr(x, s);
    for (const auto& [k, x] : e->kwargs) visit_expr(x, s);
}

inline void visit_stmt(const stmt* st, symbols& s);

inline void visit_stmts(const std::vector<stmt*>& body, symbols& s) {
    for (const auto* st : body) visit_stmt(st, s);
}

inline void visit_stmt(const stmt* st, symbols& s) {
    switch (st->kind) {
        case stmt_kind::output:
            for (const auto& part : st->parts) visit_expr(part.value, s);
            break;
        case stmt_kind::if_: {
            visit_expr(st->test, s);
            symbols body = symbols::branch_of(s), elifs = symbols::branch_of(s), otherwise = symbols::branch_of(s);
            visit_stmts(st->body, body);
            visit_stmts(st->elifs, elifs);
            visit_stmts(st->else_body, otherwise);
            s.branch_update({&body, &elifs, &otherwise});
            break;
        }
        case stmt_kind::for_:
            visit_expr(st->value, s);  // the loop's own names live in its frame
            break;
        case stmt_kind::set:
            visit_expr(st->value, s);
            s.store(st->target);
            break;
        case stmt_kind::macro:
            s.store(st->target);  // the body is a frame of its own
            break;
    }
}

/// Whether `name` is read anywhere in `body` (jinja2's find_undeclared).
inline bool reads_name(const expr* e, std::string_view name) {
    if (!e) return false;
    if (e->kind == expr_kind::name && e->name == name) return true;
    if (reads_name(e->a, name) || reads_name(e->b, name) || reads_name(e->c, name)) return true;
    for (const auto* x : e->args)
        if (reads_name(x, name)) return true;
    for (const auto& [k, x] : e->kwargs)
        if (reads_name(x, name)) return true;
    return false;
}

inline bool reads_name(const std::vector<stmt*>& body, std::string_view name) {
    for (const auto* st : body) {
        for (const auto& part : st->parts)
            if (reads_name(part.value, name)) return true;
        if (reads_name(st->test, name) || reads_name(st->value, name)) return true;
        for (const auto* d : st->defaults)
            if (reads_name(d, name)) return true;
        if (reads_name(st->body, name) || reads_name(st->elifs, name) || reads_name(st->else_body, name)) return true;
    }
    return false;
}

/// A statement anywhere in `body` that assigns `name` (a for or set target).
inline const stmt* assigns_name(const std::vector<stmt*>& body, std::string_view name) {
    for (const auto* st : body) {
        if ((st->kind == stmt_kind::for_ || st->kind == stmt_kind::set) && st->target == name) return st;
        for (const auto* list : {&st->body, &st->elifs, &st->else_body})
            if (const auto* hit = assigns_name(*list, name)) return hit;
    }
    return nullptr;
}

/// The slots of one Python function Jinja2 would generate: the template's
/// root, or one macro. A function owns the identifiers of its frames, whose
/// levels start at `min_level`; lower levels belong to the functions it is
/// nested in (`parent`), which it reads as a closure does.
struct function_slots {
    int min_level = 0;
    function_slots* parent = nullptr;
    std::map<std::string, std::int32_t, std::less<>> index;
    std::int32_t count = 0;
};

struct frame {
    symbols* sym;
    bool toplevel;   ///< the template's top level (also inside its ifs): sets become context variables
    function_slots* fn;
};

class compiler {
public:
    explicit compiler(program& p) : p_(p) {}

    void run() {
        symbols root(nullptr, 0);
        visit_stmts(p_.body, root);
        frame f{&root, true, &root_fn_};
        p_.root_frame = frame_code_for(f);
        compile(p_.body, f);
        p_.root_slots = root_fn_.count;
    }

private:
    slot_ref slot_for(const frame& f, const std::string& ident) {
        // Identifiers are l_<level>_<name>: the innermost enclosing function
        // whose frames start at or below that level owns it.
        const int level = std::stoi(ident.substr(2, ident.find('_', 2) - 2));
        function_slots* fn = f.fn;
        std::uint32_t hops = 0;
        while (fn->min_level > level) {
            fn = fn->parent;
            ++hops;
        }
        auto [it, fresh] = fn->index.emplace(ident, fn->count);
        if (fresh) ++fn->count;
        return {hops, it->second};
    }

    frame_code frame_code_for(const frame& f) {
        frame_code code;
        for (const auto& [ident, l] : f.sym->loads()) {
            const slot_ref target = slot_for(f, ident);
            code.leave.push_back(target);
            switch (l.how) {
                case load_instr::kind::param: break;
                case load_instr::kind::resolve:
                    code.enter.push_back({frame_load::kind::resolve, target, {}, l.arg});
                    break;
                case load_instr::kind::alias:
                    code.enter.push_back({frame_load::kind::alias, target, slot_for(f, l.arg), {}});
                    break;
                case load_instr::kind::undefined:
                    code.enter.push_back({frame_load::kind::undefined, target, {}, {}});
                    break;
            }
        }
        return code;
    }

    void compile(expr* e, const frame& f) {
        if (!e) return;
        if (e->kind == expr_kind::name) e->slot = slot_for(f, f.sym->ref(e->name));
        compile(e->a, f);
        compile(e->b, f);
        compile(e->c, f);
        for (auto* x : e->args) compile(x, f);
        for (auto& [k, x] : e->kwargs) compile(x, f);
    }

    void compile(const std::vector<stmt*>& body, const frame& f) {
        for (auto* st : body) compile(*st, f);
    }

    [[noreturn]] void fail(const stmt& st, std::string message) const {
        const auto& span = p_.lexed.tags[st.tag];
        throw failure{st.offset, std::move(message), span.begin, span.end};
    }

    void compile(stmt& st, const frame& f) {
        switch (st.kind) {
            case stmt_kind::output:
                for (auto& part : st.parts) compile(part.value, f);
                break;
            case stmt_kind::if_:
                compile(st.test, f);
                compile(st.body, f);
                for (auto* elif : st.elifs) compile(*elif, f);
                compile(st.else_body, f);
                break;
            case stmt_kind::for_: compile_for(st, f); break;
            case stmt_kind::set:
                compile(st.value, f);
                st.target_slot = slot_for(f, f.sym->ref(st.target));
                st.to_context = f.toplevel;
                break;
            case stmt_kind::macro: compile_macro(st, f); break;
        }
    }

    void compile_for(stmt& st, const frame& f) {
        if (st.target == "loop") fail(st, "cannot assign to the special variable 'loop' (the loop's own)");
        for (const auto* list : {&st.body, &st.else_body})
            if (const auto* s = assigns_name(*list, "loop")) fail(*s, "cannot assign to the special variable 'loop' inside a loop");
        symbols loop_sym(f.sym, f.sym->level() + 1);
        const bool uses_loop = reads_name(st.body, "loop");
        std::string loop_ident;
        if (uses_loop) loop_ident = loop_sym.declare_parameter("loop");
        loop_sym.declare_parameter(st.target);
        visit_stmts(st.body, loop_sym);
        symbols else_sym(f.sym, f.sym->level() + 1);
        visit_stmts(st.else_body, else_sym);

        compile(st.value, f);  // the sequence is read in the outer frame
        frame inner{&loop_sym, false, f.fn};
        st.target_slot = slot_for(inner, loop_sym.ref(st.target));
        if (uses_loop) st.loop_slot = slot_for(inner, loop_ident);
        st.loop_frame = frame_code_for(inner);
        compile(st.body, inner);
        frame otherwise{&else_sym, false, f.fn};
        st.else_frame = frame_code_for(otherwise);
        compile(st.else_body, otherwise);
    }

    void compile_macro(stmt& st, const frame& f) {
        for (const std::string_view special : {"caller", "varargs", "kwargs"}) {
            const bool param = std::find(st.params.begin(), st.params.end(), special) != st.params.end();
            if ((special == "caller" && param) || (!param && reads_name(st.body, special)))
                fail(st, fmt::format("'{}' in macros is not supported", special));
        }
        symbols sym(f.sym, f.sym->level() + 1);
        for (const auto p : st.params) sym.declare_parameter(p);
        for (const auto* d : st.defaults) visit_expr(d, sym);
        visit_stmts(st.body, sym);

        function_slots& fn = macro_fns_.emplace_back();
        fn.min_level = sym.level();
        fn.parent = f.fn;
        frame inner{&sym, false, &fn};
        auto& code = p_.macros.emplace_back();
        code.name = st.target;
        for (const auto p : st.params) code.params.push_back(slot_for(inner, sym.ref(p)));
        for (auto* d : st.defaults) compile(d, inner);
        code.frame = frame_code_for(inner);
        compile(st.body, inner);
        code.slot_count = fn.count;
        st.macro = &code;
        st.target_slot = slot_for(f, f.sym->ref(st.target));
        st.to_context = f.toplevel;
    }

    program& p_;
    function_slots root_fn_;
    std::deque<function_slots> macro_fns_;
};

}  // namespace scope

inline void analyze(program& prog) { scope::compiler(prog).run(); }

}  // namespace rtb::detail::jinja
