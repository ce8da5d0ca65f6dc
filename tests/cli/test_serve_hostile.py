#!/usr/bin/python3
"""`rtb serve` against hostile clients, on loopback, building on the real
dockerd of scripts/engines (run through `scripts/engines run`): slow heads
and bodies, idle-connection floods, header floods (the server's memory
measured), oversized bodies on every endpoint, request smuggling after an
early 401 and 429, log injection, %-encoded keys, a POST with no length;
tenants (a TOML key file): cross-tenant status, cancel and tag attempts,
names outside a tenant's prefixes, digests, id guessing, per-tenant
registry prefixes and metrics; contexts that fetch (remote ADD, with and
without --allow-remote-add), sparse and chained-symlink contexts, client
mistakes that must be the client's (FAILURE or 400, never INTERNAL_ERROR);
image_exists' upload time; the operator's mistakes (a key file others can
read, /dev/zero as a key file, a name as --listen, a token in DOCKER_HOST);
socket activation (LISTEN_FDS and --listen fd:N); and a second SIGTERM
during shutdown. While 20 slow and 200 idle clients are held open,
legitimate /build_status polls must be answered: their latency is printed.
Every loop is bounded in count and time."""
import base64
import calendar
import http.server
import io
import json
import os
import re
import signal
import socket
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
REGISTRY_PREFIX = f"local/rtb-h-{run_id}"
ALICE_KEY = f"alice-key-{run_id}-0123456789abcdef"
BOB_KEY = f"bob-key-{run_id}-0123456789abcdef"
ALICE = f"{REGISTRY_PREFIX}/alice"
BOB = f"{REGISTRY_PREFIX}/bob"
created_images = set()
FINAL = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call(server, method, target, body=None, headers=None, key=ALICE_KEY, timeout=60):
    return api_call(server, method, target, body, headers, key, timeout)


