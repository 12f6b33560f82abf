// Unit tests for the GPT-2 byte-level BPE (src/text/bpe.c, bpe_codec.c): the BLIP-2 fixtures'
// prompt ids and every golden caption, UTF-8 replacement as CPython does it, clean-up, added
// and special tokens, Python's str.strip, an independent Python reference (bpe_ref.py) on
// random and tricky text, and the loader's errors.
#include "check.h"

#include "seize/core.h"
#include "seize/text.h"

#include <jansson.h>
#include <pthread.h>
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

// --- a synthetic tokenizer: more merges, stray rank orders, added and special tokens ---------

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

// GPT-2's bytes_to_unicode, written out again: the symbol of byte b as UTF-8 into s (NUL-ended).
static void byte_symbol(int b, char *s)
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE, extra = 0;
    uint32_t cp = (uint32_t)b;
    if (!printable) {
        for (int k = 0; k < b; k++)
            extra += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
        cp = 256 + (uint32_t)extra;
    }
    if (cp < 0x80) {
        s[0] = (char)cp;
        s[1] = 0;
    } else {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
        s[2] = 0;
    }
}

#define SYN_MAX 1200
static char syn_sym[SYN_MAX][128];
static int syn_n;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else
            fputc(*s, f);
    fputc('"', f);
}

// Writes vocab.json + merges.txt into dir: "<s>" "<pad>" "</s>" "<unk>", the byte symbols but
// two, about 800 merges made from the symbols of common text (some listed twice, some moved
// out of order, blank lines between), a final merge line without a newline (Python drops it).
static void write_synthetic(const char *dir)
{
    static const char *const head[] = {"<s>", "<pad>", "</s>", "<unk>"};
    char path[600];
    syn_n = 0;
    for (int i = 0; i < 4; i++)
        snprintf(syn_sym[syn_n++], 128, "%s", head[i]);
    for (int b = 0; b < 256; b++)
        if (b != 0xF5 && b != 0xFE) byte_symbol(b, syn_sym[syn_n++]);
    static const char common[] = "etaoinshrdlucmfwypvbgkTAS 0123'.,!?\n";
    static char lines[1000][140];
    int n_lines = 0;
    while (syn_n < 1060 && n_lines < 990) {
        char a[64], b[64];
        for (int k = 0; k < 2; k++) {
            char *d = k ? b : a;
            if (rnd(3) == 0 || syn_n < 300) {
                int c = (unsigned char)common[rnd(sizeof common - 1)];
                byte_symbol(c, d);
            } else
                snprintf(d, 64, "%s", syn_sym[260 + rnd((uint32_t)syn_n - 260)]);
        }
        if (strlen(a) + strlen(b) >= 40) continue;
        char ab[128];
        snprintf(ab, sizeof ab, "%s%s", a, b);
        int have = 0;
        for (int i = 0; i < syn_n && !have; i++)
            have = !strcmp(syn_sym[i], ab);
        if (have && rnd(8)) continue; // sometimes a pair listed twice
        if (!have) snprintf(syn_sym[syn_n++], 128, "%s", ab);
        snprintf(lines[n_lines++], sizeof lines[0], "%s %s", a, b);
        if (rnd(40) == 0) lines[n_lines++][0] = 0; // a blank line keeps its rank
    }
    for (int k = 0; k < n_lines / 10; k++) { // ranks out of the order the symbols came in
        int i = (int)rnd((uint32_t)n_lines), j = (int)rnd((uint32_t)n_lines);
        char tmp[140];
        memcpy(tmp, lines[i], sizeof tmp);
        memcpy(lines[i], lines[j], sizeof tmp);
        memcpy(lines[j], tmp, sizeof tmp);
    }
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    FILE *f = fopen(path, "wb");
    fprintf(f, "#version: 0.2\r\n");
    for (int i = 0; i < n_lines; i++)
        fprintf(f, "%s%s", lines[i], i + 1 < n_lines ? (i % 7 ? "\n" : "\r\n") : "");
    fclose(f);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    f = fopen(path, "wb");
    fputc('{', f);
    for (int i = 0; i < syn_n; i++) {
        json_str(f, syn_sym[i]);
        fprintf(f, ": %d%s", i, i + 1 < syn_n ? ",\n" : "}\n");
    }
    fclose(f);
}

