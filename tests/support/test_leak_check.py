"""The leak check finds what it is meant to find: a command that leaves a
process, a temporary folder, a container, an image tag and a dangling image
behind fails,
each named, and everything is gone afterwards; a clean command passes, and
a failing command keeps its own exit status."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from support import Checks, engine_call, need  # noqa: E402

LEAK_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leak_check.py")
c = Checks()
docker = need("RTB_DOCKER_HOST")
base = need("RTB_TEST_BASE_IMAGE")


def run(script):
    p = subprocess.run([sys.executable, LEAK_CHECK, "--engines", "--", "sh", "-c", script],
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr


status, err = run("true")
c.equal(status, 0, "a clean command passes")
c.check("0 leak(s)" in err, f"a clean command reports no leak: {err}")

status, err = run("exit 3")
c.equal(status, 3, "a failing command keeps its status")

# A process escaping into its own session, a folder in TMPDIR, a container
# and a dangling image (a tagged image, then untagged).
tag = "rtb-leak-check-probe:1"
script = f"""
setsid sleep 300 < /dev/null > /dev/null 2>&1 &
mkdir "$TMPDIR/left-behind"
docker -H {docker} create --name rtb-leak-check-probe {base} true > /dev/null
printf 'FROM {base}\\nLABEL probe=%s\\n' $$ | docker -H {docker} build -q -t {tag} - > /dev/null
docker -H {docker} rmi {tag} > /dev/null 2>&1 || true
printf 'FROM {base}\\nLABEL probe=%s-2\\n' $$ | docker -H {docker} build -q - > /dev/null
printf 'FROM {base}\\nLABEL probe=%s-3\\n' $$ | docker -H {docker} build -q -t rtb-leak-check-tagged:1 - > /dev/null
"""
status, err = run(script)
c.equal(status, 1, "a leaking command fails")
for what in ("process", "sleep 300", "left-behind", "container left on docker", "rtb-leak-check-probe",
             "dangling image left on docker", "image tag left on docker: rtb-leak-check-tagged:1"):
    c.check(what in err, f"the report names {what!r}: {err}")
_, body = engine_call(docker, "GET", "/containers/json?all=1")
c.check(b"rtb-leak-check-probe" not in body, "the leaked container was removed")
c.equal(engine_call(docker, "GET", "/images/rtb-leak-check-tagged:1/json")[0], 404, "the leaked tag was removed")
def live_sleepers():
    # (a SIGKILLed process is gone a moment later, as a zombie until reaped)
    out = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split(None, 1)[-1] == "sleep 300" and not line.startswith("Z")]


deadline = time.monotonic() + 10
while live_sleepers() and time.monotonic() < deadline:
    time.sleep(0.1)
c.equal(live_sleepers(), [], "the leaked process was killed")
c.done()
