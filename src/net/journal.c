// An append-only JSON Lines journal with group commit (write + fdatasync) and crash replay.
//
// Lines are buffered by seize_journal_add and made durable by a sync: either in the caller's
// thread (seize_journal_sync) or by a background committer (seize_journal_start) that syncs
// whatever has accumulated while the previous fdatasync ran, so a slow disk never stalls the
// thread that adds lines. Callers learn what is durable through sequence numbers.
#include "seize/net.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seize_journal {
    int fd;
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf; // lines added but not yet taken by a sync
    size_t len, cap;
    uint64_t added, synced; // lines
    int err;                // first write/sync failure (sticky)
    char errmsg[512];
    int syncing; // a sync is writing outside the lock
    int async, stop;
    pthread_t thread;
    void (*notify)(void *);
    void *notify_ctx;
};

int seize_journal_open(const char *path, void (*replay)(void *ctx, json_t *line), void *ctx,
                       seize_journal **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return seize_error(SEIZE_EIO, "cannot open journal '%s': %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0;
    int rc = seize_read_file(path, &data, &len);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    // Replay complete lines; `good` ends after the last line that parsed.
    size_t i = 0, good = 0;
    while (i < len) {
        char *nl = memchr(data + i, '\n', len - i);
        if (!nl) break; // torn last line: no newline, dropped
        size_t j = (size_t)(nl - data);
        json_t *v = json_loadb(data + i, j - i, 0, NULL);
        if (v) {
            if (replay) replay(ctx, v);
            json_decref(v);
            good = j + 1;
        } else if (j - i == 0 || j + 1 < len) {
            good = j + 1; // blank or corrupt line in the middle: skip it, keep what follows
        }
        i = j + 1;
    }
    free(data);
    if (good < len && ftruncate(fd, (off_t)good) < 0) {
        int e = errno;
        close(fd);
        return seize_error(SEIZE_EIO, "cannot truncate journal '%s': %s", path, strerror(e));
    }
    if (lseek(fd, 0, SEEK_END) < 0) {
        int e = errno;
        close(fd);
        return seize_error(SEIZE_EIO, "cannot seek journal '%s': %s", path, strerror(e));
    }
    seize_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = seize_strdup(path))) {
        free(j);
        close(fd);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    j->fd = fd;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    *out = j;
    return 0;
}

int seize_journal_add(seize_journal *j, const json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s) return seize_error(SEIZE_ENOMEM, "cannot encode a journal line");
    size_t n = strlen(s);
    pthread_mutex_lock(&j->mu);
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            pthread_mutex_unlock(&j->mu);
            free(s);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->buf[j->len + n] = '\n';
    j->len += n + 1;
    j->added++;
    if (j->async) pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(s);
    return 0;
}

// Takes the buffered lines, writes and fdatasyncs them outside the lock. Called with j->mu held
// and !j->syncing; returns with it held.
static void sync_locked(seize_journal *j)
{
    char *buf = j->buf;
    size_t len = j->len;
    uint64_t upto = j->added;
    j->buf = NULL;
    j->len = j->cap = 0;
    j->syncing = 1;
    pthread_mutex_unlock(&j->mu);
    int err = 0;
    char msg[512] = "";
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(j->fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            err = errno;
            snprintf(msg, sizeof msg, "cannot write journal '%s': %s", j->path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!err && len && fdatasync(j->fd) < 0) {
        err = errno;
        snprintf(msg, sizeof msg, "cannot sync journal '%s': %s", j->path, strerror(errno));
    }
    pthread_mutex_lock(&j->mu);
    j->syncing = 0;
    if (err && !j->err) {
        j->err = err;
        memcpy(j->errmsg, msg, sizeof msg);
    }
    if (!err) j->synced = upto;
    // Keep the larger buffer for reuse.
    if (!j->buf && buf) {
        j->buf = buf;
        j->cap = len;
        j->len = 0;
        buf = NULL;
    }
    free(buf);
    pthread_cond_broadcast(&j->cv);
}

static int error_locked(seize_journal *j)
{
    return j->err ? seize_error(SEIZE_EIO, "%s", j->errmsg) : 0;
}

int seize_journal_sync(seize_journal *j)
{
    pthread_mutex_lock(&j->mu);
    while (j->syncing)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->len && !j->err) sync_locked(j);
    int rc = error_locked(j);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static void *committer(void *arg)
{
    seize_journal *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->stop && (!j->len || j->err))
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->len && !j->err) {
            sync_locked(j);
            if (j->notify) {
                void (*fn)(void *) = j->notify;
                void *ctx = j->notify_ctx;
                pthread_mutex_unlock(&j->mu);
                fn(ctx);
                pthread_mutex_lock(&j->mu);
            }
            continue;
        }
        if (j->stop) break;
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int seize_journal_start(seize_journal *j, void (*notify)(void *ctx), void *ctx)
{
    if (j->async) return 0;
    j->notify = notify;
    j->notify_ctx = ctx;
    j->async = 1;
    j->stop = 0;
    // Its own thread rather than seize_pool (the library's one pool is for parallel loops): the
    // committer is one long-lived consumer that blocks in fdatasync while the event loop runs.
    if (pthread_create(&j->thread, NULL, committer, j) != 0) {
        j->async = 0;
        return seize_error(SEIZE_EIO, "cannot start the journal thread");
    }
    return 0;
}

uint64_t seize_journal_lines(seize_journal *j, uint64_t *synced, int *failed)
{
    pthread_mutex_lock(&j->mu);
    uint64_t a = j->added;
    if (synced) *synced = j->synced;
    if (failed) *failed = j->err != 0;
    pthread_mutex_unlock(&j->mu);
    return a;
}

int seize_journal_stop(seize_journal *j)
{
    if (!j) return 0;
    if (j->async) {
        pthread_mutex_lock(&j->mu);
        j->stop = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->thread, NULL); // the committer drains what is buffered first
        j->async = 0;
    }
    return seize_journal_sync(j);
}

int seize_journal_close(seize_journal *j)
{
    if (!j) return 0;
    int rc = seize_journal_stop(j);
    close(j->fd);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->buf);
    free(j->path);
    free(j);
    return rc;
}
