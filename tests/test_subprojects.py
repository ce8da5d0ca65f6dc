#!/usr/bin/env python3
"""The wraps in subprojects/ are real fallbacks.

Every `fallback : ['NAME', 'VARIABLE']` in the project's meson.build files
needs subprojects/NAME.wrap whose [provide] section names VARIABLE, a
[wrap-file] with a source URL and a sha256, and, when it names a
patch_directory, subprojects/packagefiles/DIR/meson.build that declares
VARIABLE. Meson itself must read every wrap (`meson subprojects foreach`,
which downloads nothing).
"""
import configparser
import pathlib
import re
import subprocess
import sys

root = pathlib.Path(sys.argv[1])
failures = []

fallbacks = {}
for build in [root / "meson.build", *root.glob("*/meson.build"), *root.glob("*/*/meson.build")]:
    if "subprojects" in build.parts:
        continue
    for name, variable in re.findall(r"fallback\s*:\s*\[\s*'([^']+)'\s*,\s*'([^']+)'\s*\]", build.read_text()):
        fallbacks[name] = (variable, build.relative_to(root))
if len(fallbacks) < 5:
    failures.append(f"only {len(fallbacks)} fallbacks found in the meson.build files: the pattern no longer matches")

for name, (variable, where) in sorted(fallbacks.items()):
    wrap = root / "subprojects" / f"{name}.wrap"
    if not wrap.is_file():
        failures.append(f"{where} falls back to '{name}', but {wrap.relative_to(root)} does not exist")
        continue
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(wrap)
    if "wrap-file" not in parser:
        failures.append(f"{wrap.name}: no [wrap-file] section")
        continue
    section = parser["wrap-file"]
    if not section.get("source_url", "").startswith("https://"):
        failures.append(f"{wrap.name}: source_url is not an https URL")
    if not re.fullmatch(r"[0-9a-f]{64}", section.get("source_hash", "")):
        failures.append(f"{wrap.name}: source_hash is not a sha256")
    provided = set(parser["provide"].values()) if "provide" in parser else set()
    if variable not in provided:
        failures.append(f"{wrap.name}: [provide] does not name {variable}, which {where} asks for")
    patch = section.get("patch_directory")
    if patch:
        packaged = root / "subprojects" / "packagefiles" / patch / "meson.build"
        if not packaged.is_file():
            failures.append(f"{wrap.name}: patch_directory {patch} has no {packaged.relative_to(root)}")
        elif not re.search(rf"^{re.escape(variable)}\s*=\s*declare_dependency", packaged.read_text(), re.M):
            failures.append(f"{packaged.relative_to(root)} does not declare {variable}")

listing = subprocess.run(["meson", "subprojects", "foreach", "--num-processes", "1", "--types", "file", "true"], cwd=root,
                         capture_output=True, text=True)
if listing.returncode != 0:
    failures.append(f"meson could not read the wraps: {listing.stderr.strip() or listing.stdout.strip()}")
wraps = sorted((root / "subprojects").glob("*.wrap"))
for wrap in wraps:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(wrap)
    directory = parser.get("wrap-file", "directory", fallback=wrap.stem)
    if f"subprojects/{directory}" not in listing.stdout:
        failures.append(f"meson did not read {wrap.name} (no subprojects/{directory} in its listing)")

for f in failures:
    print("FAIL:", f)
print(f"{len(fallbacks)} fallbacks, {len(wraps)} wraps checked")
sys.exit(1 if failures else 0)
