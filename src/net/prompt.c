// The SEIZE editing prompt (ARCHITECTURE.md §2): built-in templates, filling, post-processing.
#include "seize/net.h"

#include <stdlib.h>
#include <string.h>

// The authors' text, as in their gpt-3.5 editing scripts (SEIZE / LDRE), byte for byte
// ("A example:" included).
const char *const SEIZE_REASON_SYSTEM =
    "I have an image. Given an instruction to edit the image, carefully generate a description "
    "of the edited image.";

const char *const SEIZE_REASON_USER =
    "I will put my image content beginning with \"Image Content:\". The instruction I provide "
    "will begin with \"Instruction:\". The edited description you generate should begin with "
    "\"Edited Description:\". You just generate one edited description only begin with "
    "\"Edited Description:\". The edited description needs to be as simple as possible and only "
    "reflects image content. Just one line.\n"
    "A example:\n"
    "Image Content: a man adjusting a woman's tie.\n"
    "Instruction: has the woman and the man with the roles switched.\n"
    "Edited Description: a woman adjusting a man's tie.\n"
    "\n"
    "Image Content: {caption}\n"
    "Instruction: {instruction}\n"
    "Edited Description:";

char *seize_prompt_format(const char *tmpl, const char *caption, const char *instruction)
{
    static const char kc[] = "{caption}", ki[] = "{instruction}";
    size_t lc = strlen(caption), li = strlen(instruction);
    // Two passes: measure, then write.
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (const char *p = tmpl; *p;) {
            const char *piece;
            size_t len, adv;
            if (*p != '{' && *p != '}') { // copy the run up to the next brace at once
                len = strcspn(p, "{}");
                if (pass) memcpy(out + n, p, len);
                n += len;
                p += len;
                continue;
            }
            if (!strncmp(p, kc, sizeof kc - 1))
                piece = caption, len = lc, adv = sizeof kc - 1;
            else if (!strncmp(p, ki, sizeof ki - 1))
                piece = instruction, len = li, adv = sizeof ki - 1;
            else if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))
                piece = p, len = 1, adv = 2;
            else
                piece = p, len = 1, adv = 1;
            if (pass) memcpy(out + n, piece, len);
            if (len > SIZE_MAX - n - 1) {
                seize_error(SEIZE_ENOMEM, "prompt too large");
                return NULL;
            }
            n += len;
            p += adv;
        }
        if (pass) {
            out[n] = 0;
        } else {
            out = malloc(n + 1);
            if (!out) {
                seize_error(SEIZE_ENOMEM, "out of memory");
                return NULL;
            }
        }
    }
    return out;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *seize_reason_clean(const char *reply)
{
    static const char prefix[] = "Edited Description:";
    const char *s = reply, *e = reply + strlen(reply);
    while (s < e && is_space(*s))
        s++;
    if ((size_t)(e - s) >= sizeof prefix - 1 && !strncmp(s, prefix, sizeof prefix - 1)) {
        s += sizeof prefix - 1;
        while (s < e && is_space(*s))
            s++;
    }
    const char *nl = strchr(s, '\n'); // s points into the NUL-terminated reply
    if (nl) e = nl;
    while (e > s && is_space(e[-1]))
        e--;
    size_t n = (size_t)(e - s);
    char *o = malloc(n + 1);
    if (!o) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}
