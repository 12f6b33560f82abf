// libFuzzer target: opening an index folder (seize_index_open): index.json, names.txt and
// features.npy written into a scratch folder.
//
// The input is up to three files separated by the line "====" (FUZZ_SEP): index.json, then
// names.txt, then features.npy. A missing names.txt is "a\nb\n"; a missing features.npy is a
// valid float32 array with one row per line of names.txt (dimension 4), so that the fuzzer
// reaches the name checks without having to build an .npy header.
#include "seize/index.h"

#include "fuzz_files.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { DIM = 4, MAX_ROWS = 4096 };

// A version 1.0 .npy of rows x DIM float32 (row r = unit vector r % DIM).
static uint8_t *make_npy(size_t rows, size_t *len)
{
    char dict[128];
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows, DIM);
    size_t hl = 10 + (size_t)dl + 1;
    size_t pad = (64 - hl % 64) % 64;
    size_t header = (size_t)dl + pad + 1;
    *len = 10 + header + rows * DIM * sizeof(float);
    uint8_t *b = calloc(1, *len);
    if (!b) abort();
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(header & 0xff);
    b[9] = (uint8_t)(header >> 8);
    memcpy(b + 10, dict, (size_t)dl);
    memset(b + 10 + dl, ' ', pad);
    b[10 + header - 1] = '\n';
    float *f = (float *)(b + 10 + header);
    for (size_t r = 0; r < rows; r++)
        f[r * DIM + r % DIM] = 1.0f;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dir_init("fuzz_index");
    const uint8_t *part[3];
    size_t len[3];
    size_t n = fuzz_split(data, size, part, len, 3);
    if (n < 2) {
        part[1] = (const uint8_t *)"a\nb\n";
        len[1] = 4;
    }
    fuzz_write(0, "index.json", part[0], len[0]);
    fuzz_write(1, "names.txt", part[1], len[1]);
    uint8_t *npy = NULL;
    if (n < 3) {
        size_t rows = 0; // lines as seize_read_lines counts them
        for (size_t i = 0; i < len[1]; i++)
            rows += part[1][i] == '\n';
        if (len[1] && part[1][len[1] - 1] != '\n') rows++;
        if (rows > MAX_ROWS) rows = MAX_ROWS;
        npy = make_npy(rows, &len[2]);
        part[2] = npy;
    }
    fuzz_write(2, "features.npy", part[2], len[2]);
    free(npy);

    seize_index *idx = NULL;
    if (seize_index_open(fuzz_dir, &idx) < 0) {
        if (idx) abort(); // an error leaves *out NULL
        return 0;
    }
    if (!idx || !json_is_object(seize_index_json(idx))) abort();
    size_t count = seize_index_count(idx), dim = seize_index_dim(idx);
    seize_embeddings g = seize_index_embeddings(idx);
    if (g.n != count || g.dim != dim) abort();
    size_t es = g.dtype == SEIZE_F16 ? 2 : 4;
    if (count && dim)
        (void)*(volatile const uint8_t *)((const uint8_t *)g.data + count * dim * es - 1);
    for (size_t i = 0; i < count; i++) {
        const char *name = seize_index_name(idx, i);
        fuzz_touch(name);
        size_t row;
        if (seize_index_find(idx, name, &row) < 0 || row != i) abort(); // names are unique
    }
    seize_index_free(idx);
    return 0;
}
