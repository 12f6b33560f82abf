// Cancellation tokens (see core.h): lock-free atomics only, so that signal handlers may request.
#include "seize/core.h"

_Static_assert(__atomic_always_lock_free(sizeof(int), 0), "int atomics must be lock-free");

int seize_cancel_request(seize_cancel *c, int sig)
{
    int old = __atomic_load_n(&c->level, __ATOMIC_SEQ_CST);
    while (old < 2 && !__atomic_compare_exchange_n(&c->level, &old, old + 1, 0, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST)) {
    }
    if (old == 0) {
        int none = 0;
        __atomic_compare_exchange_n(&c->signal, &none, sig, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    return old < 2 ? old + 1 : 2;
}

void seize_cancel_abort(seize_cancel *c, int sig)
{
    int none = 0;
    __atomic_compare_exchange_n(&c->signal, &none, sig, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    __atomic_store_n(&c->level, 2, __ATOMIC_SEQ_CST);
}

int seize_cancel_level(const seize_cancel *c)
{
    return c ? __atomic_load_n(&c->level, __ATOMIC_SEQ_CST) : 0;
}

int seize_cancel_signal(const seize_cancel *c)
{
    return c ? __atomic_load_n(&c->signal, __ATOMIC_SEQ_CST) : 0;
}

int seize_cancel_check(const seize_cancel *c)
{
    return seize_cancel_level(c) ? seize_error(SEIZE_ECANCEL, "interrupted") : 0;
}

void seize_cancel_reset(seize_cancel *c)
{
    __atomic_store_n(&c->signal, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&c->level, 0, __ATOMIC_SEQ_CST);
}
