// File mapping, whole-file reads, atomic writes, paths and line files.
#include "seize/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int seize_map_open(const char *path, seize_map *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return seize_error(SEIZE_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return seize_error(SEIZE_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return seize_error(SEIZE_EIO, "cannot read '%s': not a regular file", path);
    }
    out->path = seize_strdup(path);
    if (!out->path) {
        close(fd);
        return SEIZE_ENOMEM;
    }
    out->size = (size_t)st.st_size;
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

int seize_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return seize_error(SEIZE_EIO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        return seize_error(SEIZE_EIO, "cannot read '%s': read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
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
    out->fp = fopen(out->tmp, "wb");
    if (!out->fp) {
        int e = errno;
        free(out->path);
        free(out->tmp);
        memset(out, 0, sizeof *out);
        return seize_error(SEIZE_EIO, "cannot create '%s': %s", path, strerror(e));
    }
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
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = seize_error(SEIZE_EIO, "cannot rename '%s' to '%s': %s", a->tmp, a->path,
                         strerror(errno));
    if (rc != 0) unlink(a->tmp);
    else fsync_dir_of(a->path);
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
    size_t cap = 0, n = 0;
    char **v = NULL;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = seize_realloc(v, cap, sizeof *v);
            if (!nv) goto oom;
            v = nv;
        }
        v[n] = seize_malloc(e - i + 1, 1);
        if (!v[n]) goto oom;
        memcpy(v[n], buf + i, e - i);
        v[n][e - i] = 0;
        n++;
        i = j + 1;
    }
    free(buf);
    *lines = v;
    *n_lines = n;
    return 0;
oom:
    seize_lines_free(v, n);
    free(buf);
    return seize_error(SEIZE_ENOMEM, "out of memory reading '%s'", path);
}

void seize_lines_free(char **lines, size_t n_lines)
{
    if (!lines) return;
    for (size_t i = 0; i < n_lines; i++) free(lines[i]);
    free(lines);
}
