#!/usr/bin/env python3
"""OpenHands' own Dockerfile.j2, rendered by rtb exactly as OpenHands renders it.

The oracle repeats OpenHands' _generate_dockerfile (runtime_build.py): a
default jinja2.Environment with a FileSystemLoader, get_template, then
render(base_image, build_from_scratch, build_from_versioned, extra_deps or
'', enable_browser, channel_alias). rtb renders the same file the way it
renders a runtime image's Dockerfile (render_dockerfile with rtb's own
variables, through tests/jinja/jinja_render's "dockerfile" mode). Every
plan, browser on and off, with and without extra dependencies, for base
images that take each of the template's branches: byte for byte.

Needs RTB_JINJA_RENDER, RTB_TEST_DATA and python3-jinja2.
"""
import os
import sys

import jinja2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

TEMPLATES = os.path.join(os.environ["RTB_TEST_DATA"], "openhands")
BASES = [
    "nikolaik/python-nodejs:python3.12-nodejs22-slim",  # OpenHands' default: the generic branch
    "ubuntu:24.04",                                      # the ubuntu branches and install_docker's ubuntu side
    "mswebench/mswebench_x:pr-1",                        # mswebench: no docker, its own python packages
    "swebench/sweb.eval.x86_64.django_1776_django-11099:latest",  # swebench: no docker
    "local/busybox:1",
]
EXTRA = [None, "pip install 'rtb-extra==1.0' && echo \"done\" > /tmp/x"]


def generate_dockerfile(base_image, plan, extra_deps, enable_browser, channel_alias=None):
    """OpenHands' _generate_dockerfile, call for call."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(searchpath=TEMPLATES))
    template = env.get_template("Dockerfile.j2")
    return template.render(
        base_image=base_image,
        build_from_scratch=plan == "scratch",
        build_from_versioned=plan == "versioned",
        extra_deps=extra_deps if extra_deps is not None else "",
        enable_browser=enable_browser,
        channel_alias=channel_alias,
    )


def main():
    with open(os.path.join(TEMPLATES, "Dockerfile.j2"), encoding="utf-8") as f:
        text = f.read()
    cases, expected = [], []
    for base in BASES:
        for plan in ("scratch", "versioned", "lock"):
            for browser in (True, False):
                for extra in EXTRA:
                    inputs = {"base_image": base, "plan": plan, "enable_browser": browser,
                              "extra_deps": extra or "", "lock_files": ["pyproject.toml", "poetry.lock"]}
                    cases.append({"name": "Dockerfile.j2", "template": text, "dockerfile": inputs})
                    expected.append(generate_dockerfile(base, plan, extra, browser))
    # OH_CONDA_CHANNEL_ALIAS: OpenHands passes it as channel_alias; with rtb it is a --var.
    for plan in ("scratch", "lock"):
        inputs = {"base_image": BASES[0], "plan": plan, "enable_browser": True, "extra_deps": "",
                  "vars": {"channel_alias": "https://repo.example/conda"}}
        cases.append({"name": "Dockerfile.j2", "template": text, "dockerfile": inputs})
        expected.append(generate_dockerfile(BASES[0], plan, None, True, "https://repo.example/conda"))

    results = oracle.rtb_render(cases)
    failures = 0
    distinct = set()
    for case, want, got in zip(cases, expected, results):
        distinct.add(want)
        if got != ("output", want):
            failures += 1
            print(f"FAIL {case['dockerfile']}")
            if got[0] == "error":
                print(f"  rtb refused: {got[1]}")
            else:
                for i, (a, b) in enumerate(zip(want.splitlines(), got[1].splitlines())):
                    if a != b:
                        print(f"  first difference at line {i + 1}:\n    openhands {a!r}\n    rtb       {b!r}")
                        break
                else:
                    print(f"  lengths differ: openhands {len(want)}, rtb {len(got[1])}")
    # The cases must exercise the template: each branch gives a different Dockerfile.
    if len(distinct) < 40:
        print(f"FAIL only {len(distinct)} distinct Dockerfiles from {len(cases)} renders")
        failures += 1
    print(f"OpenHands Dockerfile.j2: {len(cases) - failures} of {len(cases)} renders identical "
          f"({len(distinct)} distinct Dockerfiles)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
