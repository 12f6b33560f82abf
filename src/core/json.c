// JSON helpers over jansson, with errors that name the file and position.
#include "seize/core.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int seize_json_parse(const char *text, size_t len, const char *name, json_t **out)
{
    json_error_t e;
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!*out)
        return seize_error(SEIZE_EFORMAT, "cannot parse '%s': line %d column %d: %s", name, e.line,
                           e.column, e.text);
    return 0;
}

int seize_json_load(const char *path, json_t **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    rc = seize_json_parse(buf, len, path, out);
    free(buf);
    return rc;
}

int seize_jsonl_load(const char *path, json_t **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = seize_read_file(path, &buf, &len);
    if (rc < 0) return rc;
    json_t *arr = json_array();
    if (!arr) {
        free(buf);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    size_t i = 0, line = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        line++;
        size_t s = i, e = j;
        while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r'))
            s++;
        while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r'))
            e--;
        if (e > s) {
            json_error_t err;
            json_t *v = json_loadb(buf + s, e - s, JSON_REJECT_DUPLICATES, &err);
            if (!v) {
                rc = seize_error(SEIZE_EFORMAT, "cannot parse '%s': line %zu: %s", path, line,
                                 err.text);
                json_decref(arr);
                free(buf);
                return rc;
            }
            json_array_append_new(arr, v);
        }
        i = j + 1;
    }
    free(buf);
    *out = arr;
    return 0;
}

int seize_json_save(const char *path, const json_t *j, size_t flags)
{
    char *text = json_dumps(j, flags);
    if (!text) return seize_error(SEIZE_ENOMEM, "cannot serialise '%s'", path);
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return seize_error(SEIZE_ENOMEM, "cannot serialise '%s'", path);
    }
    line[n] = '\n';
    line[n + 1] = 0;
    int rc = seize_write_file_atomic(path, line, n + 1);
    free(line);
    return rc;
}

int seize_json_name(const json_t *v, char **out)
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

int seize_json_name_list(const json_t *v, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(v)) return -1;
    size_t m = json_array_size(v);
    char **s = seize_calloc(m ? m : 1, sizeof *s);
    if (!s) return SEIZE_ENOMEM;
    for (size_t i = 0; i < m; i++) {
        int rc = seize_json_name(json_array_get(v, i), &s[i]);
        if (rc) {
            seize_strv_free(s, i);
            return rc;
        }
    }
    *out = s;
    *n = m;
    return 0;
}
