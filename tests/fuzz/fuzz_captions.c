// libFuzzer target: the caption loader (seize_captions_load), both formats: the authors' JSON
// array (first non-blank byte '[') and our JSON Lines. The input is written to a file in a
// scratch folder. Input byte 0 picks the keys: even = each format's defaults, odd = custom
// keys "c" (captions) and "e" (edits); the rest is the file.
#include "seize/data.h"

#include "fuzz_files.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fuzz_dir_init("fuzz_captions");
    const char *path = fuzz_write(0, "captions.json", data + 1, size - 1);
    int custom = data[0] & 1;
    seize_captions *c = NULL;
    if (seize_captions_load(path, custom ? "c" : NULL, custom ? "e" : NULL, &c) == 0) {
        if (!c) abort();
        for (size_t i = 0; i < c->n; i++) {
            if (c->ids[i]) fuzz_touch(c->ids[i]);
            if (c->n_captions[i] && !c->captions[i]) abort();
            if (c->n_edits[i] && !c->edits[i]) abort();
            for (size_t k = 0; k < c->n_captions[i]; k++)
                fuzz_touch(c->captions[i][k]);
            for (size_t k = 0; k < c->n_edits[i]; k++)
                fuzz_touch(c->edits[i][k]);
        }
        seize_captions_free(c);
    } else if (c) {
        abort(); // an error leaves *out NULL
    }
    return 0;
}
