#!/usr/bin/python3
"""OpenHands' own Dockerfile.j2, rendered by rtb, builds on a real dockerd.

No network here, so (as OpenHands' own variables allow) the lock plan, which
skips the system setup and the dependency installs; and the copy
tests/data/openhands/Dockerfile.offline.j2, edited in one line only: the
OpenVSCode Server download becomes a local stand-in archive. The base is the
local busybox image plus what every OpenHands base image has and busybox
lacks (bash, getent, groupadd, useradd: small shell scripts). The build
folder is laid out as OpenHands' prep_build_folder lays it out (code/
pyproject.toml, code/poetry.lock, code/openhands, code/skills), because the
template copies from there. rtb renders (`rtb context runtime --template
... --dockerfile`); docker builds; `rtb run` checks what the image holds.
Run through `scripts/engines run` and the leak check: every image made here
is removed, the temporary folder too."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from support import Checks, need, rtb  # noqa: E402

c = Checks()
host = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
templates = os.path.join(root, "tests", "data", "openhands")
docker = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
tag = f"local/rtb-openhands-{os.getpid()}"
docker_env = dict(os.environ, DOCKER_HOST=host, DOCKER_BUILDKIT="0")

SHIMS = {
    # The template's SHELL is bash; busybox's sh runs what the lock plan's steps use.
    "bash": '#!/bin/sh\nexec /bin/sh "$@"\n',
    "getent": '#!/bin/sh\n# getent passwd|group NAME-or-ID\n'
              'exec awk -F: -v k="$2" \'$1 == k || $3 == k { print; f = 1 } END { exit f ? 0 : 2 }\' "/etc/$1"\n',
    "groupadd": '#!/bin/sh\n# groupadd [-g GID] NAME\ngid=\n'
                'while [ $# -gt 1 ]; do case $1 in -g) gid=$2; shift 2;; *) shift;; esac; done\n'
                '[ -n "$gid" ] || gid=$(awk -F: \'BEGIN { m = 999 } $3 > m && $3 < 60000 { m = $3 } END { print m + 1 }\' /etc/group)\n'
                'echo "$1:x:$gid:" >> /etc/group\n',
    "useradd": '#!/bin/sh\n# useradd [-u UID] [-g GROUP] [-m] [-s SHELL] NAME\nuid= group= home= shell=/bin/sh\n'
               'while [ $# -gt 1 ]; do case $1 in -u) uid=$2; shift 2;; -g) group=$2; shift 2;; '
               '-s) shell=$2; shift 2;; -m) home=1; shift;; *) shift;; esac; done\n'
               '[ -n "$uid" ] || uid=$(awk -F: \'BEGIN { m = 999 } $3 > m && $3 < 60000 { m = $3 } END { print m + 1 }\' /etc/passwd)\n'
               'gid=$(awk -F: -v g="${group:-$1}" \'$1 == g { print $3 }\' /etc/group)\n'
               'echo "$1:x:$uid:${gid:-$uid}::/home/$1:$shell" >> /etc/passwd\n'
               '[ -z "$home" ] || { mkdir -p "/home/$1" && chown "$uid:${gid:-$uid}" "/home/$1"; }\n',
}


def docker_cmd(*args, check=True):
    r = subprocess.run([docker, *args], env=docker_env, capture_output=True, text=True, timeout=900)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed ({r.returncode}): {r.stderr[-3000:]}")
    return r


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def in_container(image, script):
    status, out, err = rtb("run", "-H", host, "--rm", image, "--", "/bin/sh", "-c", script)
    return out if status == 0 else f"<exit {status}: {err.strip()}>"


made = []
tmp = tempfile.mkdtemp(prefix="rtb-openhands-build-")
try:
    # The base: local busybox plus the tools an OpenHands base image has.
    shim_dir = os.path.join(tmp, "base")
    for name, text in SHIMS.items():
        write(os.path.join(shim_dir, name), text, 0o755)
    write(os.path.join(shim_dir, "Dockerfile"), f"FROM {base}\nCOPY {' '.join(SHIMS)} /bin/\n")
    oh_base = f"{tag}-base:1"
    docker_cmd("build", "-q", "-t", oh_base, shim_dir)
    made.append(oh_base)

    # A project laid out as OpenHands' prep_build_folder lays out its build folder.
    project = os.path.join(tmp, "project", "code")
    write(os.path.join(project, "pyproject.toml"), '[tool.poetry]\nname = "openhands-ai"\nversion = "0.62.0"\n')
    write(os.path.join(project, "poetry.lock"), "# locked\n")
    write(os.path.join(project, "openhands", "__init__.py"), "__version__ = '0.62.0'\n")
    write(os.path.join(project, "openhands", "runtime", "action_execution_server.py"), "print('serving')\n")
    write(os.path.join(project, "skills", "README.md"), "# skills\n")

    def render(template, *extra):
        status, out, err = rtb("context", "runtime", "--template", os.path.join(templates, template),
                               "--plan", "lock", "--base-image", "nikolaik/python-nodejs:python3.12-nodejs22",
                               "--from-image", oh_base, "--source", os.path.join(project, "openhands"),
                               "--lock", os.path.join(project, "pyproject.toml"),
                               "--lock", os.path.join(project, "poetry.lock"), "--dockerfile", "--no-labels", *extra)
        c.equal(status, 0, f"rtb renders {template} {extra} ({err.strip()[-500:]})")
        return out

    extra_deps = "echo rtb-extra-deps > /home/openhands/extra.txt"
    for name, flags in (("with-extra-deps", ["--extra-deps", extra_deps]), ("plain", ["--no-browser"])):
        offline = render("Dockerfile.offline.j2", *flags)
        real = render("Dockerfile.j2", *flags)
        # The build exercises the real template: the renders differ in the one edited line only.
        differing = [(a, b) for a, b in zip(real.splitlines(), offline.splitlines()) if a != b]
        c.check(len(real.splitlines()) == len(offline.splitlines()) and len(differing) == 1
                and "wget https://github.com/" in differing[0][0],
                f"{name}: only the download differs between the real and the offline template: {differing!r}")
        c.check(offline.startswith(f"FROM {oh_base}\n"), f"{name}: the lock plan builds FROM the given image")
        c.check(("RUN " + extra_deps) in offline if name == "with-extra-deps" else "extra.txt" not in offline,
                f"{name}: extra deps rendered only when given")

        folder = os.path.join(tmp, f"build-{name}")
        shutil.copytree(project, os.path.join(folder, "code"))
        write(os.path.join(folder, "Dockerfile"), offline)
        image = f"{tag}:{name}"
        r = docker_cmd("build", "-t", image, folder, check=False)
        c.equal(r.returncode, 0, f"{name}: dockerd builds OpenHands' template as rtb rendered it ({r.stderr[-3000:]})")
        if r.returncode != 0:
            continue
        made.append(image)
        out = in_container(image, "id openhands; ls /openhands/code /openhands/code/openhands /openhands/code/skills; "
                                  "ls /openhands/.openvscode-server/bin/remote-cli; tail -n 1 /home/openhands/.bashrc; "
                                  "cat /home/openhands/extra.txt 2>/dev/null || echo no-extra")
        c.check("uid=1000(openhands) gid=1000(openhands)" in out, f"{name}: the openhands user exists: {out!r}")
        c.check("pyproject.toml" in out and "poetry.lock" in out and "__init__.py" in out and "README.md" in out,
                f"{name}: the project files are in /openhands/code: {out!r}")
        c.check("code" in out.split() and "openvscode-server" in out.split(),
                f"{name}: the (stand-in) OpenVSCode server is installed: {out!r}")
        c.check("micromamba activate openhands" in out, f"{name}: .bashrc is set up: {out!r}")
        c.check(("rtb-extra-deps" in out) == (name == "with-extra-deps") and (("no-extra" in out) == (name == "plain")),
                f"{name}: the extra deps step ran exactly when given: {out!r}")
finally:
    for image in reversed(made):
        docker_cmd("rmi", "-f", image, check=False)
    shutil.rmtree(tmp, ignore_errors=True)
c.done()