static void make_synthetic(void)
{
    static int done;
    if (done) return;
    done = 1;
    const char *a = check_tmp("synA"), *b = check_tmp("synB");
    mkdir(a, 0700);
    mkdir(b, 0700);
    write_synthetic(a);
    write_synthetic(b);
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", a);
    check_write_text(
        path, "{\"added_tokens_decoder\": {"
              "\"1\": {\"content\": \"<pad>\", \"special\": true},"
              "\"2\": {\"content\": \"</s>\", \"special\": true},"
              "\"5000\": {\"content\": \"<extra>\", \"special\": false},"
              "\"5001\": {\"content\": \"[L]\", \"lstrip\": true, \"special\": false},"
              "\"5002\": {\"content\": \"[R]\", \"rstrip\": true, \"special\": true},"
              "\"5003\": {\"content\": \"<ex\", \"special\": false}},"
              "\"model_max_length\": 1000000000000000019884624838656, \"errors\": \"replace\"}");
    snprintf(path, sizeof path, "%s/special_tokens_map.json", a);
    check_write_text(path, "{\"bos_token\": \"</s>\", \"eos_token\": {\"content\": \"</s>\"},"
                           "\"unk_token\": \"<unk>\", \"pad_token\": \"<pad>\","
                           "\"mask_token\": \"<маска>\", \"cls_token\": {\"content\": \"<cls>\","
                           " \"lstrip\": true, \"rstrip\": true},"
                           "\"additional_special_tokens\": [\"<sp1>\", \"[R]\", \"<s>\"]}");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", b);
    check_write_text(path, "{\"add_prefix_space\": true, \"clean_up_tokenization_spaces\": false,"
                           " \"errors\": \"ignore\"}");
}

// --- against the Python reference ---------------------------------------------------------------

struct atom {
    const char *s;
    size_t n;
};
#define A(x)                                                                                       \
    {                                                                                              \
        x, sizeof x - 1                                                                            \
    }
static const struct atom atoms[] = {A("a"),
                                    A("photo"),
                                    A("of"),
                                    A("The"),
                                    A("singapore"),
                                    A("lion"),
                                    A("man"),
                                    A("tree"),
                                    A("'s"),
                                    A("'t"),
                                    A("'re"),
                                    A("'ve"),
                                    A("'m"),
                                    A("'ll"),
                                    A("'d"),
                                    A("'S"),
                                    A("n't"),
                                    A("'"),
                                    A("''"),
                                    A(" "),
                                    A("  "),
                                    A("   "),
                                    A("\n"),
                                    A("\n\n"),
                                    A("\t"),
                                    A("\r\n"),
                                    A("\x0b"),
                                    A("\x0c"),
                                    A("\x1c"),
                                    A("\x1f"),
                                    A("\xc2\x85"),
                                    A("\xc2\xa0"),
                                    A("\xe2\x80\x80"),
                                    A("\xe3\x80\x80"),
                                    A("\xe2\x80\xa8"),
                                    A("\xe1\x9a\x80"),
                                    A("0"),
                                    A("123"),
                                    A("4.5"),
                                    A("\xc2\xbd"),
                                    A("\xc2\xb2"),
                                    A("\xe2\x85\xab"),
                                    A("\xd9\xa3"),
                                    A("\xc3\xa9"),
                                    A("\xc3\x9f"),
                                    A("\xce\xa9"),
                                    A("\xd0\x9f\xd1\x80\xd0\xb8"),
                                    A("\xe4\xb8\xad\xe6\x96\x87"),
                                    A("\xef\xac\x81"),
                                    A("\xf0\x9d\x94\x98"),
                                    A("\xf0\x9f\x98\x80"),
                                    A("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"),
                                    A("\xe2\x80\x8d"),
                                    A("e\xcc\x81"),
                                    A("!"),
                                    A("?"),
                                    A("."),
                                    A(","),
                                    A("..."),
                                    A("\""),
                                    A("("),
                                    A(")"),
                                    A("-"),
                                    A("_"),
                                    A("#@"),
                                    A("\xff"),
                                    A("\x80"),
                                    A("\xc3"),
                                    A("\xe2\x82"),
                                    A("\xed\xa0\x80"),
                                    A("\xc0\xaf"),
                                    A("\xf4\x90\x80\x80"),
                                    A("\xf0\x9f\x98"),
                                    A("\x00"),
                                    A("</s>"),
                                    A("<pad>"),
                                    A("<s>"),
                                    A("<unk>"),
                                    A("<madeupword0001>"),
                                    A("<|endoftext|>"),
                                    A(" </s> "),
                                    A("<extra>"),
                                    A("<ex"),
                                    A("[L]"),
                                    A("[R]"),
                                    A("<sp1>"),
                                    A("<\xd0\xbc"),
                                    A("\xd0\xb0\xd1\x81\xd0\xba\xd0\xb0>"),
                                    A(" ."),
                                    A(" ?"),
                                    A(" ' "),
                                    A(" 's"),
                                    A(" n't"),
                                    A(" <cls> "),
                                    A("<cls>")};
#define N_ATOMS (sizeof atoms / sizeof atoms[0])

static void put_hex(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", (unsigned char)s[i]);
}

#define N_TEXTS 300
#define N_DECODES 200
static char texts[N_TEXTS][400];
static size_t text_len[N_TEXTS];
static int32_t dec_ids[N_DECODES][24];
static size_t dec_n[N_DECODES];

