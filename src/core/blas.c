// The one place that sets BLAS's thread count (the application's policy, see core.h).
#include "seize/core.h"

#include <cblas.h>

void seize_blas_threads_set(int n)
{
    if (n < 1) n = seize_cpu_count();
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

int seize_blas_threads(void)
{
    return openblas_get_num_threads();
}
