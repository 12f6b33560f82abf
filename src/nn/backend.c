// Backend selection by name and the dtype table shared by every backend.
#include "backend.h"

#include <string.h>

size_t nn_dtype_size(nn_dtype t)
{
    switch (t) {
    case NN_F32:
    case NN_I32:
        return 4;
    case NN_BF16:
    case NN_F16:
        return 2;
    case NN_I8:
        return 1;
    }
    return 4;
}

int nn_backend_new(const char *name, nn_backend_params p, nn_backend **out)
{
    *out = NULL;
    if (!name || strcmp(name, "cpu") == 0) return nn_backend_cpu_new(p, out);
#ifdef SEIZE_CUDA
    if (strcmp(name, "cuda") == 0) return nn_backend_cuda_new(p, out);
    return seize_error(SEIZE_EINVAL, "unknown backend '%s' (this build has: cpu, cuda)", name);
#else
    return seize_error(
        SEIZE_EINVAL, "unknown backend '%s' (this build has: cpu; cuda needs `make CUDA=1`)", name);
#endif
}