def raw(port, data, read_for=5.0, source="127.0.0.1", shut=False):
    """Sends `data` on a new connection from `source`; returns (bytes
    received, whether the server closed) within `read_for` seconds."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(read_for)
    s.connect(("127.0.0.1", port))
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        if shut:
            s.shutdown(socket.SHUT_WR)
        got, closed = b"", False
        end = time.monotonic() + read_for
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        return got, closed
    finally:
        s.close()


def tar_gz(files, extra=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as t:
        for name, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for info in extra or []:
            t.addfile(info)
    return buf.getvalue()


def symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def sparse_bomb(real_size):
    """A gzip'd tar holding a Dockerfile and an old-GNU sparse file of
    `real_size` bytes whose only data block is 512 bytes at its end: what
    GNU tar --sparse writes, in a few hundred bytes."""
    def header(name, typeflag, size, extra=b""):
        h = bytearray(512)
        h[0:len(name)] = name
        h[100:107] = b"0000644"
        h[108:115] = b"0000000"
        h[116:123] = b"0000000"
        h[124:135] = b"%011o" % size
        h[136:147] = b"00000000000"
        h[156:157] = typeflag
        h[257:265] = b"ustar  \0"
        for at, value in extra:
            h[at:at + len(value)] = value
        h[148:156] = b" " * 8
        h[148:154] = b"%06o" % sum(h)
        h[154] = 0
        return bytes(h)
    dockerfile = b"FROM scratch\n"
    out = header(b"Dockerfile", b"0", len(dockerfile)) + dockerfile + b"\0" * (512 - len(dockerfile))
    out += header(b"big", b"S", 512, [(386, b"%011o" % (real_size - 512)), (398, b"%011o" % 512),
                                     (483, b"%011o" % real_size)]) + b"x" * 512
    out += b"\0" * 1024
    import gzip
    return gzip.compress(out, 9)


def form(fields, context_b64):
    boundary = f"hboundary{run_id}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode() for n, v in fields]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="context"; filename="context.tar.gz"\r\n\r\n'
                 .encode() + context_b64 + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(server, dockerfile, target, tags=(), key=ALICE_KEY, extra_fields=(), raw_context=None, files=None,
           links=None):
    ctx = raw_context if raw_context is not None else tar_gz({"Dockerfile": dockerfile, **(files or {})}, links)
    body, ctype = form([("target_image", target)] + [("tags", t) for t in tags] + list(extra_fields),
                       base64.b64encode(ctx))
    return call(server, "POST", "/build", body, {"Content-Type": ctype}, key=key)


def message(payload):
    return payload.get("message", "") if isinstance(payload, dict) else str(payload)


def status_of(server, build_id, key=ALICE_KEY):
    return call(server, "GET", "/build_status?build_id=" + urllib.parse.quote(build_id), key=key)


def wait_final(server, build_id, limit=180, key=ALICE_KEY):
    end = time.time() + limit
    while time.time() < end:
        status, _, payload = status_of(server, build_id, key)
        if status != 200:
            return {"status": f"HTTP {status}", "error": str(payload)}
        if payload["status"] in FINAL:
            return payload
        time.sleep(0.2)
    return {"status": "STILL RUNNING"}


def wait_state(server, build_id, state, limit=60):
    end = time.time() + limit
    while time.time() < end:
        _, _, payload = status_of(server, build_id)
        if isinstance(payload, dict) and payload.get("status") == state:
            return True
        time.sleep(0.1)
    return False


def image_id(name):
    status, body = engine_call(docker_host, "GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
    return json.loads(body)["Id"] if status == 200 else None


def serve_fails(*args, env=None, limit=30):
    """Runs `rtb serve ARGS` expecting it to refuse to start: (exit status, stderr, seconds)."""
    start = time.monotonic()
    p = subprocess.run([RTB, "serve", *args], capture_output=True, timeout=limit,
                       env=env or dict(os.environ, DOCKER_HOST=docker_host))
    return p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - start


class Server(ServeProcess):
    def __init__(self, tmp, key_file, *args, env_extra=None, listener=None, activation="systemd"):
        super().__init__(tmp, None, docker_host, "--registry-prefix", REGISTRY_PREFIX, *args, env_extra=env_extra,
                         key_file=key_file, listener=listener, activation=activation)


with tempfile.TemporaryDirectory(prefix="rtb-hostile-") as tmp:
    serve_tmp = os.path.join(tmp, "serve-tmp")
    os.makedirs(serve_tmp)
    keys = os.path.join(tmp, "keys.toml")
    write_secret(keys, f"""# two tenants; alice may read /metrics
[tenants.alice]
keys = ["{ALICE_KEY}"]
metrics = true

