// A small fixed thread pool running parallel-for loops; the caller takes part.
#include "seize/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct seize_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    // current loop
    seize_pool_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
    int generation, quit;
    int started; // a loop was started and not yet waited for
    int active;  // workers inside the current loop (they joined it; see worker)
};

static void run_items(seize_pool *p, int thread)
{
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n) break;
        p->fn(p->ctx, i, thread);
    }
}

typedef struct {
    seize_pool *p;
    int id, idle;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    seize_pool *p = wa->p;
    int id = wa->id, idle = wa->idle;
    free(wa);
#ifdef SCHED_IDLE
    if (idle) {
        struct sched_param sp = {0};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp); // best effort
    }
#else
    (void)idle;
#endif
    // A worker joins a loop only while it is running (`started`): the caller waits for the
    // workers that joined, never for one that has not woken up yet (a SCHED_IDLE worker on a
    // busy machine may not run for a long time; the caller then finishes the items alone).
    int seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && (p->generation == seen || !p->started))
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        p->active++;
        pthread_mutex_unlock(&p->mu);
        run_items(p, id);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int seize_pool_new(int n_threads, seize_pool **out)
{
    return seize_pool_new_ex(n_threads, 0, out);
}

int seize_pool_new_ex(int n_threads, int flags, seize_pool **out)
{
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    seize_pool *p = calloc(1, sizeof *p);
    if (!p) return seize_error(SEIZE_ENOMEM, "out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p; // set before the thread starts: it reads them at once
            wa->id = i;
            wa->idle = !!(flags & SEIZE_POOL_IDLE);
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n_threads = i;
            seize_pool_free(p);
            return seize_error(SEIZE_ENOMEM, "cannot start thread %d", i);
        }
    }
    *out = p;
    return 0;
}

void seize_pool_free(seize_pool *p)
{
    if (!p) return;
    seize_pool_wait(p); // a started loop finishes first
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int seize_pool_threads(const seize_pool *p)
{
    return p ? p->n_threads : 1;
}

void seize_pool_start(seize_pool *p, size_t n, seize_pool_fn fn, void *ctx)
{
    SEIZE_ASSERT(p && !p->started);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    p->started = 1;
    if (p->n_threads > 1) {
        p->generation++;
        pthread_cond_broadcast(&p->start);
    }
    pthread_mutex_unlock(&p->mu);
}

void seize_pool_wait(seize_pool *p)
{
    if (!p || !p->started) return;
    run_items(p, 0); // returns once every item is taken; those still running are the workers'
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->started = 0;
    pthread_mutex_unlock(&p->mu);
}

void seize_pool_for(seize_pool *p, size_t n, seize_pool_fn fn, void *ctx)
{
    if (!p || p->n_threads == 1 || n <= 1) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    seize_pool_start(p, n, fn, ctx);
    seize_pool_wait(p);
}

int seize_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
