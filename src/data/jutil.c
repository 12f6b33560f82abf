// Private JSON helpers (see jutil.h).
#include "data/jutil.h"

#include "seize/core.h"

#include <jansson.h>
#include <stdlib.h>

int jutil_name(const json_t *v, char **out)
{
    *out = NULL;
    if (json_is_string(v)) {
        *out = seize_strdup(json_string_value(v));
    } else if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        *out = seize_strdup(buf);
    } else {
        return -1;
    }
    return *out ? 0 : SEIZE_ENOMEM;
}

int jutil_name_list(const json_t *v, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(v)) return -1;
    size_t m = json_array_size(v);
    char **s = seize_calloc(m ? m : 1, sizeof *s);
    if (!s) return SEIZE_ENOMEM;
    for (size_t i = 0; i < m; i++) {
        int rc = jutil_name(json_array_get(v, i), &s[i]);
        if (rc) {
            jutil_strv_free(s, i);
            return rc;
        }
    }
    *out = s;
    *n = m;
    return 0;
}

void jutil_strv_free(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}
