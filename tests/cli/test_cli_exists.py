#!/usr/bin/python3
"""`rtb exists` end to end against the real dockerd and loopback registry of
scripts/engines (run through `scripts/engines run`): the exit-status contract
(0 exists, 1 not, 2 error), --registry answering without pulling, --pull
pulling, --registry-only needing no engine, credentials never printed, and
Ctrl-C ending a hung lookup or a retry wait with exit status 130."""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from support import RTB, Checks, need, rtb  # noqa: E402

c = Checks()



docker_host = need("RTB_DOCKER_HOST")
registry = need("RTB_REGISTRY")
base = need("RTB_TEST_BASE_IMAGE")
docker = ["/usr/bin/docker", "-H", docker_host]
run_id = str(os.getpid())


def sh(*argv):
    return subprocess.run([*argv], capture_output=True, text=True)


def local_has(image):
    return sh(*docker, "image", "inspect", image).returncode == 0


env = dict(os.environ, DOCKER_HOST=docker_host)
with tempfile.TemporaryDirectory(prefix="rtb-cli-exists-") as tmp:
    env["DOCKER_CONFIG"] = tmp  # no credentials unless a case writes some

    # ------------------------------------------------------------ local
    status, _, err = rtb("exists", base, env=env)
    c.equal(status, 0, f"a local image exists ({err.strip()})")
    status, _, _ = rtb("exists", f"local/rtb-no-such-image-{run_id}:1", env=env)
    c.equal(status, 1, "a missing local image does not")
    status, _, _ = rtb("exists", "--host", docker_host, base, env=dict(env, DOCKER_HOST="unix:///nonexistent"))
    c.equal(status, 0, "--host wins over DOCKER_HOST")

    # --------------------------------------- registry: never pulls
    pushed = f"{registry}/rtb-cli-it/app-{run_id}:1"
    r = sh(*docker, "tag", base, pushed)
    c.check(r.returncode == 0, f"docker tag: {r.stderr}")
    r = sh(*docker, "push", pushed)
    c.check(r.returncode == 0, f"docker push: {r.stderr}")
    r = sh(*docker, "rmi", pushed)
    c.check(r.returncode == 0 and not local_has(pushed), f"docker rmi: {r.stderr}")

    status, _, err = rtb("exists", pushed, env=env)
    c.equal(status, 1, "without --registry, a pushed image that is not local does not exist")
    status, _, err = rtb("exists", "--registry", pushed, env=env)
    c.equal(status, 0, f"--registry finds the pushed image ({err.strip()})")
    c.check(not local_has(pushed), "--registry did not pull it")
    status, _, _ = rtb("exists", "--registry", f"{registry}/rtb-cli-it/app-{run_id}:missing", env=env)
    c.equal(status, 1, "--registry: a missing tag does not exist")
    status, _, err = rtb("exists", "--registry-only", "-v", "--host", "unix:///nonexistent", pushed, env=env)
    c.equal(status, 0, f"--registry-only needs no engine ({err.strip()})")
    c.check("sha256:" in err, "--registry-only -v names the digest")

    # ------------------------------------------- --pull, OpenHands' way
    status, _, err = rtb("exists", "--pull", pushed, env=env)
    c.equal(status, 0, f"--pull finds it ({err.strip()})")
    c.check(local_has(pushed), "--pull pulled it")
    sh(*docker, "rmi", pushed)
    status, _, _ = rtb("exists", "--pull", f"{registry}/rtb-cli-it/app-{run_id}:missing", env=env)
    c.equal(status, 1, "--pull: a missing tag does not exist")

    # ------------------------------------------------------------ errors
    status, _, err = rtb("exists", "NOT A REF", env=env)
    c.equal(status, 2, "an invalid reference is an error")
    c.check("NOT A REF" in err, "the error quotes the reference")
    status, _, _ = rtb("exists", "--pull", "--registry", base, env=env)
    c.equal(status, 2, "--pull and --registry exclude each other")

    # A fake registry wanting Basic auth: wrong credentials are an error (2),
    # asked once (no retry), and the password never shows.
    requests = []

    def fake_registry(conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            requests.append(data)
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve_forever():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            fake_registry(conn)

    threading.Thread(target=serve_forever, daemon=True).start()
    secret = "Pa55-never-shown"
    with open(os.path.join(tmp, "config.json"), "w") as f:
        auth = base64.b64encode(f"bob:{secret}".encode()).decode()
        json.dump({"auths": {f"127.0.0.1:{port}": {"auth": auth}}}, f)
    status, out, err = rtb("exists", "--registry-only", f"127.0.0.1:{port}/app:1", env=env)
    c.equal(status, 2, "wrong credentials are an error")
    c.check("HTTP 401" in err and "credentials" in err, f"the error says unauthorized: {err.strip()}")
    c.check(secret not in err + out and auth not in err + out, "the password is never printed")
    c.equal(len(requests), 2, "asked once without and once with credentials, never retried")
    srv.close()
    os.remove(os.path.join(tmp, "config.json"))

    # ------------------------------------------------------------ Ctrl-C
    def interrupted(answer, what):
        """Starts rtb against a server that accepts and then `answer`s (or
        says nothing), sends SIGINT once the request arrived; checks 130."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        p = s.getsockname()[1]
        got = threading.Event()
        held = []

        def one():
            conn, _ = s.accept()
            held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if answer:
                conn.sendall(answer)
            got.set()

        threading.Thread(target=one, daemon=True).start()
        proc = subprocess.Popen([RTB, "exists", "--registry-only", f"127.0.0.1:{p}/app:1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        c.check(got.wait(30), f"{what}: rtb sent its request")
        time.sleep(0.2)  # let it settle into the wait
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        c.equal(proc.returncode, 130, f"{what}: Ctrl-C exits 130 ({err.decode().strip()})")
        c.check(b"interrupted" in err, f"{what}: says it was interrupted")
        for conn in held:
            conn.close()
        s.close()

    interrupted(None, "a registry that never answers")
    interrupted(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n",
                "a wait for Retry-After")

c.done()
