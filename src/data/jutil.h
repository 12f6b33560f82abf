// Private JSON helpers shared by the dataset, caption and evaluation code.
#ifndef SEIZE_JUTIL_H
#define SEIZE_JUTIL_H

#include <stddef.h>

struct json_t;

/* A name from a JSON string (copied) or integer (decimal text). 0, or -1 for another type,
 * SEIZE_ENOMEM on allocation failure. *out is a heap string. */
int jutil_name(const struct json_t *v, char **out);
/* A list of names from a JSON array (each a string or an integer). 0 or -1 / SEIZE_ENOMEM. */
int jutil_name_list(const struct json_t *v, char ***out, size_t *n);
/* Frees n heap strings and the array (accepts NULL). */
void jutil_strv_free(char **v, size_t n);

#endif
