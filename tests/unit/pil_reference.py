#!/usr/bin/python3
"""The reference image preprocessing with Pillow: the one copy that the tests and the benchmark use.

SEIZE's TargetPad(ratio) -> Resize(size, bicubic) -> CenterCrop(size) -> convert("RGB") ->
ToTensor -> Normalize(CLIP mean, std), with the torchvision steps written out for PIL images
(what torchvision does internally) and the tensor steps in numpy float32.

Imported by tests/unit/image_ref.py and bench/bench_preprocess_pil.py. Run as a script it checks
an output of `seize preprocess`:

usage: pil_reference.py --size S --pad-ratio R OUT.npy IMAGE...
       prints the max |diff| per image to stderr; exits 1 when one exceeds 1e-6
"""
import argparse
import sys

import numpy as np
from PIL import Image, ImageOps

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None, None]
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None, None]


def target_pad(img, ratio):
    w, h = img.size
    if max(w, h) / min(w, h) < ratio:
        return img
    s = max(w, h) / ratio
    hp = max(int((s - w) / 2), 0)
    vp = max(int((s - h) / 2), 0)
    border = (hp, vp, hp, vp)
    nb = len(img.getbands())
    fill = 0 if nb == 1 else tuple([0] * nb)
    if img.mode == "P":  # torchvision F_pil.pad keeps the palette
        palette = img.getpalette()
        out = ImageOps.expand(img, border=border, fill=fill)
        out.putpalette(palette)
        return out
    return ImageOps.expand(img, border=border, fill=fill)


def resize(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    if (nw, nh) == (w, h):
        return img
    return img.resize((nw, nh), Image.BICUBIC)


def center_crop(img, size):
    w, h = img.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def pipeline(img, ratio, size):
    """uint8 (size, size, 3): pad (ratio 0: none), resize, crop, RGB."""
    if ratio:
        img = target_pad(img, ratio)
    img = center_crop(resize(img, size), size).convert("RGB")
    a = np.asarray(img, dtype=np.uint8)
    assert a.shape == (size, size, 3)
    return a


def preprocess(path, ratio=1.25, size=224):
    """float32 (3, size, size) of an image file: the pipeline, /255, Normalize."""
    im = Image.open(path)
    im.load()
    x = pipeline(im, ratio, size).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return (x - MEAN) / STD


def main():
    ap = argparse.ArgumentParser(description="checks an output of seize preprocess against Pillow")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--pad-ratio", type=float, required=True)
    ap.add_argument("out")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    a, size, ratio = np.load(args.out), args.size, args.pad_ratio
    assert a.shape == (len(args.images), 3, size, size), a.shape
    worst = 0.0
    for i, p in enumerate(args.images):
        d = float(np.abs(a[i] - preprocess(p, ratio, size)).max())
        mode = Image.open(p).mode
        print(f"  {p.split('/')[-1]} ({mode}) size {size} pad {ratio}: max |diff| {d:.3g}",
              file=sys.stderr)
        worst = max(worst, d)
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
