#!/usr/bin/python3
"""A fleet in one test: two real dockerd engines with separate data roots
(two build hosts) and one loopback registry, all started here.

- host A builds a runtime image with --push; host B, with --registry,
  reuses it without building (the plan says it was found in the registry)
  and runs it (rtb run pulls it);
- after a source edit, host B builds only the source layer, on A's lock
  image from the registry;
- a build whose push fails (a registry that is not there) exits 3, and the
  image stays tagged on the host;
- `rtb serve --push` on host A pushes what it builds: host B reuses it;
- a batch of 10 base images split across both hosts builds each image once
  in the fleet: afterwards the full batch on either host reuses all 10, and
  every host runs every image;
- measured: the batch on one engine vs two, bytes pushed (the registry's
  storage) and pulled (blob bytes in the registry's access log), and the
  time host B takes to reuse against rebuilding. Printed as one line,
  "fleet measurements: {json}", and written to $RTB_FLEET_RESULTS if set."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
from support import Checks, ServeProcess, free_port, rtb  # noqa: E402
from isolated_dockerd import EngineError, IsolatedDockerd  # noqa: E402

c = Checks()
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 10


class Registry:
    """Debian's docker-registry on 127.0.0.1, its access log kept (blob bytes served)."""

    def __enter__(self):
        if not shutil.which("docker-registry"):
            raise EngineError("docker-registry is missing: install it (scripts/setup does)")
        self.dir = tempfile.mkdtemp(prefix="rtb-fleet-registry-")
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {self.data}
http:
  addr: 127.0.0.1:{self.port}
