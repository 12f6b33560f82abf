#!/usr/bin/python3
"""Pillow side of bench_preprocess: decode + the reference preprocessing, one process.

usage: bench_preprocess_pil.py SECONDS IMAGE...   prints "<images per second>"

The pipeline is SEIZE's: TargetPad(1.25) -> Resize(224, bicubic) -> CenterCrop(224) ->
convert("RGB") -> ToTensor -> Normalize, with the torchvision steps written out for PIL
images (what torchvision does internally) and the tensor steps in numpy float32.
"""
import sys
import time

import numpy as np
from PIL import Image, ImageOps

S, RATIO = 224, 1.25
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None, None]
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None, None]


def preprocess(path):
    im = Image.open(path)
    im.load()
    w, h = im.size
    if max(w, h) / min(w, h) >= RATIO:
        s = max(w, h) / RATIO
        hp, vp = max(int((s - w) / 2), 0), max(int((s - h) / 2), 0)
        nb = len(im.getbands())
        pal = im.getpalette() if im.mode == "P" else None
        im = ImageOps.expand(im, (hp, vp, hp, vp), 0 if nb == 1 else (0,) * nb)
        if pal is not None:
            im.putpalette(pal)
    w, h = im.size
    short, long = min(w, h), max(w, h)
    nw, nh = (S, int(S * long / short)) if w <= h else (int(S * long / short), S)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - S) / 2.0)), int(round((nw - S) / 2.0))
    im = im.crop((left, top, left + S, top + S)).convert("RGB")
    x = np.asarray(im, np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return (x - MEAN) / STD


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
