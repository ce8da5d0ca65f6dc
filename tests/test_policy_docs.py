#!/usr/bin/env python3
"""docs/policies.md stays true: its ```cpp blocks, in order, form one
translation unit that must compile (with the project's warnings as errors)."""
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

root = pathlib.Path(sys.argv[1])
compiler = shlex.split(sys.argv[2]) if len(sys.argv) > 2 else ["c++"]
flags = sys.argv[3:]
page = (root / "docs" / "policies.md").read_text()
blocks = re.findall(r"^```cpp\n(.*?)^```", page, re.M | re.S)
if len(blocks) < 5:
    print(f"FAIL: only {len(blocks)} cpp blocks found in docs/policies.md")
    sys.exit(1)
prelude = "#include <cstdio>\n#include <variant>\n"
with tempfile.TemporaryDirectory(prefix="rtb-policy-docs-") as d:
    tu = pathlib.Path(d) / "policies.cpp"
    tu.write_text(prelude + "\n".join(blocks))
    cmd = compiler + ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{root / 'include'}",
                      *flags, str(tu)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: docs/policies.md does not compile:\n" + r.stderr[-4000:])
        sys.exit(1)
print(f"{len(blocks)} blocks of docs/policies.md compile")
