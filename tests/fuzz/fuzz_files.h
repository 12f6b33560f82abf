// Helpers for the fuzz targets whose entry point reads files: a private scratch folder
// (/tmp/<target>_<pid>, or under $TMPDIR) removed at exit, writing an input into it, and
// splitting one input into several files at a separator line.
#ifndef SEIZE_FUZZ_FILES_H
#define SEIZE_FUZZ_FILES_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Separates the files of one input (e.g. index.json, names.txt, features.npy).
#define FUZZ_SEP "\n====\n"

static char fuzz_dir[512];

// Removes a folder and what it holds (files and folders, a few levels deep).
static inline void fuzz_rm_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (unlink(path) < 0 && depth < 4) fuzz_rm_tree(path, depth + 1);
            }
        closedir(d);
    }
    rmdir(dir);
}

static inline void fuzz_dir_remove(void)
{
    fuzz_rm_tree(fuzz_dir, 0);
}

// Creates the scratch folder once; aborts when it cannot (the target would test nothing).
static inline void fuzz_dir_init(const char *target)
{
    if (fuzz_dir[0]) return;
    const char *t = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/%s_%d", t && *t ? t : "/tmp", target, (int)getpid());
    if (mkdir(fuzz_dir, 0700) < 0 && errno != EEXIST) { // EEXIST: left by a crashed run
        perror(fuzz_dir);
        abort();
    }
    atexit(fuzz_dir_remove);
}

// Writes `len` bytes to <scratch>/<name> (replacing it) and returns its path (static storage,
// one per name slot: valid until the next call with the same slot).
static inline const char *fuzz_write(int slot, const char *name, const void *data, size_t len)
{
    static char paths[8][1024];
    char *path = paths[slot & 7];
    snprintf(path, sizeof paths[0], "%s/%s", fuzz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

// Splits data at the first max-1 FUZZ_SEP separators: returns the number of parts (1..max);
// the last part takes the rest of the input.
static inline size_t fuzz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len,
                                size_t max)
{
    const size_t sl = sizeof FUZZ_SEP - 1;
    size_t n = 0, start = 0;
    for (size_t i = 0; n + 1 < max && i + sl <= size; i++)
        if (!memcmp(data + i, FUZZ_SEP, sl)) {
            part[n] = data + start;
            len[n++] = i - start;
            start = i + sl;
            i = start - 1;
        }
    part[n] = data + start;
    len[n++] = size - start;
    return n;
}

// Reads every byte of a C string (so that ASan checks it is a live, terminated allocation).
static inline size_t fuzz_touch(const char *s)
{
    if (!s) abort();
    return strlen(s);
}

#endif
