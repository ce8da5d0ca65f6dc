#!/usr/bin/python3
"""The Runtime API end to end: `rtb build|exists --transport remote` and raw
HTTP clients (shaped like OpenHands' RemoteRuntimeBuilder) against `rtb serve`
building on the real dockerd of scripts/engines (run through `scripts/engines
run`). Covers success, failure (the error text arrives), timeout, expiry,
cancel (API and Ctrl-C), exists, the registry prefix, 20 concurrent builds
through 4 workers with nothing lost, hostile contexts refused, size limits
(413) and tar/gzip bombs, the rate limit (429 + Retry-After), unauthorized
keys, the server restarted mid-poll (a clean client error, no hang), and
nothing left behind (work folders)."""
import base64
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from support import RTB, ServeProcess, api_call, Checks, engine_call, need, rtb, loopback_listener, write_secret  # noqa: E402

c = Checks()
docker_host = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
run_id = str(os.getpid())
KEY = f"it-key-{run_id}-0123456789abcdef"
# A plain key file makes each key its own tenant (key1, key2, ...), building
# under REGISTRY_PREFIX/keyN: that is where this test's images go.
REGISTRY_PREFIX = f"local/rtb-it-{run_id}"
PREFIX = f"{REGISTRY_PREFIX}/key1"
created_images = set()


class Server(ServeProcess):
    """`rtb serve` with this test's key, building on dockerd."""

    def __init__(self, tmp, *args, env_extra=None, listener=None):
        self.tmp = tmp
        super().__init__(tmp, KEY, docker_host, "--registry-prefix", REGISTRY_PREFIX, *args, env_extra=env_extra,
                         listener=listener)


def call(server, method, target, body=None, headers=None, key=KEY):
    return api_call(server, method, target, body, headers, key)


