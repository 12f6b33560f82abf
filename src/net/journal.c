// An append-only JSON Lines journal with group commit (write + fdatasync) and crash replay.
#include "seize/net.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seize_journal {
    int fd;
    char *path;
    char *buf; // lines added since the last sync
    size_t len, cap;
};

int seize_journal_open(const char *path, void (*replay)(void *ctx, json_t *line), void *ctx,
                       seize_journal **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return seize_error(SEIZE_EIO, "cannot open journal '%s': %s", path, strerror(errno));
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
    *out = j;
    return 0;
}

int seize_journal_add(seize_journal *j, const json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s) return seize_error(SEIZE_ENOMEM, "cannot encode a journal line");
    size_t n = strlen(s);
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n + 1) cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            free(s);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->buf[j->len + n] = '\n';
    j->len += n + 1;
    free(s);
    return 0;
}

int seize_journal_sync(seize_journal *j)
{
    if (!j->len) return 0;
    size_t off = 0;
    while (off < j->len) {
        ssize_t w = write(j->fd, j->buf + off, j->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return seize_error(SEIZE_EIO, "cannot write journal '%s': %s", j->path,
                               strerror(errno));
        }
        off += (size_t)w;
    }
    j->len = 0;
    if (fdatasync(j->fd) < 0)
        return seize_error(SEIZE_EIO, "cannot sync journal '%s': %s", j->path, strerror(errno));
    return 0;
}

int seize_journal_close(seize_journal *j)
{
    if (!j) return 0;
    int rc = seize_journal_sync(j);
    close(j->fd);
    free(j->buf);
    free(j->path);
    free(j);
    return rc;
}
