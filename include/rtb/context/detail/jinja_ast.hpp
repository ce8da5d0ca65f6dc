// The Jinja2 template tree: the node kinds of jinja2.nodes that the
// renderer supports, allocated in the program's arena and never moved, plus
// the slots scope analysis fills in (which variable each name reads).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtb/context/detail/jinja_lexer.hpp"
#include "rtb/context/jinja_value.hpp"

namespace rtb::detail::jinja {

enum class expr_kind : std::uint8_t {
    constant, name, list, getattr, getitem, call, filter, test, not_, neg, pos, and_, or_, compare, concat, condexpr
};
enum class cmp_op : std::uint8_t { eq, ne, lt, lteq, gt, gteq, in, notin };
enum class filter_id : std::uint8_t { default_, lower, upper, trim, replace, join, length, first, last, string };
enum class test_id : std::uint8_t { defined, undefined, none };

/// Where a name's value lives at run time: slot `index` of the activation
/// `hops` links out from the running one (0: the running macro call or the
/// template itself; 1: the activation the running macro was defined in, as
/// a Python closure reads its enclosing function's locals; ...).
struct slot_ref {
    std::uint32_t hops = 0;
    std::int32_t index = -1;
};

struct expr {
    expr_kind kind = expr_kind::constant;
    std::uint32_t offset = 0;  ///< where it starts in the source
    std::uint32_t tag = 0;     ///< the `{{ }}` / `{% %}` it sits in
    std::uint32_t depth = 1;   ///< height of the subtree (bounded, so evaluation's recursion is)
    std::string_view name;     ///< name, attribute, filter or test as written
    rtb::jinja::value constant;
    expr* a = nullptr;         ///< operand, object, callee, left side; condexpr: the value if true
    expr* b = nullptr;         ///< right side, key; condexpr: the test
    expr* c = nullptr;         ///< condexpr: the value if false (may be absent)
    std::vector<expr*> args;   ///< list items, call/filter/test arguments, compare operands after `a`
    std::vector<std::pair<std::string_view, expr*>> kwargs;
    std::vector<cmp_op> ops;   ///< compare: ops[i] sits between operand i and operand i + 1
    filter_id filter = filter_id::default_;
    test_id test = test_id::defined;
    slot_ref slot;             ///< name: filled in by scope analysis
};

enum class stmt_kind : std::uint8_t { output, if_, for_, set, macro };

struct stmt;

/// Load instructions of a Jinja2 frame, run when the frame is entered
/// (jinja2.compiler's enter_frame): read the context, copy an outer
/// variable, or start undefined.
struct frame_load {
    enum class kind : std::uint8_t { resolve, alias, undefined } how;
    slot_ref target;
    slot_ref from;          ///< alias
    std::string name;       ///< resolve
};

struct frame_code {
    std::vector<frame_load> enter;
    std::vector<slot_ref> leave;  ///< set back to missing when the frame is left
};

/// A macro's compiled form: its own slots, parameters and entry code.
struct macro_code {
    std::string_view name;
    std::int32_t slot_count = 0;
    std::vector<slot_ref> params;
    frame_code frame;
};

struct output_part {
    std::string_view data;   ///< template text, when `value` is null
    expr* value = nullptr;
};

struct stmt {
    stmt_kind kind = stmt_kind::output;
    std::uint32_t offset = 0;
    std::uint32_t tag = 0;
    std::vector<output_part> parts;  ///< output
    expr* test = nullptr;            ///< if (and each elif): the condition
    expr* value = nullptr;           ///< for: the sequence; set: the value
    std::vector<stmt*> body;         ///< if, for, macro
    std::vector<stmt*> elifs;        ///< if: each an if_ with a test and a body
    std::vector<stmt*> else_body;    ///< if, for
    std::string_view target;         ///< for: the loop variable; set: the name; macro: its name
    std::vector<std::string_view> params;  ///< macro
    std::vector<expr*> defaults;           ///< macro: for the last params
    // Filled in by scope analysis.
    slot_ref target_slot;            ///< for, set, macro
    slot_ref loop_slot;              ///< for: `loop`, when the body uses it
    bool to_context = false;         ///< set, macro at the top level: also a context variable
    frame_code loop_frame, else_frame;  ///< for
    macro_code* macro = nullptr;     ///< macro
};

/// Everything a compiled template holds; nodes point into it, so it never moves.
struct program {
    token_stream lexed;
    std::deque<expr> exprs;
    std::deque<stmt> stmts;
    std::deque<macro_code> macros;
    std::vector<stmt*> body;
    frame_code root_frame;
    std::int32_t root_slots = 0;
    std::string name;
};

}  // namespace rtb::detail::jinja
