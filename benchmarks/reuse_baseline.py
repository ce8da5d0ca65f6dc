#!/usr/bin/python3
"""The reuse decision made the Python/OpenHands way, for benchmarks/bench_build.

OpenHands' runtime_build.py decides whether a runtime image can be reused by
computing the source tag (md5 of the base image and the lock files, then
dirhash md5 of the source with its three ignore patterns, both shortened to
base 36) and asking the engine whether `{repo}:{source tag}` exists. This
does the same with dirhash-python (Debian's python3-dirhash) and the docker
CLI's `image inspect` (OpenHands asks through docker-py; the CLI is the
baseline the reuse benchmark names).

  reuse_baseline.py --source DIR --lock FILE [--lock FILE]... --base-image B
                    --version V --repo R --docker-host H [--warmup N] [--runs N]
                    [--print-image]

Each run is timed inside the interpreter (start-up and imports excluded):
one line per timed run, "total_s hash_s inspect_s lock_s" (hash_s: both
hashes, lock_s: the lock files' md5 within it). Exit status 3 when the
image does not exist (the decision would be "build", not "reuse").
--print-image prints the image name the decision asks about and exits.
"""
import argparse
import hashlib
import string
import subprocess
import sys
import time

from dirhash import dirhash

DOCKER = "/usr/bin/docker"
_ALPHABET = string.digits + string.ascii_lowercase


# From OpenHands' openhands/runtime/utils/runtime_build.py.
def truncate_hash(hash: str) -> str:
    """Convert the base16 hash to base36 and truncate at 16 characters."""
    value = int(hash, 16)
    result = []
    while value > 0 and len(result) < 16:
        value, remainder = divmod(value, len(_ALPHABET))
        result.append(_ALPHABET[remainder])
    return "".join(result)


def get_hash_for_lock_files(base_image, lock_files, enable_browser=True):
    md5 = hashlib.md5()
    md5.update(base_image.encode())
    if not enable_browser:
        md5.update(str(enable_browser).encode())
    for src in lock_files:
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(4096), b""):
                md5.update(chunk)
    return truncate_hash(md5.hexdigest())


def get_hash_for_source_files(source_dir):
    dir_hash = dirhash(
        source_dir,
        "md5",
        ignore=[
            ".*/",  # hidden directories
            "__pycache__/",
            "*.pyc",
        ],
    )
    return truncate_hash(dir_hash)


def source_image(a, times=None):
    t = time.perf_counter()
    lock_tag = f"oh_v{a.version}_{get_hash_for_lock_files(a.base_image, a.lock)}"
    if times is not None:
        times.append(time.perf_counter() - t)
    source_tag = f"{lock_tag}_{get_hash_for_source_files(a.source)}"
    return f"{a.repo}:{source_tag}"


def image_exists(host, image):
    r = subprocess.run([DOCKER, "-H", host, "image", "inspect", image],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def decide(a):
    lock = []
    t0 = time.perf_counter()
    image = source_image(a, lock)
    t1 = time.perf_counter()
    exists = image_exists(a.docker_host, image)
    t2 = time.perf_counter()
    return exists, t2 - t0, t1 - t0, t2 - t1, lock[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True)
    p.add_argument("--lock", action="append", default=[])
    p.add_argument("--base-image", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--docker-host", required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--print-image", action="store_true")
    a = p.parse_args()
    if a.print_image:
        print(source_image(a))
        return 0
    for _ in range(a.warmup):
        decide(a)
    for _ in range(a.runs):
        exists, total, hashing, inspect, lock = decide(a)
        if not exists:
            print(f"reuse_baseline: {source_image(a)} does not exist", file=sys.stderr)
            return 3
        print(f"{total:.6f} {hashing:.6f} {inspect:.6f} {lock:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
