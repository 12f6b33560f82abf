// File mapping, whole-file reads, atomic writes, paths and line files.
#include "seize/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int seize_map_open(const char *path, seize_map *out)
{
    memset(out, 0, sizeof *out);
    size_t size = 0;
    int fd = seize_open_regular(path, &size);
    if (fd < 0) return fd;
    out->path = seize_strdup(path);
    if (!out->path) {
        close(fd);
        return SEIZE_ENOMEM;
    }
    out->size = size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(out->path);
            memset(out, 0, sizeof *out);
            return seize_error(SEIZE_EIO, "cannot map '%s': %s", path, strerror(e));
        }
        out->data = p;
    }
    close(fd);
    return 0;
}

void seize_map_close(seize_map *m)
{
    if (!m) return;
    if (m->data) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a folder";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

int seize_open_regular(const char *path, size_t *size)
{
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return seize_error(SEIZE_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return seize_error(SEIZE_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return seize_error(SEIZE_EIO, "cannot read '%s': not a regular file (%s)", path,
                           file_kind(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (size) *size = (size_t)st.st_size;
    return fd;
}

int seize_read_file_max(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    if (len) *len = 0;
    size_t size = 0;
    int fd = seize_open_regular(path, &size);
    if (fd < 0) return fd;
    if (size > max) {
        close(fd);
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': %zu bytes, more than the limit of %zu",
                           path, size, max);
    }
    // The size may change while reading (a growing file): read to EOF, still within `max`.
    size_t cap = size + 1 < (1 << 16) ? (1 << 16) : size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (n >= max) {
                free(buf);
                close(fd);
                return seize_error(SEIZE_EFORMAT,
                                   "cannot read '%s': more than the limit of %zu bytes", path, max);
            }
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return seize_error(SEIZE_EIO, "cannot read '%s': %s", path, strerror(e));
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return seize_error(SEIZE_EFORMAT, "cannot read '%s': more than the limit of %zu bytes",
                           path, max);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int seize_read_file(const char *path, char **out, size_t *len)
{
    return seize_read_file_max(path, SEIZE_MAX_TEXT_FILE, out, len);
}

int seize_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += n + 1;
    }
    return 1;
}

// --- temporary files: a fixed lock-free table that a signal handler can walk

#define TMP_SLOTS 256
static const char *_Atomic tmp_slots[TMP_SLOTS];

void seize_tmp_register(const char *path)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        const char *expect = NULL;
        if (atomic_compare_exchange_strong(&tmp_slots[i], &expect, path)) return;
    }
}

void seize_tmp_unregister(const char *path)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        const char *expect = path;
        if (atomic_compare_exchange_strong(&tmp_slots[i], &expect, NULL)) return;
    }
}

void seize_tmp_unlink_all(void)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        const char *p = atomic_load(&tmp_slots[i]);
        if (p) unlink(p);
    }
}

// --- locks

int seize_lock_file(const char *path, const char *what, seize_lock *out)
{
    out->fd = -1;
    out->path = NULL;
    for (int attempt = 0;; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return seize_error(SEIZE_EIO, "cannot open lock file '%s': %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char pid[32] = "";
            ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
            close(fd);
            if (got > 0) pid[got] = 0;
            pid[strcspn(pid, "\n")] = 0;
            if (e == EWOULDBLOCK)
                return seize_error(SEIZE_EBUSY,
                                   "%s is in use by another seize process (pid %s; lock '%s'); "
                                   "wait for it to finish or stop it",
                                   what, pid[0] ? pid : "unknown", path);
            return seize_error(SEIZE_EIO, "cannot lock '%s': %s", path, strerror(e));
        }
        // The holder unlinks the file when it releases the lock: if that happened between our
        // open and flock, we hold a lock on a dead inode. Retry on the live one.
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
                // The pid is informational only; the lock itself is held.
            }
            out->path = seize_strdup(path);
            if (!out->path) {
                close(fd);
                return SEIZE_ENOMEM;
            }
            out->fd = fd;
            return 0;
        }
        close(fd);
        if (attempt > 100) return seize_error(SEIZE_EIO, "cannot lock '%s': keeps changing", path);
    }
}