def tar_gz(files, extra=None, gzip=True):
    """A context: files {name: text}, plus raw TarInfo entries (hostile ones)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gzip else "w", format=tarfile.GNU_FORMAT) as t:
        for name, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for info in extra or []:
            t.addfile(info)
    return buf.getvalue()


def link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def form(fields, context_b64):
    """multipart/form-data as python-requests writes it for OpenHands."""
    boundary = f"itboundary{run_id}"
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="context"; filename="context.tar.gz"\r\n\r\n'
                 .encode() + context_b64 + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(server, dockerfile, target, tags=(), files=None, raw_context=None):
    context = raw_context if raw_context is not None else base64.b64encode(
        tar_gz({"Dockerfile": dockerfile, **(files or {})}))
    body, ctype = form([("target_image", target)] + [("tags", t) for t in tags], context)
    return call(server, "POST", "/build", body, {"Content-Type": ctype})


FINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}


def wait_final(server, build_id, limit=180):
    end = time.time() + limit
    while time.time() < end:
        status, headers, payload = call(server, "GET", "/build_status?build_id=" + urllib.parse.quote(build_id))
        if status == 429:  # a well-behaved client waits as told
            time.sleep(int(headers.get("Retry-After", "1")))
            continue
        if status != 200:
            return {"status": f"HTTP {status}", "error": str(payload)}
        if payload["status"] in FINAL:
            return payload
        time.sleep(0.2)
    return {"status": "STILL RUNNING"}


def wait_state(server, build_id, state, limit=60):
    end = time.time() + limit
    while time.time() < end:
        _, _, payload = call(server, "GET", "/build_status?build_id=" + urllib.parse.quote(build_id))
        if payload and payload.get("status") == state:
            return True
        time.sleep(0.1)
    return False


def engine_has(image):
    status, _ = engine_call(docker_host, "GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
    return status == 200


def wait_for_line(proc_lines, needle, limit=60):
    end = time.time() + limit
    while time.time() < end:
        for line in list(proc_lines):
            if needle in line:
                return line
        time.sleep(0.05)
    return None


def popen_collect(argv, env):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines = []

    def read():
        for raw in p.stderr:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return p, lines, t


with tempfile.TemporaryDirectory(prefix="rtb-remote-it-") as tmp:
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    with open(os.path.join(src, "run.sh"), "w") as f:
        f.write(f"echo {run_id}\n")

    def template(name, body):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("FROM {{base_image}}\n" + body)
        return path

    ok_template = template("ok.tmpl", f"RUN echo building-{run_id}\nCOPY . /src\n")
    fail_template = template("fail.tmpl", f"RUN echo failing-now-{run_id} && exit 7\n")
    slow_template = template("slow.tmpl", f"RUN echo slow-{run_id} && sleep 60\n")
    work = os.path.join(tmp, "work")
    serve_tmp = os.path.join(tmp, "serve-tmp")
    os.makedirs(serve_tmp)
    main = Server(tmp, "--workers", "4", "--work-dir", work,
                  env_extra={"TMPDIR": serve_tmp})
    env = dict(os.environ, RTB_API_KEY=KEY)
    env.pop("DOCKER_HOST", None)
    remote = ["--transport", "remote", "--host", main.url]
    build_args = ["build", *remote, "--poll-interval", "200ms", "--base-image", base, "--source", src]

    # ------------------------------------------------------- prefix and keys
    status, _, payload = call(main, "GET", "/registry_prefix")
    c.equal((status, payload), (200, {"registry_prefix": PREFIX}), "GET /registry_prefix")
    status, _, payload = call(main, "GET", "/registry_prefix", key=None)
    c.equal(status, 401, "no key: 401")
    status, _, _ = call(main, "GET", "/registry_prefix", key=KEY + "x")
    c.equal(status, 401, "a wrong key: 401")
    code, _, err = rtb("exists", *remote, base, env=dict(env, RTB_API_KEY="wrong-key-0123456789abcdef"))
    c.equal(code, 2, "exists with a wrong key: exit 2")
    c.check("unauthorized" in err and "wrong-key" not in err, f"the error says unauthorized, not the key: {err}")
    code, _, err = rtb(*build_args, "--template", ok_template, env=dict(env, RTB_API_KEY="wrong-key-0123456789abcdef"))
    c.equal(code, 2, "build with a wrong key: exit 2")
    c.check("unauthorized" in err, f"build says unauthorized: {err}")
    code, _, err = rtb("exists", *remote, base, env={k: v for k, v in env.items() if k != "RTB_API_KEY"})
    c.check(code == 2 and "RTB_API_KEY" in err, f"no key: exit 2 naming RTB_API_KEY ({code}, {err})")
    # The key from a file (RTB_API_KEY_FILE), as the configuration's api_key_file.
    key_file = os.path.join(tmp, "client-key")
    with open(key_file, "w") as f:
        f.write(KEY + "\n")
    no_key = {k: v for k, v in env.items() if k != "RTB_API_KEY"}
    code, _, err = rtb("exists", *remote, "local/never-built-here:1", env=dict(no_key, RTB_API_KEY_FILE=key_file))
    c.check(code == 1 and "unauthorized" not in err, f"exists with RTB_API_KEY_FILE: answered (exit 1) ({code}, {err})")
    code, _, err = rtb("config", "show", env=dict(no_key, RTB_API_KEY_FILE=key_file))
    c.check(code == 0 and KEY not in err + _, "config show masks the file's key")
    c.check(KEY not in main.log(), "the server never logs a key")

    # ------------------------------------------------------- success, reuse, exists
    code, out, err = rtb(*build_args, "--template", ok_template, "--json", env=env)
    c.equal(code, 0, f"a remote build succeeds ({err[-2000:]})")
    image = json.loads(out.strip().splitlines()[-1])["image"] if code == 0 else ""
    c.check(image.startswith(f"{PREFIX}/runtime:"), f"the image is named under the prefix: {image}")
    c.check("plan" in out and '"scratch"' in out, "the plan was scratch")
    if image:
        doc = json.loads(out.strip().splitlines()[-1])
        created_images.update(doc["tags"])
        c.check(engine_has(image), "the engine has the built image")
        # rtb's labels came in the Dockerfile's one LABEL line: exactly them,
        # from one step (as build parameters dockerd made a step of each)
        _, body = engine_call(docker_host, "GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        labels = json.loads(body)["Config"]["Labels"] or {}
        c.equal(sorted(labels), ["rtb.base-image", "rtb.lock-tag", "rtb.plan", "rtb.source-tag", "rtb.version",
                                 "rtb.versioned-tag"], "the image carries rtb's six labels")
        c.equal((labels.get("rtb.plan"), labels.get("rtb.base-image")), ("scratch", base), "rtb.plan, rtb.base-image")
        _, body = engine_call(docker_host, "GET", f"/images/{urllib.parse.quote(image, safe='')}/history")
        label_steps = [h["CreatedBy"] for h in json.loads(body) if "LABEL" in h.get("CreatedBy", "")]
        c.equal(len(label_steps), 1, f"one LABEL step: {label_steps}")
        c.check(len(doc["tags"]) == 3 and all(t.startswith(f"{PREFIX}/runtime:") and engine_has(t)
                                              for t in doc["tags"]),
                f"--json's tags are the names the service applied: {doc['tags']}")
        c.check(doc.get("image_id", "").startswith("sha256:") and len(doc["image_id"]) == 71,
                f"image_id is the built image's id: {doc.get('image_id')!r}")
        code, _, err = rtb("exists", *remote, "-v", image, env=env)
        c.equal(code, 0, f"rtb exists --transport remote finds it ({err})")
        c.check("bytes" in err and "uploaded" in err, f"exists -v shows upload time and size: {err}")
        code, out2, err = rtb(*build_args, "--template", ok_template, env=env)
        c.equal(code, 0, f"the second build reuses ({err[-500:]})")
        c.check(out2.strip().splitlines()[-1:] == [image], "the same image name is printed")
        c.check("plan: reuse" in err, "the plan was reuse (through GET /image_exists)")
    code, _, _ = rtb("exists", *remote, f"{PREFIX}/runtime:missing", env=env)
    c.equal(code, 1, "a missing image: exit 1")

    # --runtime-repo: the service still names the image under its prefix, and
    # rtb prints the names that exist there, not the ones asked for.
    for attempt in ("build", "reuse"):
        code, out, err = rtb(*build_args, "--template", ok_template, "--runtime-repo", "rtb-bars/dbg", env=env)
        printed = out.strip().splitlines()[-1] if code == 0 and out.strip() else ""
        c.equal(code, 0, f"--runtime-repo {attempt}: succeeds ({err[-800:]})")
        c.check(printed.startswith(f"{PREFIX}/dbg:"), f"--runtime-repo {attempt}: the name is the "
                                                                    f"service's: {printed!r}")
        c.check(printed and engine_has(printed), f"--runtime-repo {attempt}: the printed image exists: {printed!r}")
        c.check("rtb-bars/dbg" not in err.replace("--runtime-repo", ""), f"--runtime-repo {attempt}: stderr names "
                                                                          f"no image that does not exist: {err[-600:]}")
        if printed:
            created_images.add(printed)
    code, out, err = rtb(*build_args, "--template", ok_template, "--runtime-repo", "rtb-bars/dbg", "--force", "--json",
                         env=env)
    doc = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
    c.check(code == 0 and doc.get("tags") and all(t.startswith(f"{PREFIX}/dbg:") and engine_has(t)
                                                  for t in doc["tags"]),
            f"--runtime-repo --json: the tags applied are the service's names ({code}, {doc}, {err[-500:]})")
    c.check(doc.get("image_id", "").startswith("sha256:"), f"--runtime-repo --json: image_id is an id: {doc}")
    created_images.update(doc.get("tags") or [])
    status, _, payload = call(main, "GET", "/image_exists?image=" + urllib.parse.quote("Not A Name!"))
    c.check(status == 400 and "invalid image reference" in str(payload), f"a bad image name: 400 ({payload})")

    # ------------------------------------------------------- failure: the error text arrives
    code, _, err = rtb(*build_args, "--template", fail_template, env=env)
    c.equal(code, 1, "a failing remote build exits 1")
    c.check("FAILURE" in err and "exit code 7" in err, f"the failure and its exit code reach the client: {err[-1500:]}")
    c.check(f"failing-now-{run_id}" in err, "the build's last output reaches the client")

    # ------------------------------------------------------- 20 concurrent builds, 4 workers
    results = {}

    def one(n):
        target = f"{PREFIX}/many:{n}"
        status, _, payload = submit(main, f"FROM {base}\nRUN echo {run_id}-{n} > /n\n", target,
                                    tags=[f"{PREFIX}/many:{n}-b"])
        if status != 200:
            results[n] = {"status": f"submit HTTP {status}", "error": str(payload)}
            return
        results[n] = dict(wait_final(main, payload["build_id"], 600), build_id=payload["build_id"])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.equal(len(results), 20, "20 concurrent builds all answered")
    c.equal(sorted(r.get("status") for r in results.values()), ["SUCCESS"] * 20,
            f"every build reached SUCCESS: {[r for r in results.values() if r.get('status') != 'SUCCESS'][:3]}")
    c.equal(len({r.get("build_id") for r in results.values()}), 20, "20 distinct build ids")
    for n in range(20):
        created_images.update({f"{PREFIX}/many:{n}", f"{PREFIX}/many:{n}-b"})
    c.check(all(engine_has(f"{PREFIX}/many:{n}-b") for n in range(20)), "every extra tag was applied")
    started = [l for l in main.lines if l.startswith("rtb serve: build ") and l.endswith(" started")]
    c.check(len(started) >= 20, f"the server ran every build ({len(started)} started)")

    # ------------------------------------------------------- hostile contexts
    hostile = {
        "an absolute path": (tar_gz({"Dockerfile": "FROM x\n", "/etc/passwd": "x"}), "is an absolute path"),
        "a .. path": (tar_gz({"Dockerfile": "FROM x\n", "../escape": "x"}), "escapes the context root"),
        "a symlink out": (tar_gz({"Dockerfile": "FROM x\n"}, [link("evil", "/etc/shadow")]),
                          "symbolic link to '/etc/shadow', outside the context root"),
        "a relative symlink out": (tar_gz({"Dockerfile": "FROM x\n"}, [link("a/evil", "../../x")]),
                                   "outside the context root"),
        "a hard link out": (tar_gz({"Dockerfile": "FROM x\n"}, [link("evil", "../etc/passwd", tarfile.LNKTYPE)]),
                            "outside the context root"),
        "a device": (tar_gz({"Dockerfile": "FROM x\n"}, [link("dev", "", tarfile.CHRTYPE)]), "device, FIFO or socket"),
        "no Dockerfile": (tar_gz({"app": "x"}), "no Dockerfile"),
        "garbage": (b"\x1f\x8bthis is not gzip at all" * 20, "uploaded context"),
        "a truncated gzip": (tar_gz({"Dockerfile": "FROM x\n", "big": os.urandom(50000)})[:3000], "uploaded context"),
    }
    for what, (ctx, expected) in hostile.items():
        status, _, payload = submit(main, "", f"{PREFIX}/hostile:1", raw_context=base64.b64encode(ctx))
        message = payload.get("message", "") if isinstance(payload, dict) else str(payload)
        c.check(status == 400 and expected in message, f"{what}: 400 saying {expected!r} (got {status} {message!r})")
    status, _, payload = submit(main, "", f"{PREFIX}/hostile:1", raw_context=b"not*base64!")
    c.check(status == 400 and "not valid base64" in str(payload), f"bad base64: 400 ({payload})")
    status, _, payload = call(main, "POST", "/build", b"{}", {"Content-Type": "application/json"})
    c.check(status == 400 and "multipart" in str(payload), f"not a form: 400 ({payload})")
    body, ctype = form([("tags", f"{PREFIX}/x:1")], base64.b64encode(tar_gz({"Dockerfile": "FROM x\n"})))
    status, _, payload = call(main, "POST", "/build", body, {"Content-Type": ctype})
    c.check(status == 400 and "target_image" in str(payload), f"no target_image: 400 ({payload})")
    c.check(not engine_has(f"{PREFIX}/hostile:1"), "nothing was built from a hostile context")

    # ------------------------------------------------------- cancel through the API
    status, _, payload = submit(main, f"FROM {base}\nRUN echo cancel-{run_id} && sleep 60\n",
                                f"{PREFIX}/cancel:1")
    c.equal(status, 200, "a slow build is accepted")
    bid = payload["build_id"] if status == 200 else "none"
    c.check(wait_state(main, bid, "WORKING"), "it starts")
    status, _, payload = call(main, "POST", "/cancel_build?build_id=" + bid)
    c.equal(status, 200, f"POST /cancel_build ({payload})")
    final = wait_final(main, bid, 90)
    c.equal(final["status"], "CANCELLED", "a cancelled build ends CANCELLED")
    c.check(not engine_has(f"{PREFIX}/cancel:1"), "a cancelled build leaves no image")
    status, _, _ = call(main, "POST", "/cancel_build?build_id=b-0-nothing")
    c.equal(status, 404, "cancelling an unknown build: 404")
    status, _, _ = call(main, "GET", "/build_status?build_id=b-0-nothing")
    c.equal(status, 404, "the status of an unknown build: 404")

    # ------------------------------------------------------- Ctrl-C on the client cancels service-side
    p, lines, reader = popen_collect([RTB, *build_args, "--template", slow_template, "--force"], env)
    submitted = wait_for_line(lines, "submitted to", 120)
    c.check(submitted is not None, f"the slow CLI build was submitted ({lines[-5:]})")
    if submitted:
        bid = submitted.split("remote build ")[1].split()[0]
        c.check(wait_state(main, bid, "WORKING"), "and runs")
        p.send_signal(signal.SIGINT)
        c.equal(p.wait(60), 130, "Ctrl-C: exit 130")
        c.equal(wait_final(main, bid, 90)["status"], "CANCELLED", "the service-side build was cancelled")
    else:
        p.kill()
        p.wait()

    # ------------------------------------------------------- SIGTERM: clean stop, nothing left behind
    c.equal(main.stop(), 128 + signal.SIGTERM, "rtb serve stops on SIGTERM")
    c.equal(os.listdir(work), [], "no uploaded context is left in the work folder")

    # ------------------------------------------------------- limits: 413, bombs, entries, rate
    small = Server(tmp, "--max-upload", "1", "--max-context", "1", "--max-entries", "5",
                   env_extra={"TMPDIR": serve_tmp})
    big = base64.b64encode(os.urandom(2 << 20))
    status, _, payload = submit(small, "", f"{PREFIX}/big:1", raw_context=big)
    c.equal(status, 413, f"a 2.7 MiB upload to a 1 MiB server: 413 ({payload})")
    bomb = tar_gz({"Dockerfile": "FROM x\n", "zeros": b"\0" * (8 << 20)})
    c.check(len(bomb) < (1 << 20) // 2, "the bomb is small compressed")
    status, _, payload = submit(small, "", f"{PREFIX}/bomb:1", raw_context=base64.b64encode(bomb))
    c.check(status == 400 and "1048576 bytes" in str(payload), f"a gzip bomb: 400 ({status} {payload})")
    many = tar_gz({"Dockerfile": "FROM x\n", **{f"f{i}": "x" for i in range(10)}})
    status, _, payload = submit(small, "", f"{PREFIX}/many:1", raw_context=base64.b64encode(many))
    c.check(status == 400 and "more than 5 entries" in str(payload), f"too many entries: 400 ({status} {payload})")
    c.equal(small.stop(), 128 + signal.SIGTERM, "the small server stops")
    # The rate limit, on a server of its own: 8 requests at once against a
    # burst of 4 and 1 per second.
    limiting = Server(tmp, "--rate", "1", "--burst", "4", env_extra={"TMPDIR": serve_tmp})
    answers = [call(limiting, "GET", "/registry_prefix") for _ in range(8)]
    limited = [a for a in answers if a[0] == 429]
    c.check(len(limited) >= 3, f"past the burst, requests get 429 ({[a[0] for a in answers]})")
    c.check(all(int(a[1].get("Retry-After", "0")) >= 1 for a in limited), "each 429 has a Retry-After")
    c.equal(limiting.stop(), 128 + signal.SIGTERM, "the limiting server stops")

    # ------------------------------------------------------- TIMEOUT and EXPIRED
    slow = Server(tmp, "--workers", "1", "--build-timeout", "3s", "--queue-timeout", "1s",
                  env_extra={"TMPDIR": serve_tmp})
    status_a, _, a = submit(slow, f"FROM {base}\nRUN echo timeout-{run_id} && sleep 60\n", f"{PREFIX}/t:1")
    c.check(status_a == 200 and wait_state(slow, a["build_id"], "WORKING"), "the slow build runs")
    status_b, _, b = submit(slow, f"FROM {base}\nRUN echo expired-{run_id}\n", f"{PREFIX}/e:1")
    c.equal(status_b, 200, "a second build is queued")
    fa = wait_final(slow, a["build_id"], 120) if status_a == 200 else {}
    c.equal(fa.get("status"), "TIMEOUT", f"a build past --build-timeout ends TIMEOUT ({fa})")
    fb = wait_final(slow, b["build_id"], 60) if status_b == 200 else {}
    c.equal(fb.get("status"), "EXPIRED", f"a build queued past --queue-timeout ends EXPIRED ({fb})")
    c.check("never ran" in fb.get("error", ""), "EXPIRED says it never ran")
    c.check(not engine_has(f"{PREFIX}/t:1") and not engine_has(f"{PREFIX}/e:1"),
            "neither left an image")
    # Through the client: TIMEOUT is a failed build (exit 1) naming it.
    code, _, err = rtb(*build_args[:3], "--host", slow.url, *build_args[5:], "--template", slow_template, "--force",
                       env=env)
    c.check(code == 1 and "TIMEOUT" in err, f"the client reports TIMEOUT ({code}, {err[-600:]})")
    c.equal(slow.stop(), 128 + signal.SIGTERM, "the slow server stops")

    # ------------------------------------------------------- the server restarted mid-poll
    # The test holds the listening socket and hands it to each server (as
    # systemd's socket activation does): the restarted one listens on the
    # same port with no window in which another process could take it, and
    # the client's polls wait in the socket's backlog meanwhile.
    listener = loopback_listener()
    flaky_work = os.path.join(tmp, "flaky-work")
    flaky = Server(tmp, "--work-dir", flaky_work, env_extra={"TMPDIR": serve_tmp}, listener=listener)
    p, lines, reader = popen_collect([RTB, "build", "--transport", "remote", "--host", flaky.url, "--poll-interval",
                                      "200ms", "--base-image", base, "--source", src, "--template", slow_template,
                                      "--force"], env)
    submitted = wait_for_line(lines, "submitted to", 120)
    c.check(submitted is not None, "the build was submitted before the restart")
    flaky.stop(signal.SIGKILL)
    flaky.start(listener=listener)
    try:
        code = p.wait(120)
    except subprocess.TimeoutExpired:
        p.kill()
        code = "hung"
    reader.join(5)
    err = "\n".join(lines)
    c.equal(code, 2, "after the restart the client ends with an error, no hang")
    c.check("unknown to the service" in err, f"and says the service forgot the build: {err[-600:]}")
    c.equal(flaky.stop(), 128 + signal.SIGTERM, "the restarted server stops")
    listener.close()

    # ------------------------------------------------------- refused configurations
    code, _, err = rtb("serve", "--listen", "0.0.0.0:0", "--api-key-file", main.key_file,
                       env=dict(os.environ, DOCKER_HOST=docker_host))
    c.check(code == 2 and "not a loopback address" in err, f"a non-loopback --listen is refused ({code}, {err})")
    short_keys = os.path.join(tmp, "short-keys")
    write_secret(short_keys, "tooshort\n")
    code, _, err = rtb("serve", "--listen", "127.0.0.1:0", "--api-key-file", short_keys,
                       env=dict(os.environ, DOCKER_HOST=docker_host))
    c.check(code == 2 and "line 1" in err and "tooshort" not in err, f"a short key is refused, unshown ({code}, {err})")

    # ------------------------------------------------------- nothing left behind
    c.equal(os.listdir(serve_tmp), [], "every server removed its temporary folder")
    for image in created_images:
        engine_call(docker_host, "DELETE", f"/images/{urllib.parse.quote(image, safe='')}?force=1")

c.done()
