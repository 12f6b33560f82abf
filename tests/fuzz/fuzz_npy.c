// libFuzzer target: the .npy parser.
#include "seize/core.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seize_npy *a;
    if (seize_npy_parse(data, size, "fuzz.npy", &a) == 0) {
        float *f = seize_npy_f32(a);
        if (f && a->count) (void)*(volatile float *)&f[a->count - 1];
        seize_npy_free(a);
    }
    return 0;
}
