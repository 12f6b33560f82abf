/*
 * src/nn/cpu_attend.h — the CPU kernel of the backend's general `attend` op (private to src/nn).
 *
 *     // in backend_cpu.c, the op of the table:
 *     nn_cpu_attend(c->pool, c->scratch, c->per_thread, n_seq, Tq, Tk, n_head, d_head, q, ldq,
 *                   k, k_seq, ldk, v, v_seq, ldv, causal_offset, out, ldo);
 *
 * Semantics are the op's (src/nn/backend.h, `attend`): for sequence s, query row t (of Tq) at
 * q + (s·Tq + t)·ldq, key row j (of Tk) at k + s·k_seq + j·ldk, value row j at
 * v + s·v_seq + j·ldv (k_seq = v_seq = 0: one key/value set shared by every sequence); each
 * row holds n_head heads of d_head side by side; out row (s, t) at out + (s·Tq + t)·ldo gets
 * the heads side by side, and nothing else of out is written. Scale 1/sqrt(d_head), softmax in
 * float32 with the row maximum subtracted. causal_offset ≥ 0: query t sees keys
 * j ≤ t + causal_offset (clipped to Tk); < 0: every key. Tk ≥ 1.
 *
 * Work items are (sequence, head) pairs run on `pool` (each pool thread uses its own slice of
 * scratch: thread i owns scratch + i·scratch_per_thread); queries go through in blocks (a single
 * query reads keys and values in place), so the scratch of one thread is at most
 * nn_cpu_attend_scratch(Tq, Tk, d_head) floats (asserted). The CPU backend's attention scratch
 * reserved for max_T tokens and max_d_head (any heads) is always enough when Tq, Tk ≤ max_T.
 * q, k, v are only read; they may overlap each other but not out.
 */
#ifndef SEIZE_NN_CPU_ATTEND_H
#define SEIZE_NN_CPU_ATTEND_H

#include <stddef.h>

#include "seize/core.h"

/* Floats of scratch one thread needs for an `attend` of Tq queries against Tk keys of d_head. */
size_t nn_cpu_attend_scratch(size_t Tq, size_t Tk, size_t d_head);

/* The op (see above). */
void nn_cpu_attend(seize_pool *pool, float *scratch, size_t scratch_per_thread, size_t n_seq,
                   size_t Tq, size_t Tk, int n_head, int d_head, const float *q, size_t ldq,
                   const float *k, size_t k_seq, size_t ldk, const float *v, size_t v_seq,
                   size_t ldv, long causal_offset, float *out, size_t ldo);

#endif
