// libFuzzer target: the safetensors header parser and validator.
#include "seize/model.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seize_st_file f;
    if (seize_st_parse(data, size, "fuzz.safetensors", &f) == 0) {
        // every validated tensor must lie inside the buffer
        for (size_t i = 0; i < f.n_tensors; i++) {
            const seize_st_tensor *t = &f.tensors[i];
            SEIZE_ASSERT(t->data >= data && t->data + t->nbytes <= data + size);
            if (t->nbytes) (void)*(volatile const uint8_t *)(t->data + t->nbytes - 1);
            SEIZE_ASSERT(seize_st_find(&f, t->name) == t);
        }
        seize_st_close(&f);
    }
    return 0;
}
