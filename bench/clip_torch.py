#!/usr/bin/env python3
"""The reference CLIP of bench_clip, restated in plain PyTorch (Debian's python3-torch).

open_clip is not packaged in Debian, so its VisionTransformer and TextTransformer are restated
here: pre-LN residual blocks with a fused q/k/v input projection (nn.MultiheadAttention's
in_proj_weight/in_proj_bias), QuickGELU or erf-GELU MLPs, a class token, ln_pre/ln_post and the
visual projection; the text tower with a causal mask, ln_final, pooling at the end-of-text token
(the first maximum of the ids) and text_projection. It loads the open_clip layout that bench_clip
writes (open_clip_model.safetensors + open_clip_config.json).

Usage: clip_torch.py DIR [RUNS]
DIR holds the model, pixels.npy (n, 3, S, S) float32, ids.npy (m, context) int32 and seize's fp32
embeddings seize_fp32_img.npy / seize_fp32_txt.npy. The script
  1. encodes the same inputs (texts in batches of 32, each trimmed to its longest end-of-text,
     as seize does) and prints the cosine with seize's embeddings (min over rows);
  2. times its own forward passes (torch.set_num_threads(SEIZE_BENCH_THREADS or 2),
     inference_mode; best of RUNS);
  3. exports both towers to DIR/image.onnx and DIR/text.onnx (dynamic batch; the text tower also
     with a dynamic length).
Results go to stdout as "key value" lines; progress and errors to stderr.
"""
import json
import math
import os
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TEXT_BATCH = 32