// Random texts (a few fixed tricky ones first) and random id lists; the requests file.
static void make_cases(const seize_bpe *t, const char *req)
{
    static const char *const fixed[] = {"",
                                        " ",
                                        "a photo of",
                                        "Hello  world\n\n it's  ",
                                        "I'm sure they'll've done't",
                                        "x \n y",
                                        "   lead",
                                        "trail   ",
                                        "\t\t\tz",
                                        "1,234.5 ½²Ⅻ٣"};
    size_t nf = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < N_TEXTS; i++) {
        size_t n = 0;
        if (i < nf) {
            n = strlen(fixed[i]);
            memcpy(texts[i], fixed[i], n);
        } else
            for (uint32_t k = 0, m = 1 + rnd(14); k < m; k++) {
                const struct atom *a = &atoms[rnd(N_ATOMS)];
                memcpy(texts[i] + n, a->s, a->n);
                n += a->n;
            }
        text_len[i] = n;
    }
    static const char *const named[] = {
        "<pad>", "</s>",  "<s>",     "<unk>",         "<extra>",          "[L]", "[R]",
        "<ex",   "<sp1>", "<маска>", "<|endoftext|>", "<madeupword0001>", "Ġ.",  "Ġ'"};
    int32_t some[16];
    size_t n_some = 0;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if ((some[n_some] = seize_bpe_token_id(t, named[i])) >= 0) n_some++;
    uint32_t range = (uint32_t)seize_bpe_vocab_size(t) + 2;
    for (size_t i = 0; i < N_DECODES; i++) {
        dec_n[i] = 1 + rnd(20);
        for (size_t k = 0; k < dec_n[i]; k++) { // mostly bytes and short merges, added tokens
            uint32_t r = rnd(20);
            if (r < 14)
                dec_ids[i][k] = (int32_t)rnd(range < 300 ? range : 300);
            else if (r < 19 && n_some)
                dec_ids[i][k] = some[rnd((uint32_t)n_some)];
            else
                dec_ids[i][k] = (int32_t)rnd(range);
        }
    }
    FILE *f = fopen(req, "wb");
    for (size_t i = 0; i < N_TEXTS; i++) {
        fprintf(f, "{\"encode\": \"");
        put_hex(f, texts[i], text_len[i]);
        fprintf(f, "\"}\n");
    }
    for (size_t i = 0; i < 2 * N_DECODES; i++) {
        fprintf(f, "{\"skip\": %d, \"decode\": [", (int)(i & 1));
        for (size_t k = 0; k < dec_n[i / 2]; k++)
            fprintf(f, "%s%d", k ? ", " : "", (int)dec_ids[i / 2][k]);
        fprintf(f, "]}\n");
    }
    fclose(f);
}

static int run_reference(const char *dir, const char *req, const char *ans)
{
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' tests/unit/bpe_ref.py '%s' < '%s' > '%s'", py, dir, req, ans);
    return system(cmd) == 0 ? 0 : -1;
}

static int hex_equal(const char *hex, const char *s, size_t n)
{
    if (strlen(hex) != 2 * n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v != (unsigned char)s[i]) return 0;
    }
    return 1;
}

// Encodes and decodes every case with t; 0 when all agree with the answers, else -1.
static int compare_answers(const seize_bpe *t, const json_t *ans, const char *name)
{
    for (size_t i = 0; i < N_TEXTS; i++) {
        const json_t *want = json_object_get(json_array_get(ans, i), "ids");
        int32_t *ids;
        size_t n;
        if (seize_bpe_encode(t, texts[i], text_len[i], &ids, &n) < 0) return -1;
        int same = json_array_size(want) == n;
        for (size_t k = 0; k < n && same; k++)
            same = json_integer_value(json_array_get(want, k)) == ids[k];
        free(ids);
        if (!same) {
            fprintf(stderr, "  %s: text %zu (\"%.*s\") encodes differently\n", name, i,
                    (int)text_len[i], texts[i]);
            return -1;
        }
    }
    size_t n_err = 0;
    for (size_t i = 0; i < 2 * N_DECODES; i++) {
        const json_t *a = json_array_get(ans, N_TEXTS + i);
        const char *hex = json_string_value(json_object_get(a, "text"));
        char *out;
        size_t len;
        int rc = seize_bpe_decode_n(t, dec_ids[i / 2], dec_n[i / 2], (int)(i & 1), &out, &len);
        int same = rc < 0 ? !hex : hex && hex_equal(hex, out, len);
        if (!same)
            fprintf(stderr, "  %s: decode %zu (skip %d): got %s \"%s\", want %s\n", name, i / 2,
                    (int)(i & 1), rc < 0 ? "error" : "text", rc < 0 ? seize_errmsg() : out,
                    hex ? hex : "an error");
        if (rc == 0) free(out);
        if (!same) return -1;
        n_err += rc < 0;
    }
    if (n_err > N_DECODES) { // most decodes must give a text, or the comparison says little
        fprintf(stderr, "  %s: %zu of %d decodes fail\n", name, n_err, 2 * N_DECODES);
        return -1;
    }
    return 0;
}

