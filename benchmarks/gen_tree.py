#!/usr/bin/python3
"""Generates deterministic benchmark trees (same seed, same bytes).

  gen_tree.py openhands DIR   ~600 files, ~6 MB, shaped like OpenHands' runtime
                              source (Python packages, __pycache__, a few big files)
  gen_tree.py large DIR       >=20,000 files, >=250 MB, ~1,000 folders

An existing DIR with a matching .complete marker is left alone.
"""
import os
import random
import sys

SHAPES = {
    # name: (files, target bytes, folders, max depth)
    "openhands": (600, 6 << 20, 60, 4),
    "large": (20_500, 256 << 20, 1_000, 5),
}
WORDS = ("def class return import self value runtime action observation sandbox image build "
         "cache layer async await event stream logger config").split()


def text_blob(rng, size):
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out)[:size].encode()


def main(shape, root):
    files, total, folders, depth = SHAPES[shape]
    marker = root.rstrip("/") + ".complete"
    if os.path.exists(marker):
        return
    rng = random.Random(f"rtb-bench-{shape}")
    dirs = [""]
    for i in range(folders - 1):
        parent = rng.choice([d for d in dirs if d.count("/") < depth - 1])
        name = rng.choice(["pkg", "core", "utils", "runtime", "plugins", "impl", "api", "agent", "events"]) + str(i)
        if rng.random() < 0.08:
            name = "__pycache__"
        d = os.path.join(parent, name) if parent else name
        if d not in dirs:
            dirs.append(d)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    # log-normal sizes scaled to the target total; a handful of big files
    sizes = [rng.lognormvariate(8.2, 1.3) for _ in range(files)]
    scale = total / sum(sizes)
    sizes = [max(0, int(s * scale)) for s in sizes]
    block = text_blob(rng, 1 << 20)
    for i, size in enumerate(sizes):
        d = rng.choice(dirs)
        ext = ".pyc" if d.endswith("__pycache__") else rng.choice([".py", ".py", ".py", ".json", ".md", ".txt"])
        path = os.path.join(root, d, f"m{i}{ext}")
        with open(path, "wb") as f:
            header = f"# file {i}\n".encode()
            f.write(header)
            left = size
            while left > 0:
                off = rng.randrange(0, len(block) - 1)
                chunk = block[off:off + left]
                f.write(chunk)
                left -= len(chunk)
    with open(marker, "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
