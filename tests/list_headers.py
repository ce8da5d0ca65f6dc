#!/usr/bin/python3
"""Prints every public and detail header under include/, relative to it."""
import os
import sys

root = sys.argv[1]
for dirpath, _, files in sorted(os.walk(root)):
    for f in sorted(files):
        if f.endswith(".hpp"):
            print(os.path.relpath(os.path.join(dirpath, f), root))
