#!/usr/bin/python3
"""Pillow side of bench_preprocess: decode + the reference preprocessing, one process.

usage: bench_preprocess_pil.py SECONDS IMAGE...   prints "<images per second>"

The pipeline is SEIZE's (TargetPad 1.25, 224 pixels), from tests/unit/pil_reference.py, the
one copy of the Pillow reference that the tests use too.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "unit"))
from pil_reference import preprocess  # noqa: E402


def main():
    seconds, paths = float(sys.argv[1]), sys.argv[2:]
    for p in paths:  # warm-up (page cache, imports)
        preprocess(p)
    n, t0 = 0, time.process_time()  # CPU seconds, as the C side measures
    while True:
        for p in paths:
            preprocess(p)
        n += len(paths)
        el = time.process_time() - t0
        if el >= seconds:
            break
    print(f"{n / el:.3f}")


main()
