/*
 * src/nn/cpu_attend.h — the CPU kernels of the backend's two attention ops, CLIP's fused
 * `attention` and the general `attend` (private to src/nn). Both run the same per-head
 * kernels (scores, softmax, P·V) of cpu_attend.c over their own packing of the operands.
 *
 *     // in backend_cpu.c, the ops of the table (scratch sized by reserve, see below):
 *     nn_cpu_attention(c->pool, c->scratch, c->per_thread, n_seq, T, n_head, d_head, qkv,
 *                      q_b, k_b, v_b, causal, q_rows, out);
 *     nn_cpu_attend(c->pool, c->scratch, c->per_thread, n_seq, Tq, Tk, n_head, d_head, q, ldq,
 *                   k, k_seq, ldk, v, v_seq, ldv, causal_offset, out, ldo);
 *
 * Semantics are the ops' (src/nn/backend.h, `attention` and `attend`): scale 1/sqrt(d_head),
 * softmax in float32 with the row maximum subtracted.
 *
 * Scratch: both run work items on `pool`; pool thread i uses scratch + i·scratch_per_thread
 * only, and each op asserts its per-thread need fits. reserve(max_T, max_dh, max_heads) sizes
 * scratch_per_thread = nn_cpu_attention_scratch(max_T, max_dh, max_heads), which is enough for
 * `attention` with T ≤ max_T, d_head ≤ max_dh, n_head ≤ max_heads, and for `attend` with
 * Tq, Tk ≤ max_T, d_head ≤ max_dh and any heads (nn_cpu_attend_scratch is at most
 * nn_cpu_attention_scratch(max(Tq, Tk), d_head, 1)).
 */
#ifndef SEIZE_NN_CPU_ATTEND_H
#define SEIZE_NN_CPU_ATTEND_H

#include <stddef.h>

#include "seize/core.h"

/* Floats of scratch one thread needs for an `attention` of T tokens, n_head heads of d_head
 * (the op groups heads per work item; a group is never more than n_head heads). */
size_t nn_cpu_attention_scratch(size_t T, size_t d_head, size_t n_head);

/* Floats of scratch one thread needs for an `attend` of Tq queries against Tk keys of d_head
 * (one head per work item, queries in blocks). */
size_t nn_cpu_attend_scratch(size_t Tq, size_t Tk, size_t d_head);

/* CLIP's fused self-attention (backend.h `attention`; q_b, k_b, v_b: d floats each). Work
 * items are (sequence, group of heads), about two per pool thread when sequences are few.
 * qkv is only read. */
void nn_cpu_attention(seize_pool *pool, float *scratch, size_t scratch_per_thread, size_t n_seq,
                      size_t T, int n_head, int d_head, const float *qkv, const float *q_b,
                      const float *k_b, const float *v_b, int causal, const size_t *q_rows,
                      float *out);

/* General attention (backend.h `attend`): for sequence s, query row t (of Tq) at
 * q + (s·Tq + t)·ldq, key row j (of Tk) at k + s·k_seq + j·ldk, value row j at
 * v + s·v_seq + j·ldv (k_seq = v_seq = 0: one key/value set shared by every sequence); out
 * row (s, t) at out + (s·Tq + t)·ldo gets the heads side by side, and nothing else of out is
 * written. causal_offset ≥ 0: query t sees keys j ≤ t + causal_offset (clipped to Tk); < 0:
 * every key. Tk ≥ 1. Work items are (sequence, head) pairs; a single query (Tq = 1) reads keys
 * and values in place. q, k, v are only read; they may overlap each other but not out. */
void nn_cpu_attend(seize_pool *pool, float *scratch, size_t scratch_per_thread, size_t n_seq,
                   size_t Tq, size_t Tk, int n_head, int d_head, const float *q, size_t ldq,
                   const float *k, size_t k_seq, size_t ldk, const float *v, size_t v_seq,
                   size_t ldv, long causal_offset, float *out, size_t ldo);

#endif
