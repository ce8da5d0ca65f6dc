#!/usr/bin/python3
"""The baseline for `rtb context ls`: the docker CLI's context walk, in Python.

Lists DIR's regular files and symlinks the way the docker CLI sends them,
with .dockerignore-syntax patterns given as arguments: moby/patternmatcher's
pattern compilation (exact / prefix / suffix / regexp kinds) and
MatchesOrParentMatches, the CLI's rule for entering an excluded directory
(an exception pattern's text starts with "dir/"), paths printed relative and
bytewise sorted, one per line. The same job rtb does, done with Python's
os.scandir and re (its C regexp engine), as a straightforward port would.

usage: context_ls_baseline.py [--time] DIR PATTERN...
  --time: print the seconds the walk, matching and sorting took instead of
          the list (interpreter start-up excluded)
"""
import os
import posixpath
import re
import sys
import time


def clean(p):
    c = posixpath.normpath(p)
    return "." if c == "" else c


class Pattern:
    def __init__(self, text):
        text = text.strip()
        self.exclusion = text.startswith("!")
        if self.exclusion:
            text = text[1:]
        self.text = clean(text)
        reg, kind, i, s = "^", "exact", 0, self.text
        pos = 0
        while pos < len(s):
            ch = s[pos]
            pos += 1
            if ch == "*":
                if pos < len(s) and s[pos] == "*":
                    pos += 1
                    if pos < len(s) and s[pos] == "/":
                        pos += 1
                    if pos >= len(s):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg += ".*"
                            kind = "regexp"
                    else:
                        reg += "(.*/)?"
                        kind = "regexp"
                    if i == 0:
                        kind = "suffix"
                else:
                    reg += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                reg += "[^/]"
                kind = "regexp"
            elif ch in ".+()|{}$":
                reg += "\\" + ch
            elif ch == "\\":
                if pos < len(s):
                    reg += "\\" + s[pos]
                    pos += 1
                    kind = "regexp"
                else:
                    reg += "\\"
            elif ch in "[]":
                reg += ch
                kind = "regexp"
            else:
                reg += ch
            i += 1
        self.kind = kind
        self.regexp = re.compile(reg + "$") if kind == "regexp" else None

    def match(self, path):
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regexp.match(path) is not None


class Matcher:
    def __init__(self, patterns):
        self.patterns = [Pattern(p) for p in patterns if p.strip()]
        self.exclusions = any(p.exclusion for p in self.patterns)

    def matches(self, path):  # MatchesOrParentMatches
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            m = p.match(path)
            if not m and parents:
                for i in range(len(parents)):
                    if p.match("/".join(parents[:i + 1])):
                        m = True
                        break
            if m:
                matched = not p.exclusion
        return matched

    def may_include_below(self, d):
        if not self.exclusions:
            return False
        prefix = d + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


def walk(root, rel, matcher, out):
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        for e in it:
            path = rel + "/" + e.name if rel else e.name
            is_dir = e.is_dir(follow_symlinks=False)
            if matcher.matches(path):
                if is_dir and matcher.may_include_below(path):
                    walk(root, path, matcher, out)
                continue
            if is_dir:
                walk(root, path, matcher, out)
            elif e.is_file(follow_symlinks=False) or e.is_symlink():
                out.append(path)


def main():
    args = sys.argv[1:]
    timed = args[:1] == ["--time"]
    if timed:
        args = args[1:]
    root, patterns = args[0], args[1:]
    start = time.perf_counter()
    out = []
    walk(root, "", Matcher(patterns), out)
    out = sorted(p.encode("utf-8", "surrogateescape") for p in out)
    if timed:
        print(time.perf_counter() - start)
        return
    sys.stdout.buffer.write(b"".join(p + b"\n" for p in out))


if __name__ == "__main__":
    main()