static void check_reference(const char *dir, const char *name)
{
    seize_bpe *t = NULL;
    CHECK_MSG(seize_bpe_load(dir, &t) == 0, "%s: %s", name, seize_errmsg());
    const char *req = check_tmp("req.jsonl"), *ans = check_tmp("ans.jsonl");
    make_cases(t, req);
    CHECK_MSG(run_reference(dir, req, ans) == 0, "bpe_ref.py failed on %s", name);
    json_t *a = NULL;
    CHECK_EQ(seize_jsonl_load(ans, &a), 0);
    CHECK_EQ(json_array_size(a), N_TEXTS + 2 * N_DECODES);
    int rc = compare_answers(t, a, name);
    json_decref(a);
    seize_bpe_free(t);
    CHECK_EQ(rc, 0);
}

static void test_reference_fixture(void)
{
    NEED_FIXTURES();
    check_reference(check_fixture_path("blip2/tiny364"), "tiny364");
}

static void test_reference_synthetic(void)
{
    make_synthetic();
    check_reference(check_tmp("synA"), "synthetic A");
    if (check_failed_now) return;
    check_reference(check_tmp("synB"), "synthetic B");
}

// --- behaviours, one at a time ------------------------------------------------------------------

// A tokenizer folder from literal file contents (NULL: the file is absent).
static const char *small_folder(const char *name, const char *vocab, const char *merges,
                                const char *config, const char *map)
{
    const char *dir = check_tmp(name);
    char path[600];
    mkdir(dir, 0700);
    const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                           "special_tokens_map.json"};
    const char *texts[] = {vocab, merges, config, map};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
        if (texts[i]) check_write_text(path, texts[i]);
    }
    return dir;
}

static int encode_is(const seize_bpe *t, const char *text, const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n;
    if (seize_bpe_encode(t, text, strlen(text), &ids, &n) < 0) return 0;
    int same = n == n_want && (n == 0 || !memcmp(ids, want, n * sizeof *ids));
    if (!same) {
        fprintf(stderr, "  \"%s\" ->", text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fputc('\n', stderr);
    }
    free(ids);
    return same;
}

// All occurrences of the best pair merge before a pair that a merge creates, even when that
// pair ranks higher: "abab" with ("ab" "a") ranked before ("a" "b") gives "ab" "ab", not
// "aba" "b".
static void test_merge_rounds(void)
{
    const char *dir = small_folder("rounds", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"aba\": 3}",
                                   "#version: 0.2\nab a\na b\n", NULL, NULL);
    seize_bpe *t = NULL;
    CHECK_MSG(seize_bpe_load(dir, &t) == 0, "%s", seize_errmsg());
    CHECK(encode_is(t, "abab", (const int32_t[]){2, 2}, 2));
    CHECK(encode_is(t, "aba", (const int32_t[]){3}, 1)); // then the higher-ranked pair
    CHECK(encode_is(t, "aaab", (const int32_t[]){0, 0, 2}, 3));
    // GPT2Tokenizer's default unk "<|endoftext|>" is not in vocab.json: a byte symbol that is
    // not in it ("c") has no id and is dropped
    CHECK(encode_is(t, "cab", (const int32_t[]){2}, 1));
    CHECK_EQ(seize_bpe_token_id(t, "<|endoftext|>"), 4); // added with the next id
    CHECK(seize_bpe_is_special(t, 4));
    CHECK_EQ(seize_bpe_vocab_size(t), 5);
    seize_bpe_free(t);
    // the last line without a newline is dropped (Python's split("\n")[1:-1])
    dir = small_folder("rounds2", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"aba\": 3}",
                       "#version: 0.2\nab a\na b", NULL, NULL);
    CHECK_MSG(seize_bpe_load(dir, &t) == 0, "%s", seize_errmsg());
    CHECK(encode_is(t, "aba", (const int32_t[]){0, 1, 0}, 3));
    seize_bpe_free(t);
    // a merge listed twice takes its last rank
    dir = small_folder("rounds3", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"ba\": 3}",
                       "#version: 0.2\r\na b\r\nb a\r\n\r\na b\r\n", NULL, NULL);
    CHECK_MSG(seize_bpe_load(dir, &t) == 0, "%s", seize_errmsg());
    CHECK(encode_is(t, "aba", (const int32_t[]){0, 3}, 2)); // "a b" now ranks after "b a"
    seize_bpe_free(t);
}

static void test_added_tokens(void)
{
    NEED_FIXTURES();
    seize_bpe *t = load_fixture("blip2/tiny364");
    CHECK(t);
    // "</s>" and "<pad>" are added tokens, cut out whole; "<s>" and "<unk>" are plain text
    CHECK(encode_is(t, "a</s>a", (const int32_t[]){101, 2, 101}, 3));
    CHECK(encode_is(t, "<pad></s>", (const int32_t[]){1, 2}, 2));
    CHECK(encode_is(t, "<s>", (const int32_t[]){64, 119, 66}, 3));
    char *out;
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){0, 2, 101, 1, 3}, 5, 1, &out), 0);
    CHECK_STREQ(out, "<s>a<unk>");
    free(out);
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){0, 2, 101, 1, 3}, 5, 0, &out), 0);
    CHECK_STREQ(out, "<s></s>a<pad><unk>");
    free(out);
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){101, 424}, 2, 1, &out), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "424"));
    CHECK(!out);
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){-3}, 1, 1, &out), SEIZE_EINVAL);
    CHECK_EQ(seize_bpe_decode(t, NULL, 0, 1, &out), 0);
    CHECK_STREQ(out, "");
    free(out);
    seize_bpe_free(t);
    // synthetic A: "<extra>" is added but not special (decoded with spaces around it), "[L]"
    // strips white space before it, "[R]" after it
    make_synthetic();
    CHECK_EQ(seize_bpe_load(check_tmp("synA"), &t), 0);
    int32_t ex = seize_bpe_token_id(t, "<extra>"), l = seize_bpe_token_id(t, "[L]");
    int32_t r = seize_bpe_token_id(t, "[R]"), sp = seize_bpe_token_id(t, "<sp1>");
    int32_t a = seize_bpe_token_id(t, "a"), sep = seize_bpe_token_id(t, "Ġ");
    CHECK(ex == 5000 && l == 5001 && r == 5002 && sp >= 0 && a >= 0 && sep >= 0);
    CHECK(!seize_bpe_is_special(t, ex) && !seize_bpe_is_special(t, l));
    CHECK(seize_bpe_is_special(t, r) && seize_bpe_is_special(t, sp));
    CHECK(seize_bpe_is_special(t, seize_bpe_token_id(t, "<s>"))); // an additional special token
    CHECK(encode_is(t, "a  [L]a", (const int32_t[]){a, l, a}, 3));
    CHECK(encode_is(t, "a[R] \n a", (const int32_t[]){a, r, a}, 3));
    CHECK(encode_is(t, "a <extra>a", (const int32_t[]){a, sep, ex, a}, 4));
    int32_t cls = seize_bpe_token_id(t, "<cls>"); // a special token given with lstrip and rstrip
    CHECK(cls >= 0 && seize_bpe_is_special(t, cls));
    CHECK(encode_is(t, "a \n <cls>\t a", (const int32_t[]){a, cls, a}, 3));
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){a, ex, a, sp, ex}, 5, 1, &out), 0);
    CHECK_STREQ(out, "a <extra> a <extra>");
    free(out);
    CHECK_EQ(seize_bpe_decode(t, (const int32_t[]){a, ex, a, sp, ex}, 5, 0, &out), 0);
    CHECK_STREQ(out, "a <extra> a <sp1> <extra>"); // "<sp1>" is past vocab.json: legacy too
    free(out);
    // a special token outside the byte alphabet cannot be decoded (Python: KeyError)
    int32_t mask = seize_bpe_token_id(t, "<маска>");
    CHECK(mask >= 0);
    CHECK_EQ(seize_bpe_decode(t, &mask, 1, 0, &out), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "byte alphabet"));
    CHECK_EQ(seize_bpe_decode(t, &mask, 1, 1, &out), 0);
    CHECK_STREQ(out, "");
    free(out);
    seize_bpe_free(t);
}

