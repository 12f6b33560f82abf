#!/usr/bin/python3
"""Reference data for tests/unit/test_image.c, made with Pillow in the same test run.

usage: image_ref.py OUTDIR

Writes test images of every mode the decoder supports (PNG written byte by byte so that every
colour type, bit depth, tRNS and Adam7 interlacing is covered; JPEGs through Pillow) and, for
each, what Pillow 9.4 + the torchvision transforms give, into OUTDIR/list.txt:

  D <image> <mode> <decoded.bin>            Pillow's decoded pixels (np.asarray; mode 1 as 0/255)
  P <image> <pad_ratio> <size> <ref.bin>     uint8 (size, size, 3) after pad/resize/crop/RGB
  E <image> <message>                        Pillow refuses the file
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240601)
lines = []


# the reference pipeline (SEIZE's TargetPad + open_clip's transforms): one copy, shared
from pil_reference import pipeline  # noqa: E402  (tests/unit is this script's folder)


# --- a PNG writer with full control over the format ---

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def pack_rows(samples, depth):
    """samples: (h, w*spp) ints -> list of packed row bytes."""
    rows = []
    for r in samples:
        if depth == 16:
            rows.append(np.asarray(r, ">u2").tobytes())
        elif depth == 8:
            rows.append(np.asarray(r, np.uint8).tobytes())
        else:
            per = 8 // depth
            n = (len(r) + per - 1) // per
            b = bytearray(n)
            for i, v in enumerate(r):
                b[i // per] |= int(v) << (8 - depth * (i % per + 1))
            rows.append(bytes(b))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, pix, color, depth, palette=None, trns=None, interlace=False):
    """pix: (h, w, spp) array of samples."""
    h, w, spp = pix.shape
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = pix[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in pack_rows(sub.reshape(sub.shape[0], -1), depth):
                raw += b"\0" + row
    else:
        for i, row in enumerate(pack_rows(pix.reshape(h, -1), depth)):
            if i % 2 and depth >= 8:  # some rows with the Sub filter, to exercise unfiltering
                bpp = spp * depth // 8
                a = np.frombuffer(row, np.uint8).astype(np.int32)
                f = a.copy()
                f[bpp:] = (a[bpp:] - a[:-bpp]) & 255
                raw += b"\1" + f.astype(np.uint8).tobytes()
            else:
                raw += b"\0" + row
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw, 6))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def content(h, w, spp, maxv):
    """Mixed test content: smooth gradients, sharp edges and noise (to exercise rounding)."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, spp), np.float64)
    for c in range(spp):
        g = (xx * (c + 1) * 7 + yy * (3 - c % 3) * 5) % 256
        edge = ((xx // max(1, w // 7) + yy // max(1, h // 5)) % 2) * 200
        noise = rng.integers(0, 256, (h, w))
        pick = rng.integers(0, 3, (h, w))
        out[:, :, c] = np.where(pick == 0, g, np.where(pick == 1, edge, noise))
    return np.clip(np.round(out / 255.0 * maxv), 0, maxv).astype(np.int64)


def alpha_content(h, w, maxv):
    a = content(h, w, 1, maxv)[:, :, 0]
    a[: h // 3] = maxv  # some opaque, some transparent regions
    a[h // 3: h // 3 + max(1, h // 6)] = 0
    return a


SIZES = [(10, 10), (1, 1), (1, 37), (53, 1), (224, 224), (224, 301), (301, 224), (225, 400),
         (333, 257), (640, 480), (480, 640), (500, 120), (97, 703), (3, 700), (700, 3),
         (257, 223), (223, 223), (17, 29), (1024, 683)]
CONFIGS = [(1.25, 224), (0, 224)]

images = []  # (path, configs)


def add(path, configs=CONFIGS):
    images.append((path, configs))


k = 0
for (w, h) in SIZES:
    k += 1
    # One PNG per size, cycling through colour types / bit depths / interlacing.
    variant = k % 12
    p = os.path.join(OUT, f"png{k:02d}_{w}x{h}_v{variant}.png")
    il = k % 3 == 0
    if variant == 0:
        write_png(p, content(h, w, 3, 255), 2, 8, interlace=il)
    elif variant == 1:
        write_png(p, content(h, w, 1, 255), 0, 8, interlace=il)
    elif variant == 2:
        pix = np.dstack([content(h, w, 3, 255), alpha_content(h, w, 255)])
        write_png(p, pix, 6, 8, interlace=il)
    elif variant == 3:
        pix = np.dstack([content(h, w, 1, 255), alpha_content(h, w, 255)])
        write_png(p, pix, 4, 8, interlace=il)
    elif variant == 4:
        n = 200  # fewer than 256 entries: indices past the PLTE use Pillow's grey ramp
        pal = rng.integers(0, 256, (n, 3))
        write_png(p, rng.integers(0, 256, (h, w, 1)), 3, 8, palette=pal, interlace=il,
                  trns=bytes([0] + [255] * 9))
    elif variant == 5:
        write_png(p, rng.integers(0, 2, (h, w, 1)), 0, 1, interlace=il)
    elif variant == 6:
        write_png(p, content(h, w, 1, 65535), 0, 16, interlace=il)
    elif variant == 7:
        write_png(p, content(h, w, 3, 65535), 2, 16, interlace=il, trns=struct.pack(">HHH", 1, 2, 3))
    elif variant == 8:
        pix = np.dstack([content(h, w, 3, 65535), alpha_content(h, w, 65535)])
        write_png(p, pix, 6, 16, interlace=il)
    elif variant == 9:
        pix = np.dstack([content(h, w, 1, 65535), alpha_content(h, w, 65535)])
        write_png(p, pix, 4, 16, interlace=il)
    elif variant == 10:
        depth = [1, 2, 4][k % 3]
        pal = rng.integers(0, 256, (1 << depth, 3))
        write_png(p, rng.integers(0, 1 << depth, (h, w, 1)), 3, depth, palette=pal, interlace=il,
                  trns=bytes(rng.integers(0, 256, 1 << depth).astype(np.uint8)))
    else:
        depth = [2, 4][k % 2]
        write_png(p, content(h, w, 1, (1 << depth) - 1), 0, depth, interlace=il)
    add(p)

# Every PNG variant at one mid size too, interlaced and not, with a smaller crop size.
for variant_il in range(24):
    w, h = 150 + variant_il * 7, 90 + variant_il * 11
    p = os.path.join(OUT, f"pngv{variant_il:02d}.png")
    il = variant_il >= 12
    v = variant_il % 12
    if v == 0:
        write_png(p, content(h, w, 3, 255), 2, 8, interlace=il)
    elif v == 1:
        write_png(p, content(h, w, 1, 255), 0, 8, interlace=il, trns=struct.pack(">H", 7))
    elif v == 2:
        write_png(p, np.dstack([content(h, w, 3, 255), alpha_content(h, w, 255)]), 6, 8, interlace=il)
    elif v == 3:
        write_png(p, np.dstack([content(h, w, 1, 255), alpha_content(h, w, 255)]), 4, 8, interlace=il)
    elif v == 4:
        pal = rng.integers(0, 256, (256, 3))
        write_png(p, rng.integers(0, 256, (h, w, 1)), 3, 8, palette=pal, interlace=il)
    elif v == 5:
        write_png(p, rng.integers(0, 2, (h, w, 1)), 0, 1, interlace=il)
    elif v == 6:
        write_png(p, content(h, w, 1, 300), 0, 16, interlace=il)  # mostly < 256: I clips
    elif v == 7:
        write_png(p, content(h, w, 3, 65535), 2, 16, interlace=il)
    elif v == 8:
        write_png(p, np.dstack([content(h, w, 3, 65535), alpha_content(h, w, 65535)]), 6, 16, interlace=il)
    elif v == 9:
        write_png(p, np.dstack([content(h, w, 1, 65535), alpha_content(h, w, 65535)]), 4, 16, interlace=il)
    elif v == 10:
        pal = rng.integers(0, 256, (16, 3))
        write_png(p, rng.integers(0, 16, (h, w, 1)), 3, 4, palette=pal, interlace=il)
    else:
        write_png(p, content(h, w, 1, 3), 0, 2, interlace=il)
    add(p, [(1.25, 224), (0, 224), (1.25, 61), (0, 100)])

# JPEGs through Pillow's encoder (libjpeg-turbo): baseline, progressive, subsamplings,
# grayscale, CMYK (written with Adobe's inverted convention).
JSIZES = [(640, 480), (481, 641), (10, 10), (1000, 199), (223, 225), (1, 300), (401, 401)]
for i, (w, h) in enumerate(JSIZES):
    base = np.clip(content(h, w, 3, 255), 0, 255).astype(np.uint8)
    im = Image.fromarray(base, "RGB")
    for j, (mode, kw) in enumerate([
        ("RGB", dict(quality=90)),
        ("RGB", dict(quality=75, progressive=True)),
        ("RGB", dict(quality=95, subsampling=0)),
        ("RGB", dict(quality=60, subsampling=1)),
        ("L", dict(quality=85)),
        ("L", dict(quality=80, progressive=True)),
        ("CMYK", dict(quality=90)),
    ]):
        if (i + j) % 2 and (w, h) != (10, 10):
            continue  # a spread of combinations is enough
        p = os.path.join(OUT, f"jpg{i}{j}_{w}x{h}_{mode}.jpg")
        im.convert(mode).save(p, "JPEG", **kw)
        add(p)

# Random sizes (photos come in every shape), RGB and L, JPEG and PNG, and a larger crop size.
for i in range(10):
    w, h = (int(v) for v in rng.integers(20, 1400, 2))
    if i % 3 == 0:
        w = max(2, w // 6)  # some elongated ones
    base = np.clip(content(h, w, 3, 255), 0, 255).astype(np.uint8)
    im = Image.fromarray(base, "RGB")
    if i % 4 == 3:
        im = im.convert("L")
    ext = "png" if i % 2 else "jpg"
    p = os.path.join(OUT, f"rand{i}_{w}x{h}.{ext}")
    im.save(p, quality=int(rng.integers(50, 98))) if ext == "jpg" else im.save(p)
    add(p, [(1.25, 224), (0, 224), (1.25, 336)])

# Broken files: Pillow's verdict decides (refused files must be refused by seize too).
good = os.path.join(OUT, "jpg00_640x480_RGB.jpg")
data = open(good, "rb").read()
for name, blob in [("cut_half.jpg", data[: len(data) // 2]),
                   ("cut_eoi.jpg", data[:-2]),
                   ("cut_header.jpg", data[:200])]:
    p = os.path.join(OUT, name)
    open(p, "wb").write(blob)
    add(p)
buf = io.BytesIO()
Image.open(good).save(buf, "JPEG", quality=80, progressive=True)
pdata = buf.getvalue()
p = os.path.join(OUT, "cut_progressive.jpg")
open(p, "wb").write(pdata[: len(pdata) * 2 // 3])
add(p)
pngdata = open(os.path.join(OUT, "pngv00.png"), "rb").read()
p = os.path.join(OUT, "cut.png")
open(p, "wb").write(pngdata[: len(pngdata) // 2])
add(p)

for path, configs in images:
    try:
        im = Image.open(path)
        im.load()
    except Exception as e:  # noqa: BLE001 - any refusal counts
        lines.append(f"E {path} {type(e).__name__}: {str(e).replace(chr(10), ' ')}")
        continue
    dec = np.asarray(im.convert("L") if im.mode == "1" else im)
    if dec.dtype != np.uint8:
        dec = dec.astype("<i4")
    dpath = path + ".dec"
    open(dpath, "wb").write(np.ascontiguousarray(dec).tobytes())
    lines.append(f"D {path} {im.mode} {dpath}")
    for ratio, size in configs:
        ref = pipeline(im, ratio, size)
        rpath = f"{path}.{ratio}.{size}.ref"
        open(rpath, "wb").write(ref.tobytes())
        lines.append(f"P {path} {ratio} {size} {rpath}")

with open(os.path.join(OUT, "list.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
