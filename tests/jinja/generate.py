"""Random well-formed Jinja2 templates and contexts inside rtb's subset, for
differential testing against Python's jinja2. Deterministic for a seed:
case(seed) always gives the same case, so a failure is reproduced by its
seed alone.

Templates mix text and every construct (output, if/elif/else, for/else
with loop variables, set, macros and calls, comments, raw, whitespace
control with - and +) with expressions over literals, context names
(some undefined), attribute and item access, operators, tests and filters,
under random trim_blocks / lstrip_blocks / keep_trailing_newline and, now
and then, StrictUndefined. Some cases fail at run time in both renderers
(comparing a str with an int, say): that is fine as long as both refuse.
"""
import random

NAMES = ["a", "b", "c", "s", "n", "l", "d", "t"]     # some defined in each context, some not
UNDEFINED = ["u", "missing"]                          # never defined
KEYS = ["a", "b", "k", "name", "x0"]                  # no Python method names
TEXT = ["", " ", "  ", "\n", "\n\n", " \n", "\t", "x", "abc", "-", " - ", "\n  ", "  \t\n ", "é", "%", "#", "}", "\\"]
ALPHABET = "ab AZ\n\t'\"\\-_.,:é\u00dfü\u00a0\u00ff\u00b5%{}#~"


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        # Under StrictUndefined, jinja2's constant folding raises for `[]|first ~ 'x'` at compile
        # time even in code that never runs; rtb folds nothing (documented), so avoid it there.
        self.strict = self.r.random() < 0.1
        self.macros = []          # (name, params, number of defaults)
        self.loop_depth = 0
        self.in_macro = False

    # -- data

    def string(self, max_len=6):
        return "".join(self.r.choice(ALPHABET) for _ in range(self.r.randint(0, max_len)))

    def value(self, depth=0):
        k = self.r.random()
        if depth >= 2 or k < 0.55:
            return self.r.choice([None, True, False, 0, 1, 2, -1, 7, self.string(), self.string(), "", "a", "b"])
        if k < 0.8:
            return [self.value(depth + 1) for _ in range(self.r.randint(0, 4))]
        return {key: self.value(depth + 1) for key in self.r.sample(KEYS, self.r.randint(0, 3))}

    def context(self):
        return {n: self.value() for n in NAMES if self.r.random() < 0.9}

    # -- expressions

    def str_literal(self):
        s = self.string()
        quote = self.r.choice("'\"")
        out = []
        for ch in s:
            if ch in ("\\", quote):
                out.append("\\" + ch)
            elif ch == "\n":
                out.append(self.r.choice(["\\n", "\n"]))
            elif ch == "\t":
                out.append(self.r.choice(["\\t", "\t", "\\x09"]))
            elif ch == "é" and self.r.random() < 0.5:
                out.append("\\u00e9")
            else:
                out.append(ch)
        return quote + "".join(out) + quote

    def literal(self, depth):
        k = self.r.random()
        if k < 0.35:
            return self.str_literal()
        if k < 0.55:
            return self.r.choice(["0", "1", "2", "3", "10", "0x1f", "0b11", "1_0", "00"])
        if k < 0.7 or depth >= 3:
            return self.r.choice(["true", "false", "True", "none", "None"])
        items = [self.expr(depth + 1) for _ in range(self.r.randint(0, 3))]
        return "[" + ", ".join(items) + (", " if items and self.r.random() < 0.2 else "") + "]"

    def name(self):
        pool = NAMES + UNDEFINED + ["x", "i", "loop"] * (self.loop_depth > 0) + ["p", "q"] * self.in_macro
        return self.r.choice(pool)

    def primary(self, depth):
        k = self.r.random()
        if depth > 3 or k < 0.3:
            return self.literal(depth) if self.r.random() < 0.5 else self.name()
        if k < 0.45:
            return self.name()
        if k < 0.6:
            # Mostly defined names: an attribute of an undefined one is an error in both.
            base = self.name() if self.r.random() < 0.15 else self.r.choice(NAMES + ["x", "i", "loop"] * (self.loop_depth > 0))
            if base == "loop":
                return "loop." + self.r.choice(["index", "index0", "first", "last", "length", "revindex", "revindex0"])
            key = self.r.choice(KEYS)
            return self.r.choice([f"{base}.{key}", f"{base}['{key}']", f"{base}[{self.r.randint(-2, 3)}]",
                                  f"{base}.{self.r.randint(0, 2)}"])
        if k < 0.7 and self.macros:
            return self.call()
        if k < 0.8:
            return "(" + self.expr(depth + 1) + ")"
        return self.literal(depth)

    def call(self):
        name, params, ndefaults = self.r.choice(self.macros)
        nargs = self.r.randint(0, len(params))
        args = [self.expr(3) for _ in range(nargs)]
        if self.r.random() < 0.3 and nargs < len(params):
            args.append(f"{params[self.r.randint(nargs, len(params) - 1)]}={self.expr(3)}")
        return f"{name}({', '.join(args)})"

    def filtered(self, depth):
        e = self.primary(depth)
        for _ in range(self.r.choice([0, 0, 0, 1, 1, 2])):
            f = self.r.choice(["default", "d", "lower", "upper", "trim", "replace", "join", "length", "count",
                               "string"] + ([] if self.strict else ["first", "last"]))
            if e == "loop" and f in ("join", "first", "last"):
                f = "length"  # iterating a LoopContext advances the loop in jinja2; rtb refuses it
            if f in ("default", "d"):
                args = self.r.choice(["", "()", f"({self.literal(3)})", f"({self.literal(3)}, true)",
                                      f"({self.literal(3)}, boolean={self.r.choice(['true', 'false'])})"])
            elif f == "trim":
                args = self.r.choice(["", "()", f"({self.str_literal()})", "(none)"])
            elif f == "replace":
                args = self.r.choice([f"({self.str_literal()}, {self.str_literal()})",
                                      f"({self.str_literal()}, {self.str_literal()}, {self.r.randint(-1, 2)})",
                                      "('a', 'b')", "('', '-')", f"({self.r.randint(0, 3)}, 'x')"])
            elif f == "join":
                args = self.r.choice(["", "(', ')", f"({self.str_literal()})", "(attribute='a')", "('-', 'name')",
                                      "(attribute=0)"])
            else:
                args = self.r.choice(["", "", "()"])
            if f in ("join", "length", "count", "first", "last") and self.r.random() < 0.6:
                e += "|string"  # ints and bools have no length: keep most cases renderable
            e = f"{e}|{f}{args}"
        if self.r.random() < 0.15:
            # Parenthesized: `x is none not in y` makes `not` the test's argument in Jinja2.
            e = f"({e} is {self.r.choice(['defined', 'not defined', 'undefined', 'none', 'not none'])})"
        return e

    def concat(self, depth):
        parts = [self.filtered(depth) for _ in range(self.r.choice([1, 1, 1, 1, 2, 3]))]
        return " ~ ".join(parts)

    def compare(self, depth):
        e = self.concat(depth)
        for _ in range(self.r.choice([0, 0, 0, 0, 1, 2])):
            op = self.r.choice(["==", "!=", "<", ">", "<=", ">=", "in", "not in", "==", "!=", "==", "in"])
            right = self.concat(depth + 1)
            if op in ("in", "not in") and right.startswith("loop") and not right.startswith("loop."):
                right = "l"  # `x in loop` iterates the LoopContext: see filtered()
            e = f"{e} {op} {right}"
        return e

    def not_(self, depth):
        return ("not " if self.r.random() < 0.15 else "") + self.compare(depth)

    def and_or(self, depth):
        e = self.not_(depth)
        for _ in range(self.r.choice([0, 0, 0, 0, 1, 2])):
            e = f"{e} {self.r.choice(['and', 'or'])} {self.not_(depth + 1)}"
        return e

    def expr(self, depth=0, condexpr=True):
        if depth > 3:
            return self.r.choice([self.name(), self.str_literal(), "1"])
        e = self.and_or(depth)
        if condexpr and depth < 2 and self.r.random() < 0.1:
            e = f"{e} if {self.and_or(depth + 1)}" + (f" else {self.and_or(depth + 1)}" if self.r.random() < 0.6 else "")
        return e

    # -- statements

    def ws(self):
        return self.r.choice(["", "", "", "-", "+"])

    def block(self, body):
        return "{%" + self.ws().replace("+", self.r.choice(["+", ""])) + " " + body + " " + self.r.choice(["", "", "-", "+"]) + "%}"

    def var(self):
        return "{{" + self.r.choice(["", "", "-"]) + " " + self.expr() + " " + self.r.choice(["", "", "-"]) + "}}"

    def text(self):
        return "".join(self.r.choice(TEXT) for _ in range(self.r.randint(0, 3)))

    def stmt(self, depth):
        k = self.r.random()
        if depth > 2 or k < 0.3:
            return self.text() + (self.var() if self.r.random() < 0.7 else "") + self.text()
        if k < 0.45:
            body = self.stmts(depth + 1)
            out = self.block(f"if {self.expr(condexpr=False)}") + body
            for _ in range(self.r.choice([0, 0, 0, 1, 2])):
                out += self.block(f"elif {self.expr(condexpr=False)}") + self.stmts(depth + 1)
            if self.r.random() < 0.4:
                out += self.block("else") + self.stmts(depth + 1)
            return out + self.block("endif")
        if k < 0.6:
            target = self.r.choice(["x", "i", "a", "s"])
            names = [n for n in (self.name() for _ in range(3)) if n != "loop"] or ["l"]  # a LoopContext is not a sequence in rtb
            seq = self.r.choice([names[0], self.literal(2), self.str_literal(), "[1, 2, 3]", names[-1] + "|default([])"])
            self.loop_depth += 1
            body = self.stmts(depth + 1)
            self.loop_depth -= 1
            out = self.block(f"for {target} in {seq}") + body
            if self.r.random() < 0.3:
                out += self.block("else") + self.stmts(depth + 1)
            return out + self.block("endfor")
        if k < 0.72:
            return self.block(f"set {self.r.choice(NAMES + ['x', 'v'])} = {self.expr()}")
        if k < 0.8:
            return "{#" + self.ws() + " " + self.text().replace("#}", "") + " " + self.r.choice(["", "-", "+"]) + "#}"
        if k < 0.82 and depth < 2:
            return self.macro(len(self.macros), depth + 1)  # also inside loops, ifs and macros
        if k < 0.85:
            # `{% raw +%}` is not a raw tag in Jinja2 (its opener takes no `+`).
            opener = "{%" + self.r.choice(["", "-", "+"]) + " raw " + self.r.choice(["", "-"]) + "%}"
            return opener + self.text() + "{{ " + self.text().replace("%}", "") + " }}" + self.block("endraw")
        return self.text() + self.var()

    def stmts(self, depth):
        return "".join(self.stmt(depth) for _ in range(self.r.choice([0, 1, 1, 2, 3])))

    def macro(self, index, depth=1):
        params = self.r.sample(["p", "q", "r"], self.r.randint(0, 3))
        ndefaults = self.r.randint(0, len(params))
        sig = []
        outer = self.in_macro
        self.in_macro = True
        for i, p in enumerate(params):
            sig.append(p + (f"={self.literal(3)}" if i >= len(params) - ndefaults else ""))
        body = self.stmts(depth)
        self.in_macro = outer
        name = f"m{index}"
        text = self.block(f"macro {name}({', '.join(sig)})") + body + self.block("endmacro")
        self.macros.append((name, params, ndefaults))
        return text

    def template(self):
        out = ""
        for i in range(self.r.choice([0, 0, 1, 2])):
            out += self.macro(i) + self.text()
        out += self.stmts(0)
        if self.r.random() < 0.3:
            out += self.r.choice(["\n", "\n\n", "\r\n", " \n"])
        return out


def case(seed):
    g = Gen(seed)
    template = g.template()
    c = {"name": f"random-{seed}", "template": template, "context": g.context()}
    for k in ("trim_blocks", "lstrip_blocks", "keep_trailing_newline"):
        if g.r.random() < 0.3:
            c[k] = True
    if g.strict:
        c["strict"] = True
    return c


if __name__ == "__main__":
    import json
    import sys
    for s in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        print(json.dumps(case(s), ensure_ascii=False))
