#!/usr/bin/python3
"""Independent numpy reference of the SEIZE search (ARCHITECTURE.md section 1), for the CLI tests.

  search_reference.py gen DIR --n N --dim D --queries Q [--dyadic] [--captions C]
      writes DIR/gallery.npy, names.txt, after.npy, before.npy, refs.txt
      (with --captions C also after3.npy, before3.npy of shape [Q, C, D] for LDRE)
  search_reference.py check DIR RESULTS.jsonl --pos P --neg N --k K [--exclude] [--exact]
                      [--method seize|mean|ldre] [--index DIR]
      recomputes every ranking in float64 and compares: scores to 1e-5 and rows position by
      position, allowing a different row only where the two reference scores are within 1e-6
      (float32 near-ties); with --exact (dyadic data) rankings and scores must match exactly.
"""
import argparse
import json
import sys

import numpy as np


def normalize(x):
    x = np.asarray(x, dtype=np.float64)
    n = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return x / np.maximum(n, 1e-12)


def dyadic_rows(rng, n, dim):
    out = np.zeros((n, dim), dtype=np.float32)
    for i in range(n):
        kind = rng.integers(3)
        cnt, val = [(1, 1.0), (4, 0.5), (16, 0.25)][kind]
        pos = rng.choice(dim, size=cnt, replace=False)
        out[i, pos] = np.where(rng.random(cnt) < 0.5, val, -val)
    return out


def gen(a):
    rng = np.random.default_rng(a.seed)
    if a.dyadic:
        g = dyadic_rows(rng, a.n, a.dim)
        A = dyadic_rows(rng, a.queries, a.dim)
        B = dyadic_rows(rng, a.queries, a.dim)
    else:
        g = rng.standard_normal((a.n, a.dim)).astype(np.float32)
        A = (rng.standard_normal((a.queries, a.dim)) * 3).astype(np.float32)
        B = rng.standard_normal((a.queries, a.dim)).astype(np.float32)
    np.save(f"{a.dir}/gallery.npy", g)
    np.save(f"{a.dir}/after.npy", A)
    np.save(f"{a.dir}/before.npy", B)
    names = [f"img-{i:05d}" for i in range(a.n)]
    with open(f"{a.dir}/names.txt", "w") as f:
        f.write("".join(n + "\n" for n in names))
    with open(f"{a.dir}/refs.txt", "w") as f:
        for q in range(a.queries):
            f.write(("" if q % 4 == 3 else names[rng.integers(a.n)]) + "\n")
    if a.captions:
        np.save(f"{a.dir}/after3.npy",
                rng.standard_normal((a.queries, a.captions, a.dim)).astype(np.float32) * 2)
        np.save(f"{a.dir}/before3.npy",
                rng.standard_normal((a.queries, a.captions, a.dim)).astype(np.float32))


def ldre_query(G, E, C):
    f = normalize(E)                      # [Q, N, D]
    h = normalize(C)
    D = np.einsum("qnd,gd->qng", f - h, G)  # f.g - h.g
    drops = np.maximum(-D, 0)
    top5 = -np.sort(-drops, axis=2)[:, :, :5]
    v = top5.sum(axis=(0, 2))
    if v.max() > 0:
        z = v / v.max() / 0.04
        w = np.exp(z - z.max())
        w /= w.sum()
    else:
        w = np.full(len(v), 1.0 / len(v))
    return normalize(np.einsum("n,qnd->qd", w, f))


def check(a):
    d = a.dir
    G = normalize(np.load(f"{d}/gallery.npy"))
    if a.index:
        # the index stores normalised float32 or float16 rows: check them, then rank with the
        # stored values (float16 rounding of the stored rows is not the point here)
        S = np.load(f"{a.index}/features.npy")
        tol = 1e-3 if S.dtype == np.float16 else 1e-6
        if S.shape != G.shape or np.abs(S.astype(np.float64) - G).max() > tol:
            sys.exit("the index features are not the normalised gallery")
        G = S.astype(np.float64)
    else:
        G = G.astype(np.float32).astype(np.float64)
    names = open(f"{d}/names.txt").read().split("\n")[:-1]
    row = {n: i for i, n in enumerate(names)}
    refs = open(f"{d}/refs.txt").read().split("\n")[:-1]
    if a.method == "ldre":
        Aq = ldre_query(G, np.load(f"{d}/after3.npy"), np.load(f"{d}/before3.npy"))
        Bq = Aq
        pos = neg = 0.0
    else:
        Aq = normalize(np.load(f"{d}/after.npy"))
        Bq = normalize(np.load(f"{d}/before.npy"))
        pos, neg = (0.0, 0.0) if a.method == "mean" else (a.pos, a.neg)
    res = [json.loads(l) for l in open(a.results) if l.strip()]
    if len(res) != len(Aq):
        sys.exit(f"{len(res)} result lines for {len(Aq)} queries")
    ties = 0
    for q, r in enumerate(res):
        if r["query"] != q:
            sys.exit(f"line {q}: query {r['query']}")
        sa, sb = G @ Aq[q], G @ Bq[q]
        dd = sa - sb
        s = sa + neg * np.minimum(dd, 0) + pos * np.maximum(dd, 0)
        order = np.lexsort((np.arange(len(s)), -s))  # score desc, then row asc
        ex = row[refs[q]] if a.exclude and refs[q] else None
        if ex is not None:
            order = order[order != ex]
        want = order[: a.k]
        got = [row[n] for n in r["ranking"]]
        if len(got) != len(want):
            sys.exit(f"query {q}: {len(got)} ranked, expected {len(want)}")
        if ex is not None and ex in got:
            sys.exit(f"query {q}: the excluded row {ex} is ranked")
        if len(set(got)) != len(got):
            sys.exit(f"query {q}: a row is ranked twice")
        for j, (g_, w_) in enumerate(zip(got, want)):
            sc = r["scores"][j]
            if a.exact:
                if g_ != w_ or sc != s[w_]:
                    sys.exit(f"query {q} pos {j}: row {g_} ({sc}) vs reference {w_} ({s[w_]})")
                if j and s[want[j - 1]] == s[w_]:
                    ties += 1
                continue
            if abs(sc - s[w_]) > 1e-5 or abs(s[g_] - sc) > 1e-5:
                sys.exit(f"query {q} pos {j}: score {sc} vs reference {s[w_]}")
            if g_ != w_ and abs(s[g_] - s[w_]) > 1e-6:
                sys.exit(f"query {q} pos {j}: row {g_} vs reference {w_} (not a near tie)")
    if a.exact and a.min_ties and ties < a.min_ties:
        sys.exit(f"only {ties} exact ties: the data does not exercise the tie rule")
    print(f"ok: {len(res)} queries match the reference ({ties} exact ties)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("dir")
    g.add_argument("--n", type=int, default=500)
    g.add_argument("--dim", type=int, default=24)
    g.add_argument("--queries", type=int, default=9)
    g.add_argument("--captions", type=int, default=0)
    g.add_argument("--dyadic", action="store_true")
    g.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("results")
    c.add_argument("--pos", type=float, default=0.13)
    c.add_argument("--neg", type=float, default=2.1)
    c.add_argument("--k", type=int, default=50)
    c.add_argument("--method", default="seize")
    c.add_argument("--exclude", action="store_true")
    c.add_argument("--exact", action="store_true")
    c.add_argument("--min-ties", type=int, default=0)
    c.add_argument("--index", help="index folder whose stored features to rank with")
    a = p.parse_args()
    gen(a) if a.cmd == "gen" else check(a)


if __name__ == "__main__":
    main()
