#!/usr/bin/python3
"""`rtb doctor` end to end against the real engines of scripts/engines (run
through `scripts/engines run`): a healthy dockerd and Podman are ready (exit
0) and say what they are; a stopped engine (a socket nobody listens on, a
missing socket) fails the engine check with a remedy (exit 1); a registry
the test starts itself with htpasswd auth fails on wrong credentials and
passes with the right ones, and the password is never printed; an absurd
free-space threshold fails naming the amount; --json agrees with the exit
status; a usage error exits 2."""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, need, rtb, free_port  # noqa: E402

c = Checks()

docker_host = need("RTB_DOCKER_HOST")
podman_host = need("RTB_PODMAN_HOST")
registry = need("RTB_REGISTRY")


def lines_of(out, prefix):
    return [line for line in out.splitlines() if line.startswith(prefix)]


def remedy_after(out, prefix):
    """The remedy line right after the first line starting with `prefix`."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            return lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("        remedy: ") else None
    return None


def start_registry(folder, htpasswd_file):
    """Debian's docker-registry on 127.0.0.1:<free port> with htpasswd auth; (process, "127.0.0.1:port")."""
    for _ in range(3):
        port = free_port()
        config = os.path.join(folder, "config.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {os.path.join(folder, 'data')}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: rtb-doctor-test
    path: {htpasswd_file}
""")
        log = open(os.path.join(folder, "registry.log"), "wb")
        proc = subprocess.Popen(["docker-registry", "serve", config], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
                return proc, f"127.0.0.1:{port}"
            except urllib.error.HTTPError:
                return proc, f"127.0.0.1:{port}"  # 401: it answers
            except OSError:
                time.sleep(0.05)
        stop(proc)
    raise RuntimeError("docker-registry did not start: " + open(os.path.join(folder, "registry.log")).read())


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


with tempfile.TemporaryDirectory(prefix="rtb-cli-doctor-") as tmp:
    cache = os.path.join(tmp, "cache")
    docker_config = os.path.join(tmp, "docker-config")
    os.makedirs(docker_config)
    env = dict(os.environ, DOCKER_HOST=docker_host, DOCKER_CONFIG=docker_config)
    env.pop("RTB_CACHE_DIR", None)
    base = ["doctor", "--cache-dir", cache]

    # ------------------------------------------------------ (a) healthy dockerd
    status, out, err = rtb(*base, "--host", docker_host, "--registry", registry, env=env)
    c.equal(status, 0, f"a healthy dockerd is ready ({out}{err})")
    engine = lines_of(out, "ok      engine: Docker Engine ")
    c.check(len(engine) == 1 and "(API 1.4" in engine[0] and docker_host[len("unix://"):] in engine[0],
            f"the engine line names Docker Engine, its version, API and socket: {engine}")
    c.check(any(line.startswith("ok      engine: Docker Engine 2") for line in engine), "with a version number")
    c.check(len(lines_of(out, "ok      api version: Engine API 1.")) == 1, "the API version is ok")
    c.check(len(lines_of(out, "skipped podman: ")) == 1, "no Podman checks for dockerd")
    c.check(len(lines_of(out, f"ok      registry {registry}: reachable")) == 1, f"the open registry is ok: {out}")
    c.check(len(lines_of(out, "ok      clock: the local clock is")) == 1, "the clock compared with the registry")
    c.check(len(lines_of(out, "ok      disk space (engine): the engine's data root")) == 1, "the data root checked")
    c.check(len(lines_of(out, "ok      cache directory: ")) == 1, "the cache directory checked")
    c.check(not os.path.exists(cache), "the doctor left no cache directory behind")
    c.check(out.splitlines()[-1].startswith("ready to build: "), f"the last line is the summary: {out.splitlines()[-1]}")
    buildkit = lines_of(out, "ok      buildkit: ") + lines_of(out, "warning buildkit: ")
    c.equal(len(buildkit), 1, "buildkit is reported, as ok or a warning")

    # ------------------------------------------------------ (b) healthy Podman
    status, out, err = rtb(*base, "--transport", "podman", "--host", podman_host, env=env)
    c.equal(status, 0, f"a healthy Podman is ready ({out}{err})")
    c.check(len(lines_of(out, "ok      engine: Podman Engine 4.")) == 1, f"the engine line names Podman: {out}")
    podman = lines_of(out, "ok      podman: Podman 4.") + lines_of(out, "warning podman: Podman 4.")
    c.check(len(podman) == 1 and "cgroup manager" in podman[0] and ("rootful" in podman[0] or "rootless" in podman[0]),
            f"the Podman check says rootless or not and the cgroup manager: {podman}")
    c.check(len(lines_of(out, "skipped buildkit: Podman builds with Buildah")) == 1, "BuildKit does not apply")

    # ------------------------------------------------------ (c) stopped engine
    dead = os.path.join(tmp, "dead.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(dead)  # bound, never listening: connection refused
    for host, what in [(f"unix://{dead}", "a socket nobody listens on"),
                       (f"unix://{tmp}/missing.sock", "a missing socket")]:
        status, out, err = rtb(*base, "--host", host, env=env)
        c.equal(status, 1, f"{what}: exit status 1 ({err.strip()})")
        failed = lines_of(out, "FAILED  engine: ")
        c.check(len(failed) == 1 and host[len("unix://"):] in failed[0], f"{what}: the engine FAILED naming it: {out}")
        remedy = remedy_after(out, "FAILED  engine: ")
        c.check(remedy is not None and "dockerd" in remedy and "DOCKER_HOST" in remedy, f"{what}: a remedy: {remedy}")
        c.check(out.splitlines()[-1].startswith("not ready to build: "), f"{what}: the summary says not ready")
    listener.close()
    status, out, err = rtb(*base, "--transport", "podman", "--host", f"unix://{tmp}/missing.sock", env=env)
    c.equal(status, 1, "a stopped Podman: exit status 1")
    c.check("podman system service" in (remedy_after(out, "FAILED  engine: ") or ""), "with Podman's remedy")

    # ------------------------------------------ (d) credentials for a registry
    reg_dir = os.path.join(tmp, "registry")
    os.makedirs(reg_dir)
    user, password = "doctor", "Doct0r-Pa55-never-shown"
    wrong = "Wr0ng-Pa55-never-shown"
    htpasswd = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True)
    htpasswd_file = os.path.join(reg_dir, "htpasswd")
    with open(htpasswd_file, "w") as f:
        f.write(htpasswd.stdout)
    proc = None
    try:
        proc, private = start_registry(reg_dir, htpasswd_file)

        def with_credentials(secret):
            auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
            with open(os.path.join(docker_config, "config.json"), "w") as f:
                json.dump({"auths": {private: {"auth": auth}}}, f)
            return auth

        status, out, err = rtb(*base, "--host", docker_host, "--registry", private, env=env)
        c.equal(status, 0, f"no credentials for a registry that wants them: only a warning ({out})")
        c.check(len(lines_of(out, f"warning registry {private}: ")) == 1 and "no credentials" in out,
                f"the warning says there are no credentials: {out}")

        auth = with_credentials(wrong)
        status, out, err = rtb(*base, "--host", docker_host, "--registry", private, env=env)
        c.equal(status, 1, f"wrong credentials: exit status 1 ({err.strip()})")
        failed = lines_of(out, f"FAILED  registry {private}: ")
        c.check(len(failed) == 1 and "refused" in failed[0], f"the registry FAILED, credentials refused: {out}")
        c.check(f"docker login {private}" in (remedy_after(out, f"FAILED  registry {private}: ") or ""),
                "the remedy says docker login HOST")
        c.check(wrong not in out + err and auth not in out + err and wrong[:6] not in out + err,
                "the wrong password is never printed, not even in part")
        status, out, err = rtb(*base, "--host", docker_host, "--registry", private, "--json", env=env)
        doc = json.loads(out)
        c.check(doc["ready"] is False and status == 1, "--json: ready false with exit status 1")
        reg_checks = [x for x in doc["checks"] if x["name"] == f"registry {private}"]
        c.check(len(reg_checks) == 1 and reg_checks[0]["status"] == "failed" and reg_checks[0]["remedy"],
                f"--json: the registry check failed with a remedy: {reg_checks}")
        c.check(wrong not in out + err and auth not in out + err, "--json: the password is never printed")

        auth = with_credentials(password)
        status, out, err = rtb(*base, "--host", docker_host, "--registry", private, env=env)
        c.equal(status, 0, f"the right credentials: ready ({out}{err})")
        c.check(len(lines_of(out, f"ok      registry {private}: ")) == 1 and "accepted" in out,
                f"the registry is ok, credentials accepted: {out}")
        c.check(password not in out + err and auth not in out + err and password[:6] not in out + err,
                "the password is never printed")

        stop(proc)
        status, out, err = rtb(*base, "--host", docker_host, "--registry", private, env=env)
        c.equal(status, 1, "a registry that is down: exit status 1")
        c.check(len(lines_of(out, f"FAILED  registry {private}: cannot reach it")) == 1, f"it says so: {out}")
    finally:
        if proc is not None:
            stop(proc)
        os.remove(os.path.join(docker_config, "config.json")) if os.path.exists(
            os.path.join(docker_config, "config.json")) else None

    # ------------------------------------------------ (e) an absurd threshold
    status, out, err = rtb(*base, "--host", docker_host, "--engine-min-free", "1EiB", env=env)
    c.equal(status, 1, f"1 EiB wanted on the engine's filesystem: exit status 1 ({err.strip()})")
    disk = lines_of(out, "FAILED  disk space (engine): ")
    c.check(len(disk) == 1 and "1.0 EiB" in disk[0] and "free" in disk[0], f"it names disk space and the amounts: {out}")
    c.check("--engine-min-free" in (remedy_after(out, "FAILED  disk space (engine): ") or ""),
            "the remedy names the threshold")
    status, out, err = rtb(*base, "--host", docker_host, "--cache-min-free", "2 PiB", env=env)
    c.equal(status, 1, "2 PiB wanted in the cache directory: exit status 1")
    c.check(len(lines_of(out, "FAILED  disk space (cache): ")) == 1 and "2.0 PiB" in out, f"it names the cache: {out}")

    # ------------------------------------------------------------ (f) --json
    status, out, err = rtb(*base, "--host", docker_host, "--json", env=env)
    doc = json.loads(out)
    c.check(status == 0 and doc["ready"] is True, f"--json of a healthy engine: ready true, exit 0 ({status})")
    c.check(all(set(x) == {"name", "status", "detail", "remedy"} for x in doc["checks"]), "every check has its fields")
    c.check(all(x["status"] in ("ok", "warning", "failed", "skipped") for x in doc["checks"]), "statuses are known")
    c.check([x["name"] for x in doc["checks"]][:2] == ["engine", "api version"], "the engine comes first")
    status, out, err = rtb(*base, "--host", f"unix://{tmp}/missing.sock", "--json", env=env)
    doc = json.loads(out)
    c.check(status == 1 and doc["ready"] is False, "--json of a stopped engine: ready false, exit 1")

    # ------------------------------------------------------------ usage errors
    status, out, err = rtb("doctor", "--transport", "dockr", env=env)
    c.equal(status, 2, "an unknown transport is a usage error")
    status, out, err = rtb(*base, "--engine-min-free", "lots", env=env)
    c.equal(status, 2, "a size that is not one is a usage error")
    c.check("--engine-min-free" in err, f"it names the flag: {err.strip()}")

c.done()