def load_safetensors(path):
    """{name: float32 tensor} of a safetensors file (F32, F16 or BF16)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif t["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {t['dtype']}")
        out[name] = torch.from_numpy(arr.copy().reshape(t["shape"]))
    return out


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    """nn.MultiheadAttention's math with its fused input projection, written out."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, mask=None):  # x (B, L, d)
        B, L, d = x.shape
        h = self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q = q.reshape(B, L, h, d // h).transpose(1, 2)  # (B, h, L, dh)
        k = k.reshape(B, L, h, d // h).transpose(1, 2)
        v = v.reshape(B, L, h, d // h).transpose(1, 2)
        a = torch.matmul(q * (d // h) ** -0.5, k.transpose(-1, -2))  # (B, h, L, L)
        if mask is not None:
            a = a + mask
        o = torch.matmul(a.softmax(dim=-1), v)  # (B, h, L, dh)
        return self.out_proj(o.transpose(1, 2).reshape(B, L, d))


class Mlp(nn.Module):
    def __init__(self, d, mlp, act):
        super().__init__()
        self.c_fc = nn.Linear(d, mlp)
        self.gelu = act
        self.c_proj = nn.Linear(mlp, d)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    """open_clip's ResidualAttentionBlock (pre-LN)."""

    def __init__(self, d, heads, mlp, act, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = Mlp(d, mlp, act)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, mlp, act, eps):
        super().__init__()
        self.resblocks = nn.ModuleList(Block(d, heads, mlp, act, eps) for _ in range(layers))

    def forward(self, x, mask=None):
        for b in self.resblocks:
            x = b(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, c, embed_dim, act, eps):
        super().__init__()
        d, p, s = c["width"], c["patch_size"], c["image_size"]
        grid = s // p
        self.conv1 = nn.Conv2d(3, d, kernel_size=p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(d))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, d))
        self.ln_pre = nn.LayerNorm(d, eps=eps)
        heads = d // c.get("head_width", 64)
        mlp = int(d * c.get("mlp_ratio", 4.0))
        self.transformer = Transformer(d, c["layers"], heads, mlp, act, eps)
        self.ln_post = nn.LayerNorm(d, eps=eps)
        self.proj = nn.Parameter(torch.empty(d, embed_dim))

    def forward(self, x):  # x (B, 3, S, S)
        x = self.conv1(x).flatten(2).transpose(1, 2)  # (B, grid², d)
        cls = self.class_embedding.reshape(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj  # (B, embed)


class TextTransformer(nn.Module):
    def __init__(self, c, embed_dim, act, eps):
        super().__init__()
        d, ctx = c["width"], c["context_length"]
        self.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.positional_embedding = nn.Parameter(torch.empty(ctx, d))
        mlp = int(d * c.get("mlp_ratio", 4.0))
        self.transformer = Transformer(d, c["layers"], c["heads"], mlp, act, eps)
        self.ln_final = nn.LayerNorm(d, eps=eps)
        self.text_projection = nn.Parameter(torch.empty(d, embed_dim))
        self.register_buffer("attn_mask", torch.full((ctx, ctx), float("-inf")).triu(1), False)

    def forward(self, ids):  # ids (B, L) int64, L ≤ context
        L = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:L]
        x = self.ln_final(self.transformer(x, self.attn_mask[:L, :L]))
        eot = ids.argmax(dim=-1)  # the end-of-text token has the largest id
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection  # (B, embed)


def build(model_dir):
    """(vision, text, config) with the weights of model_dir loaded strictly."""
    cfg = json.load(open(os.path.join(model_dir, "open_clip_config.json")))["model_cfg"]
    act = QuickGELU() if cfg.get("quick_gelu", False) else nn.GELU()
    vc = dict(cfg["vision_cfg"])
    tc = dict(cfg["text_cfg"])
    vis = VisionTransformer(vc, cfg["embed_dim"], act, 1e-5)
    txt = TextTransformer(tc, cfg["embed_dim"], act, 1e-5)
    sd = load_safetensors(os.path.join(model_dir, "open_clip_model.safetensors"))
    vsd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    tsd = {k: v for k, v in sd.items() if not k.startswith("visual.") and k != "logit_scale"}
    vis.load_state_dict(vsd, strict=True)
    txt.load_state_dict(tsd, strict=True)
    return vis.eval(), txt.eval(), cfg


def text_batches(ids):
    """Batches of TEXT_BATCH rows, each trimmed to its longest end-of-text (as ONNX Runtime's)."""
    out = []
    for i in range(0, ids.shape[0], TEXT_BATCH):
        b = ids[i : i + TEXT_BATCH]
        n = int(b.argmax(axis=1).max()) + 1
        out.append(torch.from_numpy(np.ascontiguousarray(b[:, :n]).astype(np.int64)))
    return out


def min_cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def best_time(fn, runs):
    best = math.inf
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def export(vis, txt, d, pixels, batches):
    """Both towers to ONNX (opset 17, else 14): dynamic batch, and dynamic length for texts."""
    for opset in (17, 14):
        try:
            torch.onnx.export(vis, (pixels[:2],), os.path.join(d, "image.onnx"),
                              input_names=["pixels"], output_names=["embeddings"],
                              dynamic_axes={"pixels": {0: "batch"}, "embeddings": {0: "batch"}},
                              opset_version=opset)
            torch.onnx.export(txt, (batches[0][:2],), os.path.join(d, "text.onnx"),
                              input_names=["ids"], output_names=["embeddings"],
                              dynamic_axes={"ids": {0: "batch", 1: "length"},
                                            "embeddings": {0: "batch"}},
                              opset_version=opset)
            return opset
        except Exception as e:  # an older torch without this opset: the next one
            print(f"clip_torch: ONNX export at opset {opset} failed: {e}", file=sys.stderr)
    return 0


def main():
    d = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(int(os.environ.get("SEIZE_BENCH_THREADS") or 2))
    vis, txt, _ = build(d)
    pixels = torch.from_numpy(np.load(os.path.join(d, "pixels.npy")))
    ids = np.load(os.path.join(d, "ids.npy"))
    batches = text_batches(ids)
    with torch.inference_mode():
        img = vis(pixels).numpy()
        tf = torch.cat([txt(b) for b in batches]).numpy()
        print(f"torch_version {torch.__version__.split('+')[0].replace(' ', '_')}")
        print(f"torch_cos_img {min_cos(img, np.load(os.path.join(d, 'seize_fp32_img.npy'))):.7f}")
        print(f"torch_cos_txt {min_cos(tf, np.load(os.path.join(d, 'seize_fp32_txt.npy'))):.7f}")
        sys.stdout.flush()
        t = best_time(lambda: vis(pixels), runs)
        print(f"torch_img_n {pixels.shape[0]}\ntorch_img_s {t:.6f}")
        t = best_time(lambda: [txt(b) for b in batches], runs)
        print(f"torch_txt_n {ids.shape[0]}\ntorch_txt_s {t:.6f}")
        sys.stdout.flush()
    warnings.filterwarnings("ignore")  # the exporter's notes on aten::index and the like
    with torch.no_grad():
        t0 = time.perf_counter()
        opset = export(vis, txt, d, pixels, batches)
        print(f"onnx_opset {opset}\nonnx_export_s {time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    main()