[tenants.bob]
keys = ["{BOB_KEY}"]
""")
    main = Server(tmp, keys, "--workers", "2", "--header-timeout", "3s", "--idle-timeout", "30s",
                  env_extra={"TMPDIR": serve_tmp})
    start_rss = rss_kib(main.proc.pid)
    print(f"server RSS at start: {start_rss} KiB")

    # ------------------------------------------------------- tenants: prefixes, builds, owners
    for key, prefix in ((ALICE_KEY, ALICE), (BOB_KEY, BOB)):
        status, _, payload = call(main, "GET", "/registry_prefix", key=key)
        c.equal((status, payload), (200, {"registry_prefix": prefix}), f"GET /registry_prefix answers {prefix}")

    status, _, payload = submit(main, f"FROM {base}\nRUN echo alice-{run_id} > /who\n", f"{ALICE}/app:1",
                                tags=[f"{ALICE}/app:1b"])
    c.equal(status, 200, f"alice builds under her prefix ({payload})")
    alice_build = payload["build_id"] if status == 200 else "b-" + "0" * 32
    created_images.update({f"{ALICE}/app:1", f"{ALICE}/app:1b"})
    c.check(re.fullmatch(r"b-[0-9a-f]{32}", alice_build) is not None, f"a build id is 128 random bits: {alice_build}")
    unknown = "b-" + "0" * 32
    s_unknown = status_of(main, unknown, BOB_KEY)
    s_other = status_of(main, alice_build, BOB_KEY)
    c.equal(s_other[0], 404, "bob asking alice's build status: 404")
    c.equal(message(s_other[2]).replace(alice_build, "ID"), message(s_unknown[2]).replace(unknown, "ID"),
            "exactly as for an unknown id")
    status, _, _ = call(main, "POST", "/cancel_build?build_id=" + alice_build, key=BOB_KEY)
    c.equal(status, 404, "bob cancelling alice's build: 404")
    final = wait_final(main, alice_build)
    c.equal(final.get("status"), "SUCCESS", f"alice's build was not cancelled by bob ({final})")
    c.check(final.get("image_id", "").startswith("sha256:"), "build_status still gives image_id")

    # Id guessing: neighbours of a real id, and random ones, are unknown to everyone else.
    guesses = [alice_build[:-1] + format((int(alice_build[-1], 16) + d) % 16, "x") for d in (1, 2, 15)]
    guesses += ["b-" + os.urandom(16).hex() for _ in range(20)] + ["b-1-00000001", "b-2-" + alice_build[-8:]]
    answers = {g: status_of(main, g, BOB_KEY)[0] for g in guesses}
    c.check(all(a == 404 for a in answers.values()), f"guessed ids: all 404 ({set(answers.values())})")
    c.equal(status_of(main, alice_build[:-1] + ("0" if alice_build[-1] != "0" else "1"))[0], 404,
            "alice's own id with one digit changed: 404")

    # Names outside a tenant's prefixes, and names that are not build names.
    victim = f"{ALICE}/app:1"
    base_id_before = image_id(base)
    for target, expected, says in [
        (victim, 403, "outside the image names tenant bob may build"),   # another tenant's image
        (base, 403, "outside"),                                          # the engine's base image
        ("docker.io/library/alpine", 403, "outside"),
        ("victim/base:1", 403, "outside"),
        (f"registry.example.com/{BOB}/x:1", 403, "outside"),             # another registry
        (f"{BOB}:1", 403, "outside"),                                    # the prefix itself
        (f"{BOB}/x@sha256:" + "0" * 64, 400, "names a digest"),
        (f"{BOB}/Upper:1", 400, "is not an image name"),
    ]:
        status, _, payload = submit(main, f"FROM {base}\nRUN echo bob\n", target, key=BOB_KEY)
        c.check(status == expected and says in message(payload),
                f"bob building {target}: {expected} saying {says!r} (got {status} {message(payload)!r})")
    status, _, payload = submit(main, f"FROM {base}\nRUN echo bob\n", f"{BOB}/ok:1", tags=[victim], key=BOB_KEY)
    c.check(status == 403 and "tag 1" in message(payload), f"bob tagging alice's image: 403 ({message(payload)})")
    c.equal(image_id(base), base_id_before, "the base image was not replaced")
    c.equal(image_id(victim), final.get("image_id"), "alice's image was not retagged")

    # ------------------------------------------------------- client mistakes are the client's
    labels = [("label", f"l{i}=v") for i in range(20000)]
    start = time.monotonic()
    status, _, payload = submit(main, f"FROM {base}\n", f"{ALICE}/labels:1", extra_fields=labels)
    c.check(status == 400 and "more than 256 label fields" in message(payload),
            f"20,000 labels: 400 naming the limit ({status} {message(payload)[:200]})")
    c.check(len(json.dumps(payload)) < 4096, "and the answer is small")
    # A dangling directory symlink the Dockerfile copies through.
    status, _, payload = submit(main, f"FROM {base}\nCOPY d/ /x/\n", f"{ALICE}/dangling:1",
                                links=[symlink("d", "missing/")])
    if status == 200:
        final_d = wait_final(main, payload["build_id"])
        c.check(final_d.get("status") == "FAILURE" and final_d.get("error"),
                f"a dangling directory symlink: FAILURE saying why ({final_d})")
    else:
        c.check(status == 400, f"a dangling directory symlink: refused as the client's ({status} {payload})")

    # ------------------------------------------------------- builds reach no network
    hits = []

    class Secret(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = f"loopback-secret-{run_id}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    secret_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Secret)
    threading.Thread(target=secret_server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{secret_server.server_address[1]}/secret"
    for name, dockerfile in [
        ("ADD URL", f"FROM {base}\nADD {url} /s\n"),
        ("the JSON form", f'FROM {base}\nADD ["{url}", "/s"]\n'),
        ("a continuation", f"FROM {base}\nADD \\\n  {url} \\\n  /s\n"),
        ("the escape directive", f"# escape=`\nFROM {base}\nADD `\n {url} /s\n"),
        ("a checksum flag", f"FROM {base}\nADD --checksum=sha256:{'0' * 64} {url} /s\n"),
        ("a git URL", f"FROM {base}\nADD git@127.0.0.1:x/y.git /s\n"),
        ("a variable", f"FROM {base}\nARG U={url}\nADD $U /s\n"),
        ("RUN --network=host", f"FROM {base}\nRUN --network=host wget {url}\n"),
    ]:
        status, _, payload = submit(main, dockerfile, f"{ALICE}/ssrf:1")
        c.check(status == 400 and "Dockerfile line" in message(payload),
                f"{name}: refused before the build, naming the line ({status} {message(payload)[:300]})")
    c.equal(hits, [], "the loopback URL was never fetched")
    allowing = Server(tmp, keys, "--allow-remote-add", env_extra={"TMPDIR": serve_tmp})
    status, _, payload = submit(allowing, f"FROM {base}\nADD {url} /s\n", f"{ALICE}/remote-add:1")
    c.equal(status, 200, f"with --allow-remote-add the build is accepted ({payload})")
    if status == 200:
        created_images.add(f"{ALICE}/remote-add:1")
        wait_final(allowing, payload["build_id"], key=ALICE_KEY)
    c.equal(allowing.stop(), 128 + signal.SIGTERM, "the allowing server stops")
    secret_server.shutdown()

    # ------------------------------------------------------- hostile contexts
    status, _, payload = submit(main, "", f"{ALICE}/sparse:1", raw_context=sparse_bomb(3 << 30))
    c.check(len(sparse_bomb(3 << 30)) < 400, f"the sparse bomb is {len(sparse_bomb(3 << 30))} bytes")
    c.check(status == 400 and "'big' is a sparse file" in message(payload),
            f"a 3 GiB sparse file: 400 ({status} {message(payload)})")
    status, _, payload = submit(main, f"FROM {base}\n", f"{ALICE}/chain:1",
                                links=[symlink("l", "."), symlink("l/l/x", "../../etc")])
    c.check(status == 400 and "below the symbolic link 'l'" in message(payload),
            f"a chained symlink: 400 ({status} {message(payload)})")
    status, _, payload = submit(main, f"FROM {base}\n", f"{ALICE}/chain:2",
                                links=[symlink("a", "."), symlink("b", "a/../etc")])
    c.check(status == 400 and "leads above the context root" in message(payload),
            f"links chained through each other: 400 ({status} {message(payload)})")
    c.check(image_id(f"{ALICE}/sparse:1") is None and image_id(f"{ALICE}/chain:1") is None, "nothing was built")

    # ------------------------------------------------------- image_exists' upload time
    status, _, payload = call(main, "GET", "/image_exists?image=" + urllib.parse.quote(victim))
    when = (payload or {}).get("image", {}) or {}
    stamp = when.get("upload_time", "")
    try:
        seconds = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        seconds = 0
    c.check(status == 200 and abs(seconds - time.time()) < 3600,
            f"upload_time is when the image was built, not 1970 ({stamp})")
    c.check(when.get("image_size_bytes", 0) > 0, "and its size")

    # ------------------------------------------------------- the HTTP layer: early answers and smuggling
    smuggled = f"GET /registry_prefix HTTP/1.1\r\nHost: x\r\nX-API-Key: {ALICE_KEY}\r\n\r\n".encode()
    got, closed = raw(main.port, b"POST /build HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
    c.equal(got.count(b"HTTP/1.1 "), 1, f"after a 401 the body is not parsed as a request ({got[:300]!r})")
    c.check(got.startswith(b"HTTP/1.1 401") and closed, "one 401, then the connection closes")
    limiting = Server(tmp, keys, "--rate", "1", "--burst", "1", env_extra={"TMPDIR": serve_tmp})
    call(limiting, "GET", "/registry_prefix")
    got, closed = raw(limiting.port, b"POST /build HTTP/1.1\r\nHost: x\r\nX-API-Key: " + ALICE_KEY.encode() +
                      b"\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
                      + smuggled)
    c.equal(got.count(b"HTTP/1.1 "), 1, f"after a 429 the body is not parsed as a request ({got[:300]!r})")
    c.check(got.startswith(b"HTTP/1.1 429") and b"Retry-After" in got and closed, "one 429, then the connection closes")
    c.equal(limiting.stop(), 128 + signal.SIGTERM, "the limiting server stops")

    # Header values are never %-decoded.
    status, _, _ = call(main, "GET", "/registry_prefix", key=ALICE_KEY + "%00junk")
    c.equal(status, 401, "X-API-Key: KEY%00junk is not KEY")
    status, _, _ = call(main, "GET", "/registry_prefix", key=ALICE_KEY[:-2] + "%" + ALICE_KEY[-2:].encode().hex()[:2])
    c.equal(status, 401, "a %-encoded byte in the key is not decoded")

    # A POST with no length: answered at once, holding nothing.
    for target, expected in (("/build", 411), ("/cancel_build?build_id=" + unknown, 404)):
        start = time.monotonic()
        got, closed = raw(main.port, b"POST " + target.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          b"X-API-Key: " + ALICE_KEY.encode() + b"\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n",
                          read_for=8)
        # A server waiting for a body would answer nothing within read_for.
        c.check(got.startswith(b"HTTP/1.1 %d" % expected), f"POST {target} without a length: {expected} ({got[:80]!r})")
        print(f"POST {target.split('?')[0]} without a length answered in {time.monotonic() - start:.3f} s")

    # Oversized bodies on every endpoint: refused by their declared length,
    # never read, and the connection closes. POST /build takes up to
    # --max-upload (512 MiB by default); the others a small body at most.
    for method, target, size in (("POST", "/build", 600 << 20), ("POST", "/cancel_build?build_id=" + unknown, 400 << 20),
                                 ("GET", "/build_status?build_id=" + unknown, 400 << 20),
                                 ("GET", "/registry_prefix", 400 << 20), ("GET", "/image_exists?image=x", 400 << 20),
                                 ("GET", "/metrics", 400 << 20), ("POST", "/cancel_build?build_id=" + unknown, 17 << 10)):
        got, closed = raw(main.port, f"{method} {target} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ALICE_KEY}\r\n"
                          f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {size}\r\n\r\n"
                          .encode() + b"x" * min(size, 65536), read_for=8)
        c.check(got.startswith(b"HTTP/1.1 413") and closed, f"{method} {target.split('?')[0]} with a {size >> 10} KiB "
                                                            f"body: 413, closed ({got[:100]!r})")
    # And a chunked one past the small limit.
    chunk = b"%x\r\n" % 8192 + b"c" * 8192 + b"\r\n"
    got, closed = raw(main.port, b"POST /cancel_build?build_id=" + unknown.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"X-API-Key: " + ALICE_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 8,
                      read_for=8)
    c.check(got.startswith(b"HTTP/1.1 413") and closed, f"a chunked 64 KiB body to /cancel_build: 413 ({got[:100]!r})")

    # ------------------------------------------------------- log injection
    forged = f"FORGED-{run_id}"
    raw(main.port, f"GET /x%0a{forged}%20GET%20/y%0d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   f"X-API-Key: {ALICE_KEY}\r\n\r\n".encode(), read_for=3)
    raw(main.port, b"GET /x\x1b[31m" + forged.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", read_for=3)
    raw(main.port, b"G\x1bET\n" + forged.encode() + b" / HTTP/1.1\r\n\r\n", read_for=3)
    submit(main, "FROM x\n", f"{ALICE}/x:1\n{forged}")
    time.sleep(0.5)
    log = main.log()
    c.check(all(line.startswith("rtb serve: ") for line in main.lines), "every log line is the server's own")
    c.check(not any(line.startswith(forged) or f" {forged} " in line for line in main.lines),
            "no forged line or field")
    c.check("\x1b" not in log and "\r" not in log, "no escape or carriage return reached the log")
    c.check("/x%0aFORGED" in log, "the %0a path is logged as sent, not decoded")
    c.check(ALICE_KEY not in log and BOB_KEY not in log, "no key is logged")

    # ------------------------------------------------------- header flood: memory stays bounded
    sent, connections = 0, 0
    line = b"X-Flood: " + b"f" * 8180 + b"\r\n"
    flood_end = time.monotonic() + 120
    while sent < (300 << 20) and time.monotonic() < flood_end and connections < 2000:
        s = socket.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", main.port))
        connections += 1
        try:
            s.sendall(b"GET /registry_prefix HTTP/1.1\r\nHost: x\r\n")
            while sent < (300 << 20):
                s.sendall(line * 64)
                sent += len(line) * 64
        except OSError:
            pass
        finally:
            s.close()
    flood_rss = rss_kib(main.proc.pid)
    print(f"header flood: {sent >> 20} MiB sent over {connections} connections; server RSS {start_rss} -> {flood_rss} KiB")
    c.check(sent >= (300 << 20), f"the flood sent 300 MiB ({sent >> 20} MiB)")
    c.check(flood_rss - start_rss < 64 * 1024, f"RSS after the flood within 64 MiB of the start ({flood_rss} KiB)")

    # ------------------------------------------------------- slow and idle clients: polls still answered
    stop_attack = threading.Event()
    attack_stats = {"slow_reconnects": 0, "idle_reconnects": 0}

    def closed_by_server(s):
        s.setblocking(False)
        try:
            return s.recv(1) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            s.setblocking(True)

    def slow_client():
        """A head that sends one header line every 10 s; once the server cuts
        it, it comes back (as an attacker would)."""
        while not stop_attack.is_set():
            s = socket.create_connection(("127.0.0.1", main.port), timeout=5)
            try:
                s.sendall(b"GET /build_status HTTP/1.1\r\nHost: x\r\n")
                n = 0
                while not stop_attack.wait(1):
                    if closed_by_server(s):
                        attack_stats["slow_reconnects"] += 1
                        break
                    n += 1
                    if n % 10 == 0:
                        s.sendall(b"X-Slow-%d: v\r\n" % n)
            except OSError:
                attack_stats["slow_reconnects"] += 1
            finally:
                s.close()

    def idle_holder():
        """200 connections that send nothing, replaced as the server closes them."""
        held = []
        while not stop_attack.is_set():
            kept = []
            for s in held:
                if closed_by_server(s):
                    s.close()
                    attack_stats["idle_reconnects"] += 1
                else:
                    kept.append(s)
            held = kept
            while len(held) < 200 and not stop_attack.is_set():
                held.append(socket.create_connection(("127.0.0.1", main.port), timeout=5))
            stop_attack.wait(0.5)
        for s in held:
            s.close()

    slow_threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(20)]
    slow_threads.append(threading.Thread(target=idle_holder, daemon=True))
    for t in slow_threads:
        t.start()
    time.sleep(2)
    latencies, failures = [], []
    poll_end = time.monotonic() + 25  # past the head deadline: slow clients get cut and come back
    while time.monotonic() < poll_end and len(latencies) + len(failures) < 500:
        t0 = time.monotonic()
        try:
            status, _, payload = status_of(main, alice_build)
            (latencies if status == 200 and payload.get("status") == "SUCCESS" else failures).append(
                time.monotonic() - t0)
        except OSError as e:
            failures.append(str(e))
        time.sleep(0.05)
    stop_attack.set()
    for t in slow_threads:
        t.join(15)
    latencies.sort()
    if latencies:
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(f"/build_status under 20 slow + 200 idle clients: {len(latencies)} polls answered, "
              f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
              f"{attack_stats['slow_reconnects']} slow and {attack_stats['idle_reconnects']} idle connections cut "
              f"by the server and opened again")
    c.check(len(latencies) >= 100 and not failures,
            f"every poll was answered while the attack was held ({len(latencies)} answered, failures: {failures[:3]})")
    c.check(attack_stats["slow_reconnects"] >= 20 and attack_stats["idle_reconnects"] >= 200,
            f"slow and idle clients were cut at the head deadline ({attack_stats})")

    # Idle floods past the per-address cap: refused at once; others served.
    # (on one io thread: 40 held connections and a served client need no more)
    capped = Server(tmp, keys, "--max-connections-per-address", "20", "--io-threads", "1",
                    env_extra={"TMPDIR": serve_tmp})
    flood = []
    for _ in range(40):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", capped.port))
        flood.append(s)
    time.sleep(0.5)
    cut = 0
    for s in flood:
        s.setblocking(False)
        try:
            cut += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            cut += 1
    c.equal(cut, 20, "past 20 connections from 127.0.0.2, the rest are closed at once")
    status, _, _ = call(capped, "GET", "/registry_prefix")
    c.equal(status, 200, "a client from 127.0.0.1 is still served")
    for s in flood:
        s.close()
    status, _, data = call(capped, "GET", "/metrics")
    c.check(status == 200 and b'rtb_http_dropped_connections_total{reason="address_limit"} 20' in data,
            "the refused connections are counted")
    c.equal(capped.stop(), 128 + signal.SIGTERM, "the capped server stops")

    # ------------------------------------------------------- metrics by tenant
    status, _, data = call(main, "GET", "/metrics")
    text = data.decode() if isinstance(data, bytes) else str(data)
    c.check(status == 200 and 'rtb_tenant_builds_total{tenant="alice",outcome="success"}' in text,
            "alice (metrics = true) scrapes builds by tenant")
    c.check('rtb_tenant_requests_total{tenant="bob"}' in text, "bob's requests are counted under bob")
    status, _, _ = call(main, "GET", "/metrics", key=BOB_KEY)
    c.equal(status, 403, "bob (no metrics = true) may not scrape")

    c.check(rss_kib(main.proc.pid) - start_rss < 64 * 1024, "RSS at the end within 64 MiB of the start")
    c.equal(main.stop(), 128 + signal.SIGTERM, "rtb serve stops")

    # ------------------------------------------------------- socket activation
    listener = loopback_listener()
    for activation in ("systemd", "fd"):
        s = Server(tmp, keys, listener=listener, activation=activation, env_extra={"TMPDIR": serve_tmp})
        c.equal(s.port, listener.getsockname()[1], f"{activation}: serves on the handed-over socket")
        status, _, payload = call(s, "GET", "/registry_prefix")
        c.equal(status, 200, f"{activation}: answers on it")
        c.equal(s.stop(), 128 + signal.SIGTERM, f"{activation}: stops")
    listener.close()

    # ------------------------------------------------------- a second SIGTERM during shutdown
    # The server's stop waits for engine lookups in flight; a proxy in front
    # of the real dockerd holds image inspections for a few seconds, so the
    # stop is certainly under way when the second signal comes.
    engine_sock = docker_host[len("unix://"):]
    proxy_path = os.path.join(tmp, "slow-engine.sock")
    proxy = socket.socket(socket.AF_UNIX)
    proxy.bind(proxy_path)
    proxy.listen(16)
    proxy_stop = threading.Event()

    def pump(src, dst, slow):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if slow and b"/images/" in data and b"/json" in data:
                    proxy_stop.wait(6)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve_proxy():
        while not proxy_stop.is_set():
            try:
                client, _ = proxy.accept()
            except OSError:
                break
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(engine_sock)
            threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()

    threading.Thread(target=serve_proxy, daemon=True).start()
    second_tmp = os.path.join(tmp, "second")
    os.makedirs(second_tmp)
    s = Server(tmp, keys, "-H", f"unix://{proxy_path}", env_extra={"TMPDIR": second_tmp})
    c.check(any(n.startswith("rtb-serve-") for n in os.listdir(second_tmp)), "the server made its work folder")
    def slow_lookup():
        try:
            call(s, "GET", "/image_exists?image=" + urllib.parse.quote(base), timeout=30)
        except OSError:
            pass  # the server ends under it: no answer is expected

    lookup = threading.Thread(target=slow_lookup, daemon=True)
    lookup.start()
    time.sleep(0.5)  # the lookup reaches the proxy and waits there
    s.proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + 30
    while time.monotonic() < end and not any("stopping" in line for line in s.lines):
        time.sleep(0.01)
    c.check(s.proc.poll() is None, "the server is still stopping (waiting for the engine lookup)")
    s.proc.send_signal(signal.SIGTERM)
    code = s.proc.wait(60)
    time.sleep(0.2)  # the stderr reader takes the last lines
    c.equal(code, 128 + signal.SIGTERM, "the second signal ends the server at once")
    c.check(any("a second signal" in line for line in s.lines), f"and it says so ({s.lines[-3:]})")
    c.equal([n for n in os.listdir(second_tmp) if n.startswith("rtb-serve-")], [],
            "no rtb-serve-* folder is left after the second signal")
    proxy_stop.set()
    proxy.close()
    lookup.join(10)
    os.rmdir(second_tmp)

    # ------------------------------------------------------- the operator's mistakes
    loose = os.path.join(tmp, "loose-keys")
    write_secret(loose, ALICE_KEY + "\n")
    os.chmod(loose, 0o644)
    code, err, _ = serve_fails("--listen", "127.0.0.1:0", "--api-key-file", loose)
    c.check(code == 2 and "chmod 600" in err and ALICE_KEY not in err, f"a key file others can read is refused ({err})")
    code, err, took = serve_fails("--listen", "127.0.0.1:0", "--api-key-file", "/dev/zero")
    c.check(code == 2 and "not a regular file" in err,
            f"--api-key-file /dev/zero is refused, not read ({code}, {took:.1f} s, {err})")
    code, err, _ = serve_fails("--listen", "127.0.0.1:0", "--api-key-file", keys, "--io-threads", "0")
    c.check(code == 2 and "--io-threads" in err, f"--io-threads 0 is refused ({code}, {err})")
    for listen in ("127.0.0.1.nip.io:1", "0.0.0.0:0", "127.1:0"):
        code, err, _ = serve_fails("--listen", listen, "--api-key-file", keys)
        c.check(code == 2 and "not a loopback address" in err, f"--listen {listen} is refused ({code}, {err})")
    token = f"tok{run_id}c0ffee5ecret"
    code, err, _ = serve_fails("--listen", "127.0.0.1:0", "--api-key-file", keys,
                               env=dict(os.environ, DOCKER_HOST=f"tcp://{token}@127.0.0.1:1"))
    c.check(code == 2 and token not in err and "***@127.0.0.1:1" in err,
            f"a token in DOCKER_HOST is not printed ({code}, {err})")

    # ------------------------------------------------------- nothing left behind
    c.equal(os.listdir(serve_tmp), [], "every server removed its temporary folder")
    for image in created_images:
        engine_call(docker_host, "DELETE", f"/images/{urllib.parse.quote(image, safe='')}?force=1")

c.done()
