#!/usr/bin/env python3
"""rtb's Jinja2 renderer against Python's jinja2, byte for byte.

- corpus.YES: every supported construct and combination; jinja2 renders
  each, rtb must give the very same text.
- corpus.BOTH_REFUSE: malformed templates and run-time errors; jinja2
  refuses each, rtb must refuse too, naming the line and column.
- corpus.RTB_REFUSES: outside rtb's subset; rtb must refuse with line and
  column (never render them as text).
- generate.case(seed) for RTB_JINJA_RANDOM_CASES seeds (default 5000) from
  RTB_JINJA_SEED (default 0): identical output, or both refuse.

Needs RTB_JINJA_RENDER (tests/jinja/jinja_render) and python3-jinja2.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402
import generate  # noqa: E402
import oracle  # noqa: E402

WHERE = re.compile(r"^template \S+: line \d+, column \d+: ")


def as_case(entry, kind):
    name, template, context, *rest = entry + (({},) if len(entry) == 2 else ())
    c = {"name": f"{kind}:{name}", "template": template, "context": context}
    if rest:
        c.update(rest[0])
    return c


def main():
    random_count = int(os.environ.get("RTB_JINJA_RANDOM_CASES", "5000"))
    first_seed = int(os.environ.get("RTB_JINJA_SEED", "0"))
    yes = [as_case(e, "yes") for e in corpus.YES]
    both = [as_case(e, "both-refuse") for e in corpus.BOTH_REFUSE]
    refuses = [as_case(e, "rtb-refuses") for e in corpus.RTB_REFUSES]
    randoms = [generate.case(s) for s in range(first_seed, first_seed + random_count)]
    cases = yes + both + refuses + randoms
    rtb = oracle.rtb_render(cases)
    problems = []
    stats = {"identical": 0, "both_refused": 0, "rtb_refused": 0, "random_identical": 0, "random_both_refused": 0}

    for c, got in zip(cases, rtb):
        kind = c["name"].split(":")[0] if ":" in c["name"] else "random"
        want = oracle.jinja2_render(c)
        if got[0] == "error" and not WHERE.match(got[1]):
            problems.append(f"rtb's error names no line and column: {got[1]!r}\n  {oracle.describe(c)}")
            continue
        if kind == "yes":
            if want[0] != "output":
                problems.append(f"corpus case refused by jinja2 itself ({want[1]})\n  {oracle.describe(c)}")
            elif got != want:
                problems.append(f"differs: jinja2 {want!r}\n          rtb    {got!r}\n  {oracle.describe(c)}")
            else:
                stats["identical"] += 1
        elif kind == "both-refuse":
            if want[0] != "error":
                problems.append(f"corpus case rendered by jinja2 ({want[1]!r})\n  {oracle.describe(c)}")
            elif got[0] != "error":
                problems.append(f"rtb rendered what jinja2 refuses ({want[1]}): {got[1]!r}\n  {oracle.describe(c)}")
            else:
                stats["both_refused"] += 1
        elif kind == "rtb-refuses":
            if got[0] != "error":
                problems.append(f"rtb rendered a construct outside its subset: {got[1]!r}\n  {oracle.describe(c)}")
            else:
                stats["rtb_refused"] += 1
        else:
            if want[0] == "output" and got != want:
                problems.append(f"differs: jinja2 {want!r}\n          rtb    {got!r}\n  {oracle.describe(c)}")
            elif want[0] == "error" and got[0] != "error":
                problems.append(f"rtb rendered what jinja2 refuses ({want[1]}): {got[1]!r}\n  {oracle.describe(c)}")
            elif want[0] == "output":
                stats["random_identical"] += 1
            else:
                stats["random_both_refused"] += 1

    print(f"corpus: {stats['identical']} identical, {stats['both_refused']} refused by both, "
          f"{stats['rtb_refused']} outside the subset refused by rtb; random ({random_count} from seed {first_seed}): "
          f"{stats['random_identical']} identical, {stats['random_both_refused']} refused by both")
    # A generator whose cases mostly fail would test little.
    if random_count and stats["random_identical"] < random_count * 0.5:
        problems.append(f"only {stats['random_identical']} of {random_count} random cases rendered: the generator is off")
    for p in problems[:40]:
        print("FAIL", p)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