""")
        self.log_path = os.path.join(self.dir, "registry.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
                    if b" 200 " in s.recv(64):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise EngineError(f"the registry did not start: {open(self.log_path, 'rb').read()[-2000:]!r}")
            time.sleep(0.2)
        return self

    @property
    def name(self):
        return f"127.0.0.1:{self.port}"

    def stored_bytes(self):
        total = 0
        for d, _, files in os.walk(os.path.join(self.data, "docker/registry/v2/blobs")):
            for f in files:
                total += os.path.getsize(os.path.join(d, f))
        return total

    def blob_bytes_served(self):
        """Bytes of blobs sent by GET so far (the access log's combined format)."""
        total = 0
        pattern = re.compile(rb'"GET /v2/[^ ]*/blobs/sha256:[0-9a-f]+ HTTP/1\.1" 200 (\d+)')
        with open(self.log_path, "rb") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    total += int(m.group(1))
        return total

    def __exit__(self, *exc):
        if getattr(self, "proc", None) and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def busybox_rootfs(where):
    """A rootfs of Debian's static busybox with every applet linked."""
    os.makedirs(os.path.join(where, "bin"))
    shutil.copy2("/bin/busybox", os.path.join(where, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(where, "bin", a))
    return where


tmp = tempfile.mkdtemp(prefix="rtb-fleet-")
measured = {}
try:
    with Registry() as reg, IsolatedDockerd() as host_a, IsolatedDockerd() as host_b:
        hosts = {"A": host_a, "B": host_b}
        # Ten base images, each a little different, in the registry (as a
        # team's bases would be); host A made them, host B pulls what it needs.
        rootfs = busybox_rootfs(os.path.join(tmp, "rootfs"))
        bases = []
        for i in range(BATCH):
            with open(os.path.join(rootfs, "base-id"), "w") as f:
                f.write(f"{i}\n")
            tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True).stdout
            name = f"{reg.name}/fleet-base-{i}:1"
            host_a.docker("import", "-", name, input=tar)
            host_a.docker("push", name)
            host_a.docker("rmi", name)  # every host starts with the registry alone
            bases.append(name)

        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(root, "examples/runtime/src"), src, symlinks=True)
        lock = os.path.join(tmp, "deps.lock")
        shutil.copyfile(os.path.join(root, "examples/runtime/deps.lock"), lock)

        def env(host):
            """A host's own cache (its build locks) and an empty docker config."""
            return dict(os.environ, RTB_CACHE_DIR=os.path.join(tmp, f"cache-{host}"),
                        DOCKER_CONFIG=os.path.join(tmp, "docker-config"))

        def build(host, *args, repo):
            started = time.monotonic()
            status, out, err = rtb("build", "-H", hosts[host].host, "--source", src, "--lock", lock,
                                   "--runtime-repo", f"{reg.name}/{repo}", "--quiet", *args, env=env(host))
            return status, out, err, time.monotonic() - started

        def build_json(host, base, *args, repo):
            status, out, err, seconds = build(host, "--base-image", base, "--json", *args, repo=repo)
            try:
                return status, json.loads(out.strip().splitlines()[-1]), err, seconds
            except (ValueError, IndexError):
                return status, {}, err, seconds

        def run_in(host, image, *cmd):
            return rtb("run", "-H", hosts[host].host, "--rm", image, "--", *cmd, env=env(host))

        # ------------------------------------------- A builds and pushes; B reuses
        status, a1, err, _ = build_json("A", bases[0], "--push", repo="runtime")
        c.check(status == 0 and a1.get("plan") == "scratch" and len(a1.get("pushed", [])) == 3,
                f"host A: scratch build, three tags pushed ({status}, {a1}, {err[-800:]!r})")
        c.check("rtb: pushed 3 tag(s)" in err, f"host A says what it pushed: {err[-400:]!r}")
        image = a1.get("image", "")

        status, b1, err, reuse_seconds = build_json("B", bases[0], "--registry", repo="runtime")
        c.check(status == 0 and b1.get("plan") == "reuse" and b1.get("found_in") == "registry"
                and b1.get("image") == image,
                f"host B: reuse, found in the registry, nothing built ({status}, {b1}, {err[-400:]!r})")
        c.check("found in the registry" in err, f"host B's plan line says where: {err[-300:]!r}")
        measured["reuse_seconds_host_b"] = round(reuse_seconds, 3)
        pulled_before = reg.blob_bytes_served()
        status, out, err = run_in("B", image, "cat", "/rtb/runtime/VERSION")
        c.check(status == 0 and out.strip() == open(os.path.join(src, "VERSION")).read().strip(),
                f"host B runs the image it never built ({status}, {out!r}, {err[-300:]!r})")
        c.check("pulling it from its registry" in err, f"rtb run said it pulled: {err[-300:]!r}")
        measured["bytes_pulled_first_run_host_b"] = reg.blob_bytes_served() - pulled_before

        # ------------------------------------------- a source edit: B builds on A's lock image
        with open(os.path.join(src, "lib", "fleet-edit.sh"), "w") as f:
            f.write("echo edited on host B\n")
        status, b2, err, lock_seconds = build_json("B", bases[0], "--registry", repo="runtime")
        lock_image = (a1.get("tags") or ["", "missing"])[1]
        c.check(status == 0 and b2.get("plan") == "lock" and b2.get("found_in") == "registry"
                and b2.get("from") == lock_image and b2.get("tags") == [b2.get("image")],
                f"host B after a source edit: built on A's lock image from the registry ({status}, {b2}, {err[-600:]!r})")
        measured["source_only_build_seconds_host_b"] = round(lock_seconds, 3)
        status, out, err = run_in("B", b2.get("image", "missing"), "cat", "/rtb/runtime/lib/fleet-edit.sh")
        c.check(status == 0 and "edited on host B" in out, f"host B's lock build has the edit ({status}, {out!r})")

        # Rebuilding what B reused, for comparison: the same inputs, from scratch.
        status, out, err, rebuild_seconds = build("B", "--base-image", bases[0], "--force", repo="runtime")
        c.equal(status, 0, f"host B: a forced rebuild ({err[-300:]!r})")
        measured["rebuild_seconds_host_b"] = round(rebuild_seconds, 3)

        # ------------------------------------------- a push that fails: exit 3, the image stays
        dead = free_port()
        dead_repo = f"127.0.0.1:{dead}/fleet-dead"
        status, out, err = rtb("build", "-H", host_a.host, "--source", src, "--lock", lock, "--runtime-repo", dead_repo,
                               "--base-image", bases[1], "--push", "--quiet", env=env("A"))
        c.check(status == 3 and "but pushing" in err and "built " in err,
                f"a failed push after a good build: exit 3, says which step ({status}, {err[-600:]!r})")
        tagged = host_a.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.decode()
        c.check(dead_repo in tagged, "the image whose push failed stays tagged on the host")
        for name in [t for t in tagged.split() if t.startswith(dead_repo)]:
            host_a.docker("rmi", name, check=False)

        # ------------------------------------------- rtb serve --push
        serve = ServeProcess(tmp, "fleet-key-0123456789abcdef", host_a.host, "--push", "--registry-prefix", f"{reg.name}/served",
                             env_extra={"DOCKER_CONFIG": os.path.join(tmp, "docker-config")})
        try:
            status, out, err = rtb("build", "--transport", "remote", "--host", serve.url, "--source", src, "--lock", lock,
                                   "--base-image", bases[2], "--quiet",
                                   env=dict(env("A"), RTB_API_KEY="fleet-key-0123456789abcdef"))
            served = out.strip().splitlines()[-1] if out.strip() else ""
            # a plain key file makes one tenant per key, named below the prefix
            c.check(status == 0 and served.startswith(f"{reg.name}/served/key1/runtime:"),
                    f"a build through rtb serve --push ({status}, {err[-400:]!r})")
            c.check(f"pushed {served}" in serve.log(), f"rtb serve says it pushed: {serve.log()[-600:]!r}")
            status, out, err = rtb("exists", "--registry-only", served, env=env("B"))
            c.equal(status, 0, f"what rtb serve built is in the registry ({err.strip()!r})")
            status, b3, err, _ = build_json("B", bases[2], "--registry", repo="served/key1/runtime")
            c.check(status == 0 and b3.get("plan") == "reuse" and b3.get("found_in") == "registry",
                    f"host B reuses what the service pushed ({status}, {b3}, {err[-300:]!r})")
        finally:
            serve.stop()

        # ------------------------------------------- a batch of 10, split across the fleet
        with open(os.path.join(tmp, "all.txt"), "w") as f:
            f.write("\n".join(bases) + "\n")
        with open(os.path.join(tmp, "half-A.txt"), "w") as f:
            f.write("\n".join(bases[0::2]) + "\n")
        with open(os.path.join(tmp, "half-B.txt"), "w") as f:
            f.write("\n".join(bases[1::2]) + "\n")

        stored_before = reg.stored_bytes()
        results = {}

        def half(host):
            results[host] = build(host, "--batch", os.path.join(tmp, f"half-{host}.txt"), "--push", "--registry",
                                  "--no-cache", repo="batch-fleet")

        started = time.monotonic()
        threads = [threading.Thread(target=half, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        measured["batch_seconds_two_engines"] = round(time.monotonic() - started, 3)
        measured["bytes_pushed_batch_two_engines"] = reg.stored_bytes() - stored_before
        for host, (status, out, err, _) in results.items():
            c.check(status == 0 and "5 built, 0 reused, 0 failed of 5" in err and "15 tag(s) pushed" in err,
                    f"host {host}: built its half and pushed it ({status}, {err[-500:]!r})")

        # Each host, given the whole batch: everything reused, nothing built.
        fleet_images = {}
        for host in hosts:
            status, out, err, _ = build(host, "--batch", os.path.join(tmp, "all.txt"), "--registry",
                                        repo="batch-fleet")
            c.check(status == 0 and f"0 built, {BATCH} reused, 0 failed of {BATCH}" in err,
                    f"host {host}: the full batch is all reuse ({status}, {err[-400:]!r})")
            fleet_images[host] = out.strip().splitlines()
        c.equal(fleet_images["A"], fleet_images["B"], "both hosts name the same ten images")

        # Every host runs every image (pulling what it never built).
        pulled_before = reg.blob_bytes_served()
        for host in hosts:
            for i, img in enumerate(fleet_images.get(host, [])):
                status, out, err = run_in(host, img, "cat", "/base-id")
                c.check(status == 0 and out.strip() == str(i), f"host {host} runs {img} ({status}, {out!r}, {err[-200:]!r})")
        measured["bytes_pulled_running_every_image"] = reg.blob_bytes_served() - pulled_before

        # ------------------------------------------- the same batch on one engine
        stored_before = reg.stored_bytes()
        status, out, err, single = build("A", "--batch", os.path.join(tmp, "all.txt"), "--push", "--registry",
                                         "--no-cache", repo="batch-single")
        c.check(status == 0 and f"{BATCH} built, 0 reused, 0 failed of {BATCH}" in err,
                f"one engine: the whole batch ({status}, {err[-400:]!r})")
        measured["batch_seconds_one_engine"] = round(single, 3)
        measured["bytes_pushed_batch_one_engine"] = reg.stored_bytes() - stored_before
        measured["batch_jobs_per_host"] = 2
        measured["engines"] = f"dockerd {host_a.version} x2, registry 2.8 (loopback)"

        # Nothing of the fleet's is left once the engines and the registry go (their folders are removed).
finally:
    shutil.rmtree(tmp, ignore_errors=True)

line = json.dumps(measured, sort_keys=True)
print(f"fleet measurements: {line}")
if os.environ.get("RTB_FLEET_RESULTS"):
    with open(os.environ["RTB_FLEET_RESULTS"], "w") as f:
        f.write(line + "\n")
c.done()