// Bytes decoded as CPython's bytes.decode("utf-8", "replace") does (asked of python3).
static void test_utf8_replace(void)
{
    NEED_FIXTURES();
    static const char *const cases[] = {"\xff",
                                        "\x80",
                                        "\xc3",
                                        "\xe2\x82",
                                        "\xe2\x82"
                                        "A",
                                        "\xed\xa0\x80",
                                        "\xc0\xaf",
                                        "\xf4\x90\x80\x80",
                                        "\xf0\x9f\x98",
                                        "\xe0\x80\x80",
                                        "\xf0\x80\x80\x80",
                                        "\xf0\x90\x80",
                                        "\xe0\xa0",
                                        "\xc2\xc2\xa0",
                                        "\xf8\x88\x80\x80\x80",
                                        "\xef\xbf\xbf",
                                        "\xf4\x8f\xbf\xbf",
                                        "a\xe2\x82\xac\xe2",
                                        "\xed\x9f\xbf\xed\xbf\xbf",
                                        "\xc1\xbf",
                                        "\xf0\x9f\x98\x80\x9f"};
    size_t nc = sizeof cases / sizeof cases[0];
    const char *req = check_tmp("utf8.txt"), *ans = check_tmp("utf8.out");
    FILE *f = fopen(req, "wb");
    CHECK(f);
    for (size_t i = 0; i < nc; i++) {
        put_hex(f, cases[i], strlen(cases[i]));
        fputc('\n', f);
    }
    fclose(f);
    const char *py = getenv("PYTHON");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import sys\nfor l in open(sys.argv[1]):\n"
             "    print(bytes.fromhex(l.strip()).decode(\"utf-8\", \"replace\").encode().hex())' "
             "'%s' > '%s'",
             py && *py ? py : "/usr/bin/python3", req, ans);
    CHECK_EQ(system(cmd), 0);
    seize_bpe *t = load_fixture("blip2/tiny364");
    CHECK(t);
    f = fopen(ans, "r");
    CHECK(f);
    char line[512];
    int n_ok = 0;
    for (size_t i = 0; i < nc && fgets(line, sizeof line, f); i++) {
        line[strcspn(line, "\n")] = 0;
        int32_t ids[16];
        size_t n = strlen(cases[i]);
        for (size_t k = 0; k < n; k++) { // one byte token each
            char sym[4];
            byte_symbol((unsigned char)cases[i][k], sym);
            ids[k] = seize_bpe_token_id(t, sym);
        }
        char *out;
        size_t len;
        if (seize_bpe_decode_n(t, ids, n, 1, &out, &len) < 0) break;
        int same = hex_equal(line, out, len);
        if (!same) fprintf(stderr, "  case %zu: got \"%s\", python3 %s\n", i, out, line);
        free(out);
        n_ok += same;
    }
    fclose(f);
    seize_bpe_free(t);
    CHECK_EQ(n_ok, (int)nc);
    // the folder's other error handlers: "strict" fails, "ignore" drops the bytes
    const int32_t ff_a[] = {0, 1, 0}; // "\xff" "a" "\xff"
    char *out;
    CHECK_EQ(seize_bpe_load(small_folder("strict", "{\"\xc3\xbf\": 0, \"a\": 1}", "#v\n",
                                         "{\"errors\": \"strict\"}", NULL),
                            &t),
             0);
    CHECK_EQ(seize_bpe_decode(t, ff_a, 3, 1, &out), SEIZE_EINVAL);
    CHECK(strstr(seize_errmsg(), "strict"));
    CHECK_EQ(seize_bpe_decode(t, ff_a + 1, 1, 1, &out), 0);
    CHECK_STREQ(out, "a");
    free(out);
    seize_bpe_free(t);
    CHECK_EQ(seize_bpe_load(small_folder("ignore", "{\"\xc3\xbf\": 0, \"a\": 1}", "#v\n",
                                         "{\"errors\": \"ignore\"}", NULL),
                            &t),
             0);
    CHECK_EQ(seize_bpe_decode(t, ff_a, 3, 1, &out), 0);
    CHECK_STREQ(out, "a");
    free(out);
    seize_bpe_free(t);
}

