"""Python's jinja2 as the oracle for rtb's Jinja2 renderer.

A case is a dict: template, context (JSON values), and optionally
trim_blocks, lstrip_blocks, keep_trailing_newline, strict (StrictUndefined).
jinja2 renders it with autoescape off, as OpenHands' Environment does; the
rtb side is tests/jinja/jinja_render (RTB_JINJA_RENDER), one process for a
whole batch of cases.
"""
import json
import os
import subprocess
import tempfile

import jinja2

OPTION_KEYS = ("trim_blocks", "lstrip_blocks", "keep_trailing_newline", "strict")


def environment(case):
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined if case.get("strict") else jinja2.Undefined,
        autoescape=False,
        trim_blocks=bool(case.get("trim_blocks")),
        lstrip_blocks=bool(case.get("lstrip_blocks")),
        keep_trailing_newline=bool(case.get("keep_trailing_newline")),
    )


def jinja2_render(case):
    """("output", text) or ("error", message) from Python's jinja2."""
    try:
        out = environment(case).from_string(case["template"]).render(**case.get("context", {}))
        out.encode("utf-8")  # a lone surrogate cannot be written out: an error for a Dockerfile too
        return ("output", out)
    except RecursionError as e:
        return ("error", f"RecursionError: {e}")
    except Exception as e:  # every jinja2 failure mode counts as "refused"
        return ("error", f"{type(e).__name__}: {e}")


def rtb_render(cases, tool=None):
    """The same cases through rtb: a list of ("output", text) / ("error", message)."""
    tool = tool or os.environ["RTB_JINJA_RENDER"]
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False, encoding="utf-8") as f:
        for i, c in enumerate(cases):
            line = {"template": c["template"], "context": c.get("context", {}), "name": c.get("name", f"case{i}")}
            if "dockerfile" in c:  # rtb's Dockerfile path: render_dockerfile with these inputs
                line["dockerfile"] = c["dockerfile"]
            for k in OPTION_KEYS:
                if c.get(k):
                    line[k] = True
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        path = f.name
    try:
        proc = subprocess.run([tool, path], capture_output=True, timeout=1200)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    results = []
    for line in proc.stdout.decode("utf-8").splitlines():
        r = json.loads(line)
        results.append(("output", r["output"]) if "output" in r else ("error", r["error"]))
    if len(results) != len(cases):
        raise RuntimeError(f"{tool} answered {len(results)} of {len(cases)} cases")
    return results


def describe(case):
    opts = ",".join(k for k in OPTION_KEYS if case.get(k)) or "defaults"
    return f"{case.get('name', '?')} [{opts}] template={case['template']!r} context={json.dumps(case.get('context', {}), ensure_ascii=False)}"
