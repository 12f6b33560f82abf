// libFuzzer target: the parsers of chat completion replies (seize_chat_parse), error bodies
// (seize_chat_error_message) and the post-processing of edited descriptions.
#include "seize/net.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    seize_chat_reply r;
    if (seize_chat_parse(body, size, &r) == 0) {
        if (r.n_texts == 0 || !r.texts) abort(); // success means at least one text
        for (size_t i = 0; i < r.n_texts; i++) {
            char *c = seize_reason_clean(r.texts[i]);
            if (!c || strlen(c) > strlen(r.texts[i]) || strchr(c, '\n')) abort();
            free(c);
        }
    } else if (r.n_texts || r.texts) {
        abort(); // failure leaves the reply empty
    }
    seize_chat_reply_free(&r);
    char *m = seize_chat_error_message(body, size);
    if (m && strlen(m) > 200) abort();
    free(m);
    // The template filler on arbitrary text (NUL-terminated copy).
    char *t = malloc(size + 1);
    if (!t) return 0;
    memcpy(t, data, size);
    t[size] = 0;
    char *f = seize_prompt_format(t, "CAP", "INSTR");
    free(f);
    free(t);
    return 0;
}