// transformers' clean_up_tokenization, in its order (" ' " before " 's"), on when the
// config says so or is silent; synthetic B turns it off.
static void test_clean_up(void)
{
    NEED_FIXTURES();
    seize_bpe *t = load_fixture("blip2/tiny364");
    CHECK(t);
    static const char text[] = "a , b . c ? d ! e ' s n't 'm 's 've 're ' ' x";
    int32_t *ids;
    size_t n;
    CHECK_EQ(seize_bpe_encode(t, text, strlen(text), &ids, &n), 0);
    char *out;
    CHECK_EQ(seize_bpe_decode(t, ids, n, 1, &out), 0);
    CHECK_STREQ(out, "a, b. c? d! e'sn't'm's've're'' x"); // as Python's replace chain gives
    free(out);
    seize_bpe_free(t);
    make_synthetic();
    CHECK_EQ(seize_bpe_load(check_tmp("synB"), &t), 0);
    int32_t *ids2;
    size_t n2;
    CHECK_EQ(seize_bpe_encode(t, text, strlen(text), &ids2, &n2), 0);
    CHECK_EQ(seize_bpe_decode(t, ids2, n2, 1, &out), 0);
    CHECK_STREQ(out, " a , b . c ? d ! e ' s n't 'm 's 've 're ' ' x"); // add_prefix_space
    free(out);
    free(ids);
    free(ids2);
    seize_bpe_free(t);
}

