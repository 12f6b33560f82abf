// libFuzzer target: the editing prompt (src/net/prompt.c): filling a user template
// (seize_prompt_format) and cleaning a reply (seize_reason_clean).
//
// The input is a template, a caption and an instruction separated by the line "===="
// (FUZZ_SEP); missing parts are empty. The filled prompt is compared with a direct one-pass
// reading of the documented rules ({caption} and {instruction} replaced, {{ and }} give one
// brace, other braces copied). The whole input is also cleaned as a reply: the result must be
// one line without surrounding whitespace, taken from the reply. The whole input is also read
// as a prompt file (seize_prompt_file_load): a template it accepts holds both placeholders and
// ends without a line end, and the system part (when any) is a prefix of the input.
#include "seize/net.h"
#include "seize/pipeline.h"

#include "fuzz_files.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *dup_part(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static char *expected(const char *t, const char *cap, const char *ins)
{
    size_t lc = strlen(cap), li = strlen(ins), n = 0, cap_out = strlen(t) + 1;
    for (const char *p = t; (p = strstr(p, "{")); p++)
        cap_out += lc + li; // generous
    char *o = malloc(cap_out);
    if (!o) abort();
    while (*t) {
        if (!strncmp(t, "{caption}", 9)) {
            memcpy(o + n, cap, lc), n += lc, t += 9;
        } else if (!strncmp(t, "{instruction}", 13)) {
            memcpy(o + n, ins, li), n += li, t += 13;
        } else if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
            o[n++] = t[0], t += 2;
        } else {
            o[n++] = *t++;
        }
    }
    o[n] = 0;
    return o;
}

static int space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The prompt-file reader on the whole input.
static void check_prompt_file(const uint8_t *data, size_t size)
{
    fuzz_dir_init("fuzz_prompt");
    const char *path = fuzz_write(0, "prompt.txt", data, size);
    char *sys = NULL, *user = NULL;
    int rc = seize_prompt_file_load(path, &sys, &user);
    if (rc < 0) {
        if (sys || user) abort();
        return;
    }
    size_t ul = strlen(user);
    if (!strstr(user, "{caption}") || !strstr(user, "{instruction}")) abort();
    // (a NUL byte ends the text early: the line ends before it stay)
    if (!memchr(data, 0, size) && ul && (user[ul - 1] == '\n' || user[ul - 1] == '\r')) abort();
    if (sys && (strlen(sys) > size || memcmp(sys, data, strlen(sys)))) abort();
    free(sys);
    free(user);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    const uint8_t *part[3];
    size_t len[3] = {0, 0, 0};
    size_t n = fuzz_split(data, size, part, len, 3);
    char *s[3];
    for (size_t i = 0; i < 3; i++)
        s[i] = i < n ? dup_part(part[i], len[i]) : dup_part(NULL, 0);
    char *got = seize_prompt_format(s[0], s[1], s[2]);
    char *want = expected(s[0], s[1], s[2]);
    if (!got || strcmp(got, want)) abort();
    free(got);
    free(want);
    for (size_t i = 0; i < 3; i++)
        free(s[i]);

    char *reply = dup_part(data, size);
    char *c = seize_reason_clean(reply);
    if (!c) abort();
    size_t cl = strlen(c);
    if (strchr(c, '\n') || (cl && (space(c[0]) || space(c[cl - 1])))) abort();
    if (cl && !memmem(reply, strlen(reply), c, cl)) abort();
    free(c);
    free(reply);
    check_prompt_file(data, size);
    return 0;
}