int seize_lock_dir(const char *dir, const char *what, seize_lock *out)
{
    char *p = seize_path_join(dir, ".seize.lock");
    if (!p) {
        out->fd = -1;
        out->path = NULL;
        return SEIZE_ENOMEM;
    }
    int rc = seize_lock_file(p, what, out);
    free(p);
    return rc;
}

void seize_lock_release(seize_lock *l)
{
    if (!l) return;
    // Unlink while still holding the lock (a waiter that opened the old inode notices and
    // retries), then close, which drops the flock.
    if (l->path && l->fd >= 0) {
        unlink(l->path);
        close(l->fd);
    }
    free(l->path);
    l->path = NULL;
    l->fd = -1;
}

int seize_atomic_open(const char *path, seize_atomic *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    out->path = seize_strdup(path);
    out->tmp = seize_malloc(n + 32, 1);
    if (!out->path || !out->tmp) {
        free(out->path);
        free(out->tmp);
        memset(out, 0, sizeof *out);
        return SEIZE_ENOMEM;
    }
    snprintf(out->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    out->fp = fopen(out->tmp, "wbe");
    if (!out->fp) {
        int e = errno;
        free(out->path);
        free(out->tmp);
        memset(out, 0, sizeof *out);
        return seize_error(SEIZE_EIO, "cannot create '%s': %s", path, strerror(e));
    }
    seize_tmp_register(out->tmp);
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = seize_strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int seize_atomic_commit(seize_atomic *a)
{
    int rc = 0;
    if (!a->fp) return seize_error(SEIZE_EINVAL, "atomic write: not open");
    if (fflush(a->fp) != 0 || ferror(a->fp) || fsync(fileno(a->fp)) != 0)
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", a->path, strerror(errno));
    if (fclose(a->fp) != 0 && rc == 0)
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", a->path, strerror(errno));
    a->fp = NULL;
    seize_tmp_unregister(a->tmp);
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = seize_error(SEIZE_EIO, "cannot rename '%s' to '%s': %s", a->tmp, a->path,
                         strerror(errno));
    if (rc != 0)
        unlink(a->tmp);
    else
        fsync_dir_of(a->path);
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    return rc;
}

void seize_atomic_abort(seize_atomic *a)
{
    if (!a) return;
    if (a->fp) {
        fclose(a->fp);
        seize_tmp_unregister(a->tmp);
        unlink(a->tmp);
    }
    free(a->path);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

int seize_write_file_atomic(const char *path, const void *data, size_t len)
{
    seize_atomic a;
    int rc = seize_atomic_open(path, &a);
    if (rc < 0) return rc;
    if (len && fwrite(data, 1, len, a.fp) != len) {
        rc = seize_error(SEIZE_EIO, "cannot write '%s': %s", path, strerror(errno));
        seize_atomic_abort(&a);
        return rc;
    }
    return seize_atomic_commit(&a);
}

int seize_mkdirs(const char *path)
{
    char *p = seize_strdup(path);
    if (!p) return SEIZE_ENOMEM;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = seize_error(SEIZE_EIO, "cannot create folder '%s': %s", p, strerror(e));
                free(p);
                return rc;
            }
            p[i] = c;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return seize_error(SEIZE_EIO, "cannot create folder '%s': not a folder", path);
    return 0;
}

int seize_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *seize_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = seize_malloc(a + b + 2, 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int seize_read_lines(const char *path, char ***lines, size_t *n_lines)
{
    *lines = NULL;
    *n_lines = 0;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    seize_strvec v = {0};
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        if (seize_strvec_pushn(&v, buf + i, e - i) < 0) {
            seize_strvec_free(&v);
            free(buf);
            return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
        }
        i = j + 1;
    }
    free(buf);
    *lines = seize_strvec_release(&v, n_lines);
    return 0;
}

void seize_lines_free(char **lines, size_t n_lines)
{
    seize_strv_free(lines, n_lines);
}