static void test_strip_py(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {{"", ""},
                 {"   ", ""},
                 {" a b ", "a b"},
                 {"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f x \x1f", "x"},
                 {"\xc2\x85\xc2\xa0y\xe1\x9a\x80\xe2\x80\x80\xe2\x80\x8a", "y"},
                 {"\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\x9fz\xe3\x80\x80", "z"},
                 {"\xe2\x80\x8bq\xe2\x80\x8b", "\xe2\x80\x8bq\xe2\x80\x8b"}, // U+200B: not space
                 {"\xe1\xa0\x8e"
                  "a",
                  "\xe1\xa0\x8e"
                  "a"}, // U+180E: not space
                 {"\xef\xbf\xbd \xef\xbf\xbd", "\xef\xbf\xbd \xef\xbf\xbd"},
                 {"\x80 \xa0", "\x80 \xa0"},
                 {" \x1b", "\x1b"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        CHECK(seize_text_strip_py(buf) == buf);
        CHECK_STREQ(buf, cases[i].out);
    }
    char nul[] = " \x00 a\x00 \n";
    CHECK_EQ(seize_text_strip_py_n(nul, sizeof nul - 1), 4);
    CHECK(!memcmp(nul, "\x00 a\x00", 5));
    CHECK(seize_text_strip_py(NULL) == NULL);
}

// decode(encode(text)) gives the text back (valid UTF-8, no added tokens, nothing that the
// clean-up changes), long words included.
static void test_roundtrip(void)
{
    NEED_FIXTURES();
    seize_bpe *t = load_fixture("blip2/tiny364");
    CHECK(t);
    static char text[300000];
    for (int round = 0; round < 400; round++) {
        size_t n = 0;
        if (round == 0) { // a long word and a long run of spaces (the heap path)
            for (; n < 200000; n++)
                text[n] = "ab"[n % 3 == 0];
            for (; n < 250000; n++)
                text[n] = ' ';
            text[n++] = 'x';
        }
        for (uint32_t k = 0, m = round ? 1 + rnd(12) : 0; k < m; k++) {
            const struct atom *a = &atoms[rnd(N_ATOMS)];
            if (!seize_utf8_valid(a->s, a->n) || memchr(a->s, '<', a->n) ||
                memchr(a->s, '[', a->n) || a->n == 0 || a->s[0] == '\0' ||
                (a->n > 1 && a->s[0] == ' '))
                continue;
            if (n && text[n - 1] == ' ' && strchr(".?!,'n", a->s[0])) continue;
            memcpy(text + n, a->s, a->n);
            n += a->n;
        }
        text[n] = 0;
        int32_t *ids;
        size_t n_ids;
        CHECK_EQ(seize_bpe_encode(t, text, n, &ids, &n_ids), 0);
        char *out;
        size_t len;
        int rc = seize_bpe_decode_n(t, ids, n_ids, 1, &out, &len);
        free(ids);
        CHECK_EQ(rc, 0);
        int same = len == n && !memcmp(out, text, n);
        free(out);
        CHECK_MSG(same, "round %d: \"%.*s\"", round, (int)(n < 200 ? n : 200), text);
    }
    seize_bpe_free(t);
}

static void expect_load_error(const char *dir, int code, const char *part1, const char *part2)
{
    seize_bpe *t = (seize_bpe *)1;
    int rc = seize_bpe_load(dir, &t);
    CHECK_MSG(rc == code, "%s: %d (%s)", dir, rc, seize_errmsg());
    CHECK(t == NULL);
    CHECK_MSG(strstr(seize_errmsg(), part1) && strstr(seize_errmsg(), part2), "message: %s",
              seize_errmsg());
}

static void test_load_errors(void)
{
    static const char v[] = "{\"a\": 0, \"b\": 1, \"ab\": 2}", m[] = "#v\na b\n";
    expect_load_error(small_folder("e1", NULL, m, NULL, NULL), SEIZE_EIO, "vocab.json", "");
    expect_load_error(small_folder("e2", v, NULL, NULL, NULL), SEIZE_EIO, "merges.txt", "");
    expect_load_error(small_folder("e3", "{\"a\": 0,", m, NULL, NULL), SEIZE_EFORMAT, "vocab.json",
                      "line 1");
    expect_load_error(small_folder("e4", "[1, 2]", m, NULL, NULL), SEIZE_EFORMAT, "vocab.json",
                      "object");
    expect_load_error(small_folder("e5", "{\"a\": 0, \"b\": 0}", m, NULL, NULL), SEIZE_EFORMAT,
                      "vocab.json", "id 0 is used twice");
    expect_load_error(small_folder("e6", "{\"a\": -1}", m, NULL, NULL), SEIZE_EFORMAT, "vocab.json",
                      "'a'");
    expect_load_error(small_folder("e7", "{\"a\": 1.5}", m, NULL, NULL), SEIZE_EFORMAT,
                      "vocab.json", "not an integer");
    expect_load_error(small_folder("e8", "{\"a\": 99999999999}", m, NULL, NULL), SEIZE_EFORMAT,
                      "vocab.json", "not an integer");
    expect_load_error(small_folder("e9", v, "#v\na b c\n", NULL, NULL), SEIZE_EFORMAT,
                      "merges.txt' line 2", "two symbols");
    expect_load_error(small_folder("e10", v, "#v\nab\n", NULL, NULL), SEIZE_EFORMAT,
                      "merges.txt' line 2", "two symbols");
    expect_load_error(small_folder("e11", v, "#v\na b\nb a\n", NULL, NULL), SEIZE_EFORMAT,
                      "merges.txt' line 3", "'ba' is not in the vocabulary");
    expect_load_error(small_folder("e12", v, "#v\na\xff b\n", NULL, NULL), SEIZE_EFORMAT,
                      "merges.txt", "UTF-8");
    expect_load_error(small_folder("e13", v, m, "{\"bos_token\": 5}", NULL), SEIZE_EFORMAT,
                      "tokenizer_config.json", "bos_token");
    expect_load_error(small_folder("e14", v, m, "{\"added_tokens_decoder\": {\"x\": {}}}", NULL),
                      SEIZE_EFORMAT, "tokenizer_config.json", "'x'");
    expect_load_error(small_folder("e15", v, m, "{\"added_tokens_decoder\": {\"7\": {}}}", NULL),
                      SEIZE_EFORMAT, "tokenizer_config.json", "content");
    expect_load_error(small_folder("e16", v, m, "{\"errors\": \"backslashreplace\"}", NULL),
                      SEIZE_EFORMAT, "tokenizer_config.json", "errors");
    expect_load_error(small_folder("e17", v, m, "{\"clean_up_tokenization_spaces\": 1}", NULL),
                      SEIZE_EFORMAT, "tokenizer_config.json", "clean_up_tokenization_spaces");
    expect_load_error(small_folder("e18", v, m, NULL, "{\"pad_token\": {\"content\": 3}}"),
                      SEIZE_EFORMAT, "special_tokens_map.json", "pad_token");
    expect_load_error(small_folder("e19", v, m, NULL, "{\"additional_special_tokens\": \"x\"}"),
                      SEIZE_EFORMAT, "special_tokens_map.json", "list");
    expect_load_error(small_folder("e20", v, m, "[]", NULL), SEIZE_EFORMAT, "tokenizer_config.json",
                      "object");
    expect_load_error(small_folder("e21", v, m, "{\"a\": ", NULL), SEIZE_EFORMAT,
                      "tokenizer_config.json", "line 1");
    expect_load_error(small_folder("e22", "{\"a\\u0000b\": 0}", m, NULL, NULL), SEIZE_EFORMAT,
                      "vocab.json", "NUL");
    expect_load_error(check_tmp("no-such-folder"), SEIZE_EIO, "no-such-folder", "vocab.json");
    seize_bpe *t = NULL;
    CHECK_EQ(seize_bpe_load(NULL, &t), SEIZE_EINVAL);
    // files that Python accepts load: blank merge lines, a header-only merges.txt, null tokens
    CHECK_EQ(seize_bpe_load(
                 small_folder("ok1", v, "#v\n\n  \na b\n", "{\"pad_token\": null}", NULL), &t),
             0);
    CHECK(encode_is(t, "abab", (const int32_t[]){2, 2}, 2));
    seize_bpe_free(t);
    // symbols longer than any stack buffer
    static char lv[2000], lm[700];
    char A[301], B[301];
    memset(A, 'a', 300), memset(B, 'b', 300);
    A[300] = B[300] = 0;
    snprintf(lv, sizeof lv, "{\"%s\": 0, \"%s\": 1}", A, B);
    snprintf(lm, sizeof lm, "#v\n%s %s\n", A, B);
    expect_load_error(small_folder("e23", lv, lm, NULL, NULL), SEIZE_EFORMAT, "merges.txt' line 2",
                      "bbb' is not in the vocabulary");
    snprintf(lv, sizeof lv, "{\"%s\": 0, \"%s\": 1, \"%s%s\": 2}", A, B, A, B);
    CHECK_EQ(seize_bpe_load(small_folder("ok3", lv, lm, NULL, NULL), &t), 0);
    seize_bpe_free(t);
    CHECK_EQ(seize_bpe_load(small_folder("ok2", "{}", "", NULL, NULL), &t), 0);
    CHECK_EQ(seize_bpe_vocab_size(t), 1); // only "<|endoftext|>", added as id 0
    CHECK(encode_is(t, "xyz", NULL, 0));
    seize_bpe_free(t);
}

// Encode and decode share nothing mutable: threads on one tokenizer give the one-thread results.
struct thread_job {
    const seize_bpe *t;
    int bad;
};

static void *thread_main(void *arg)
{
    struct thread_job *j = arg;
    for (int round = 0; round < 200 && !j->bad; round++) {
        const char *text =
            round % 2 ? "a photo of it's  \n singapore, 12 \xff </s>" : "b\xc3\xa9 x";
        const char *want =
            round % 2 ? "a photo of it's  \n singapore, 12 \xef\xbf\xbd </s>" : "b\xc3\xa9 x";
        int32_t *ids;
        size_t n;
        char *out;
        if (seize_bpe_encode(j->t, text, strlen(text), &ids, &n) < 0) {
            j->bad = 1;
            break;
        }
        int rc = seize_bpe_decode(j->t, ids, n, 0, &out);
        free(ids);
        j->bad = rc < 0 || strcmp(out, want) != 0;
        if (rc == 0) free(out);
    }
    return NULL;
}

static void test_threads(void)
{
    NEED_FIXTURES();
    seize_bpe *t = load_fixture("blip2/tiny364");
    CHECK(t);
    pthread_t th[4];
    struct thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct thread_job){t, 0};
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    seize_bpe_free(t);
    CHECK_EQ(bad, 0);
}

int main(void)
{
    if (check_tmp_init("bpe") < 0) return 1;
    RUN(test_fixture_prompt);
    RUN(test_fixture_captions);
    RUN(test_reference_fixture);
    RUN(test_reference_synthetic);
    RUN(test_merge_rounds);
    RUN(test_added_tokens);
    RUN(test_utf8_replace);
    RUN(test_clean_up);
    RUN(test_strip_py);
    RUN(test_roundtrip);
    RUN(test_load_errors);
    RUN(test_threads);
    check_tmp_cleanup();
    return check_summary("bpe");
}
