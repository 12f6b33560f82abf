// libFuzzer target: the queries of seize reason and seize run's editing stage
// (seize_reason_input_load): a JSON Lines file, or a CIRCO annotation file with its captions
// from a seize caption file; then the output writer on the records read.
//
// Input byte 0: bit 0 chooses the mode (0 JSON Lines, 1 CIRCO + caption file), bits 1-3 the
// caption cut (0: all). The rest is the query file, then FUZZ_SEP, then the caption file.
#include "seize/pipeline.h"

#include "fuzz_files.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_dir_init("fuzz_reason_input");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *part[2];
    size_t len[2];
    size_t n = fuzz_split(data + 1, size - 1, part, len, 2);
    const char *queries = fuzz_write(0, "queries.json", part[0], len[0]);
    const char *caps = n > 1 ? fuzz_write(1, "captions.jsonl", part[1], len[1]) : NULL;
    seize_reason_input_opts o = {.n_captions = (size_t)(data[0] >> 1 & 7)};
    if (data[0] & 1) o.dataset = "circo", o.captions = caps;
    seize_reason_input in;
    if (seize_reason_input_load(queries, &o, &in) < 0) {
        if (in.records || in.n || in.ids.n) abort(); // an error leaves *in empty
        return 0;
    }
    // the pairs cover the queries in order, each with a caption, a text and a key
    if (json_array_size(in.records) != in.ids.n || in.keys.n != in.n || in.first[0] != 0 ||
        in.first[in.ids.n] != in.n)
        abort();
    for (size_t q = 0; q < in.ids.n; q++)
        if (in.first[q + 1] <= in.first[q]) abort(); // every query has a caption
    for (size_t i = 0; i < in.n; i++)
        if (!in.captions[i] || !in.texts[i] || !in.keys.v[i]) abort();
    seize_stage_item *items = calloc(in.n ? in.n : 1, sizeof *items);
    if (!items) abort();
    for (size_t i = 0; i < in.n; i++)
        items[i].texts = (char **)&in.captions[i], items[i].n_texts = 1; // borrowed
    size_t written = 0;
    const char *out = fuzz_write(2, "edits.jsonl", "", 0);
    if (seize_reason_output_write(out, &in, items, &written) < 0 || written != in.ids.n) abort();
    free(items);
    seize_reason_input_free(&in);
    return 0;
}
