// Unit tests for src/text: the CLIP tokenizer against the golden fixture ids, the reference
// cleaning (expected strings are what the Python reference pipeline gives), UTF-8 repair,
// truncation, loaders and their errors, BPE against a naive reimplementation, threads.
#include "check.h"

#include "seize/core.h"
#include "seize/text.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

static seize_tokenizer *fixture_tok; // tiny-openai's vocab.json + merges.txt
static json_t *fixture_cases;        // tokens.jsonl

static int load_fixtures(void)
{
    if (fixture_tok) return 1;
    if (!check_fixtures()) return 0;
    if (seize_tokenizer_load(check_fixture_path("models/tiny-openai"), &fixture_tok) < 0) {
        fprintf(stderr, "  %s\n", seize_errmsg());
        return 0;
    }
    if (seize_jsonl_load(check_fixture_path("tokens.jsonl"), &fixture_cases) < 0) {
        fprintf(stderr, "  %s\n", seize_errmsg());
        return 0;
    }
    return 1;
}

// Compares ids with the fixture's "ids" array; returns the first differing position or -1.
static int diff_ids(const int32_t *ids, json_t *expected)
{
    for (int i = 0; i < SEIZE_CONTEXT; i++)
        if (ids[i] != json_integer_value(json_array_get(expected, (size_t)i))) return i;
    return -1;
}

static void encode_str(const seize_tokenizer *t, const char *s, size_t len, int32_t *ids)
{
    int rc = seize_tokenizer_encode(t, s, len, ids, SEIZE_CONTEXT);
    if (rc < 0) fprintf(stderr, "  encode failed: %s\n", seize_errmsg());
}

// --- golden fixtures ----------------------------------------------------------------------------

static void test_fixture_tokens(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    CHECK_EQ(json_array_size(fixture_cases), 73);
    CHECK_EQ(seize_tokenizer_vocab_size(fixture_tok), 49408);
    CHECK_EQ(seize_tokenizer_sot(fixture_tok), SEIZE_TOKEN_SOT);
    CHECK_EQ(seize_tokenizer_eot(fixture_tok), SEIZE_TOKEN_EOT);
    size_t i;
    json_t *c;
    int bad = 0;
    json_array_foreach(fixture_cases, i, c)
    {
        json_t *text = json_object_get(c, "text"), *ids = json_object_get(c, "ids");
        CHECK(json_is_string(text) && json_array_size(ids) == SEIZE_CONTEXT);
        int32_t got[SEIZE_CONTEXT];
        CHECK_EQ(seize_tokenizer_encode(fixture_tok, json_string_value(text),
                                        json_string_length(text), got, SEIZE_CONTEXT),
                 0);
        int d = diff_ids(got, ids);
        if (d >= 0) {
            fprintf(stderr, "  case %zu (%s): id %d is %d, expected %lld\n", i,
                    json_string_value(text), d, got[d],
                    json_integer_value(json_array_get(ids, (size_t)d)));
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
}

static void test_fixture_batch(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    size_t n = json_array_size(fixture_cases);
    const char **texts = calloc(n, sizeof *texts);
    int32_t *out = calloc(n * SEIZE_CONTEXT, sizeof *out);
    for (size_t i = 0; i < n; i++)
        texts[i] = json_string_value(json_object_get(json_array_get(fixture_cases, i), "text"));
    int rc = seize_tokenizer_encode_batch(fixture_tok, texts, n, SEIZE_CONTEXT, out);
    int bad = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        bad += diff_ids(out + i * SEIZE_CONTEXT,
                        json_object_get(json_array_get(fixture_cases, i), "ids")) >= 0;
    free(texts);
    free(out);
    CHECK_EQ(rc, 0);
    CHECK_EQ(bad, 0);
}

// --- special inputs
// -------------------------------------------------------------------------------

static void test_empty_and_context(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    int32_t ids[SEIZE_CONTEXT];
    encode_str(fixture_tok, "", 0, ids);
    CHECK_EQ(ids[0], 49406);
    CHECK_EQ(ids[1], 49407);
    for (int i = 2; i < SEIZE_CONTEXT; i++)
        CHECK_EQ(ids[i], 0);
    encode_str(fixture_tok, NULL, 0, ids); // no text at all is the empty text
    CHECK_EQ(ids[1], 49407);
    encode_str(fixture_tok, " \t\n\r\f\v ", 7, ids); // only whitespace
    CHECK_EQ(ids[1], 49407);
    CHECK_EQ(ids[2], 0);

    // "a dog with a hat" = 320 1929 593 320 3801 (fixture case 4)
    const char *s = "a dog with a hat";
    int32_t small[5];
    CHECK_EQ(seize_tokenizer_encode(fixture_tok, s, strlen(s), small, 5), 0);
    int32_t want5[5] = {49406, 320, 1929, 593, 49407};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(small[i], want5[i]);
    CHECK_EQ(seize_tokenizer_encode(fixture_tok, s, strlen(s), small, 2), 0);
    CHECK_EQ(small[0], 49406);
    CHECK_EQ(small[1], 49407);
    int32_t exact[7]; // exactly fits: no truncation, no padding
    CHECK_EQ(seize_tokenizer_encode(fixture_tok, s, strlen(s), exact, 7), 0);
    CHECK_EQ(exact[5], 3801);
    CHECK_EQ(exact[6], 49407);
    CHECK_EQ(seize_tokenizer_encode(fixture_tok, s, strlen(s), small, 1), SEIZE_EINVAL);
    CHECK_EQ(seize_tokenizer_encode(fixture_tok, NULL, 3, small, 5), SEIZE_EINVAL);

    // A long text keeps the first 75 content ids and ends with the end id at position 76.
    char long_text[4000] = "";
    for (int i = 0; i < 200; i++)
        strcat(long_text, "dog ");
    encode_str(fixture_tok, long_text, strlen(long_text), ids);
    CHECK_EQ(ids[0], 49406);
    for (int i = 1; i < 76; i++)
        CHECK_EQ(ids[i], 1929);
    CHECK_EQ(ids[76], 49407);
}

// Two texts must give the same ids.
static int same_ids(const char *a, size_t na, const char *b, size_t nb)
{
    int32_t x[SEIZE_CONTEXT], y[SEIZE_CONTEXT];
    encode_str(fixture_tok, a, na, x);
    encode_str(fixture_tok, b, nb, y);
    return memcmp(x, y, sizeof x) == 0;
}
#define SAME(a, b) same_ids(a, sizeof(a) - 1, b, sizeof(b) - 1)

static void test_invalid_utf8(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    // Each maximal ill-formed subsequence becomes one U+FFFD (EF BF BD), as in Python.
    CHECK(SAME("\xff", "\xef\xbf\xbd"));
    CHECK(SAME("a\x80z", "a\xef\xbf\xbdz"));
    CHECK(SAME("\xe2\x82", "\xef\xbf\xbd")); // truncated 3-byte
    CHECK(SAME("\xe2\x82x", "\xef\xbf\xbdx"));
    CHECK(SAME("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")); // surrogate: 3 units
    CHECK(SAME("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"));                 // overlong
    CHECK(SAME("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(SAME("\xf0\x9f\x90", "\xef\xbf\xbd")); // truncated 4-byte
    CHECK(!SAME("\xef\xbf\xbd", "x"));
    // NUL and other control characters are removed (ftfy), joining the letters around them.
    CHECK(SAME("do\0g", "dog"));
    CHECK(SAME("do\x01g\x7f", "dog"));
    // U+0345 matches no alternative of the split pattern (its uppercase is a letter).
    CHECK(SAME("x\xcd\x85y", "x y"));
    // Text that differs only by entities / quotes / width / ligatures.
    CHECK(SAME("\xef\xac\x81sh", "fish"));
    CHECK(SAME("A man\xe2\x80\x99s", "a man's"));
    CHECK(SAME("&lt;&amp;&gt;", "<&>"));
    CHECK(SAME("\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac", "full"));
}

static void test_special_strings(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    // open_clip's special strings in text give the special ids; other spellings do not.
    int32_t ids[SEIZE_CONTEXT];
    const char *s = "a <start_of_text> b <END_OF_TEXT>";
    encode_str(fixture_tok, s, strlen(s), ids);
    CHECK_EQ(ids[1], 320);
    CHECK_EQ(ids[2], 49406);
    CHECK_EQ(ids[4], 49407);
    CHECK_EQ(ids[5], 49407);
    s = "<|endoftext|>";
    encode_str(fixture_tok, s, strlen(s), ids);
    CHECK(ids[1] != 49407);
    // Contractions are pieces of their own; after a symbol run the apostrophe joins the run.
    CHECK(same_ids("it's", 4, "it 's", 5));
    CHECK(!same_ids("?'s", 3, "? 's", 4));
}

// --- cleaning
// -------------------------------------------------------------------------------------

static int clean_is(const char *in, size_t len, const char *want)
{
    char *out;
    size_t n;
    if (seize_text_clean(in, len, &out, &n) < 0) return 0;
    int ok = n == strlen(want) && memcmp(out, want, n) == 0;
    if (!ok) fprintf(stderr, "  clean(%s) = '%s', expected '%s'\n", in, out, want);
    free(out);
    return ok;
}
#define CLEAN_IS(in, want) clean_is(in, sizeof(in) - 1, want)

static void test_clean(void)
{
    // Expected strings are what open_clip's cleaning (ftfy 6 + html + str.lower) produces.
    CHECK(CLEAN_IS("A man\xe2\x80\x99s \xe2\x80\x9cred\xe2\x80\x9d hat", "a man's \"red\" hat"));
    CHECK(CLEAN_IS("\xef\xac\x81sh \xef\xac\x82ying \xef\xac\x85 \xc5\x89 \xc7\x84",
                   "fish flying \xc5\xbft 'n d\xc5\xbe"));
    CHECK(CLEAN_IS(
        "\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac\xe3\x80\x80x \xef\xbd\xb6\xef\xbe\x9e",
        "full x \xe3\x82\xac"));
    // ftfy decodes entities to a fixed point (and all-caps ones); html.unescape twice after.
    CHECK(CLEAN_IS("caf&eacute; &amp;amp;amp;lt; &EACUTE;", "caf\xc3\xa9 < \xc3\xa9"));
    // ... but not in a line with '<' nor in any line after it; html.unescape has no &EACUTE;.
    CHECK(CLEAN_IS("<&EACUTE; &amp;amp;", "<&eacute; &"));
    CHECK(CLEAN_IS("&EACUTE;\n<b>\n&EACUTE;", "\xc3\xa9 <b> &eacute;"));
    // numeric references: C1 range as Windows-1252, NUL as U+FFFD, invalid ones dropped
    CHECK(CLEAN_IS("&#x85;|&#0;|&#1;|&#x110000;|&#xD800;|&#65",
                   "\xe2\x80\xa6|\xef\xbf\xbd||\xef\xbf\xbd|\xef\xbf\xbd|a"));
    // named references without ';' and with a longer name (html.unescape's prefix rule)
    CHECK(CLEAN_IS("&amp &ampx; &notit; &lt", "& &x; \xc2\xacit; <"));
    // str.lower: final sigma, dotted capital I
    CHECK(CLEAN_IS("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91\xce\xa3. \xc4\xb0stanbul",
                   "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1\xcf\x82. i\xcc\x87stanbul"));
    // terminal escapes, C1 controls, line breaks, control characters, whitespace
    CHECK(CLEAN_IS("\x1b[31mred\x1b[0m \xc2\x85 x", "red \xe2\x80\xa6 x"));
    CHECK(CLEAN_IS("  a\r\nb\xe2\x80\xa8"
                   "c\xe3\x80\x80"
                   "d\xc2\xa0"
                   "e  ",
                   "a b c d e"));
    CHECK(clean_is("\0a\x01"
                   "b\xef\xbb\xbf"
                   "c\xe2\x80\x8b"
                   "d",
                   12,
                   "abc\xe2\x80\x8b"
                   "d"));
    // NFC
    CHECK(CLEAN_IS("e\xcc\x81 A\xcc\x8a", "\xc3\xa9 \xc3\xa5"));
    CHECK(CLEAN_IS("", ""));
}

// --- loaders
// ----------------------------------------------------------------------------------------

// open_clip's bytes_to_unicode: the symbol of each byte, as UTF-8.
static void byte_symbol(int b, char out[8])
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80)
        out[0] = (char)cp, out[1] = 0;
    else
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

// A small vocabulary: the 512 byte symbols, then `merges` (pairs of strings), then the specials.
// Writes vocab.json + merges.txt into `dir`.
static void write_vocab(const char *dir, const char *const (*merges)[2], size_t n_merges)
{
    json_t *v = json_object();
    int id = 0;
    char s[16];
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++) {
            byte_symbol(b, s);
            if (pass) strcat(s, "</w>");
            json_object_set_new(v, s, json_integer(id++));
        }
    char path[600];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "#version: 0.2\n");
    for (size_t k = 0; k < n_merges; k++) {
        char joined[256];
        snprintf(joined, sizeof joined, "%s%s", merges[k][0], merges[k][1]);
        if (!json_object_get(v, joined)) json_object_set_new(v, joined, json_integer(id++));
        fprintf(fp, "%s %s\n", merges[k][0], merges[k][1]);
    }
    fclose(fp);
    json_object_set_new(v, "<|startoftext|>", json_integer(id++));
    json_object_set_new(v, "<|endoftext|>", json_integer(id++));
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    json_dump_file(v, path, 0);
    json_decref(v);
}

static int load_fails_with(const char *dir, int code, const char *needle)
{
    seize_tokenizer *t = NULL;
    int rc = seize_tokenizer_load(dir, &t);
    if (rc != code || t || !strstr(seize_errmsg(), needle)) {
        fprintf(stderr, "  load('%s') = %d (%s), expected %d mentioning '%s'\n", dir, rc,
                seize_errmsg(), code, needle);
        seize_tokenizer_free(t);
        return 0;
    }
    return 1;
}

static void test_loader_errors(void)
{
    char d[512];
    snprintf(d, sizeof d, "%s", check_tmp("errs"));
    mkdir(d, 0755);
    CHECK(load_fails_with(check_tmp("nonexistent"), SEIZE_EIO, "nonexistent"));
    CHECK(load_fails_with(d, SEIZE_ENOTFOUND, "vocab.json"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 1,");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "vocab.json"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": \"x\"}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "vocab.json"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 0, \"b\": 0}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "used twice"));
    // a proper vocabulary, then broken merges
    const char *const ok[][2] = {{"a", "b</w>"}}; // ids: bytes 0..511, "ab</w>" 512, specials

    write_vocab(d, ok, 1);
    seize_tokenizer *t = NULL;
    CHECK_EQ(seize_tokenizer_load(d, &t), 0);
    seize_tokenizer_free(t);
    int32_t plain[8], escaped[8];
    CHECK_EQ(seize_tokenizer_load(d, &t), 0);
    seize_tokenizer_encode(t, "ab \xc3\xa9\"", 6, plain, 8);
    seize_tokenizer_free(t);
    // the same vocabulary written with \uXXXX escapes and indentation
    json_t *v = json_load_file(check_tmp("errs/vocab.json"), 0, NULL);
    CHECK(v != NULL);
    json_dump_file(v, check_tmp("errs/vocab.json"), JSON_ENSURE_ASCII | JSON_INDENT(2));
    json_decref(v);
    CHECK_EQ(seize_tokenizer_load(d, &t), 0);
    seize_tokenizer_encode(t, "ab \xc3\xa9\"", 6, escaped, 8);
    seize_tokenizer_free(t);
    CHECK(memcmp(plain, escaped, sizeof plain) == 0);
    CHECK_EQ(plain[0], 513);
    CHECK_EQ(plain[1], 512); // "ab" is one token
    // malformed JSON is reported with its position
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 0,\n \"\\ud800\": 1}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "line 2 column"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\\q\": 0}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "invalid escape"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 1.5}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "integer"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 0} x");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "after the object"));
    // empty files (mapped as NULL: no pointer arithmetic on it, found by fuzz_tokenize)
    check_write_text(check_tmp("errs/vocab.json"), "");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "vocab.json"));
    write_vocab(d, ok, 1);
    check_write_text(check_tmp("errs/merges.txt"), "");
    CHECK_EQ(seize_tokenizer_load(d, &t), 0);
    seize_tokenizer_free(t);
    write_vocab(d, ok, 1);
    unlink(check_tmp("errs/merges.txt"));
    CHECK(load_fails_with(d, SEIZE_EIO, "merges.txt"));
    check_write_text(check_tmp("errs/merges.txt"), "#version: 0.2\na b</w>\na b c\n");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "merges.txt' line 3"));
    check_write_text(check_tmp("errs/merges.txt"), "#version: 0.2\nq\xc3\x97 zz\n");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "not in the vocabulary"));
    check_write_text(check_tmp("errs/vocab.json"), "{\"a\": 0}");
    CHECK(load_fails_with(d, SEIZE_EFORMAT, "startoftext"));
    // a merges list named directly must have merges; a gzip file must be one
    CHECK(load_fails_with(check_tmp("errs/vocab.json"), SEIZE_EFORMAT, "no merges"));
    check_write_text(check_tmp("errs/bad.txt.gz"), "\x1f\x8b\x08\x00garbage");
    CHECK(seize_tokenizer_load(check_tmp("errs/bad.txt.gz"), &t) < 0);
    CHECK(t == NULL);
}

// open_clip's own file: merges lines 1..48894 of a gzip file, vocabulary built from them.
static void test_openclip_gz(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    char *merges;
    size_t len;
    CHECK_EQ(seize_read_file(check_fixture_path("models/tiny-openai/merges.txt"), &merges, &len),
             0);
    char d[512];
    snprintf(d, sizeof d, "%s", check_tmp("oc"));
    mkdir(d, 0755);
    gzFile gz = gzopen(check_tmp("oc/bpe_simple_vocab_16e6.txt.gz"), "wb");
    CHECK(gz != NULL);
    // the fixture's merges.txt is a header plus exactly the 48894 merges; lines after those are
    // ignored by open_clip, so add some that would be errors if they were read
    gzwrite(gz, merges, (unsigned)len);
    gzputs(gz, "this line is ignored\nso is this one\n");
    gzclose(gz);
    free(merges);
    seize_tokenizer *t = NULL;
    int rc = seize_tokenizer_load(d, &t);
    if (rc < 0) fprintf(stderr, "  %s\n", seize_errmsg());
    CHECK_EQ(rc, 0);
    CHECK_EQ(seize_tokenizer_vocab_size(t), 49408);
    CHECK_EQ(seize_tokenizer_sot(t), 49406);
    CHECK_EQ(seize_tokenizer_eot(t), 49407);
    size_t i;
    json_t *c;
    int bad = 0;
    json_array_foreach(fixture_cases, i, c)
    {
        json_t *text = json_object_get(c, "text");
        int32_t got[SEIZE_CONTEXT];
        rc = seize_tokenizer_encode(t, json_string_value(text), json_string_length(text), got,
                                    SEIZE_CONTEXT);
        bad += rc < 0 || diff_ids(got, json_object_get(c, "ids")) >= 0;
    }
    seize_tokenizer_free(t);
    CHECK_EQ(bad, 0);
    // the file itself may be named instead of its folder
    CHECK_EQ(seize_tokenizer_load(check_tmp("oc/bpe_simple_vocab_16e6.txt.gz"), &t), 0);
    seize_tokenizer_free(t);
}

// --- BPE against a naive reimplementation -----------------------------------------------------

#define NAIVE_MAX 256
static char naive_sym[NAIVE_MAX][64];

// open_clip's bpe(): symbols as strings, lowest-ranked pair merged everywhere, repeat.
static int naive_bpe(const char *word, const char *const (*merges)[2], int n_merges)
{
    int n = (int)strlen(word);
    for (int i = 0; i < n; i++) {
        naive_sym[i][0] = word[i];
        naive_sym[i][1] = 0;
    }
    strcat(naive_sym[n - 1], "</w>");
    while (n > 1) {
        int best = -1;
        for (int i = 0; i + 1 < n; i++)
            for (int r = n_merges - 1; r >= 0; r--) // the last rank of a repeated pair counts
                if (!strcmp(naive_sym[i], merges[r][0]) &&
                    !strcmp(naive_sym[i + 1], merges[r][1])) {
                    if (best < 0 || r < best) best = r;
                    break;
                }
        if (best < 0) break;
        int o = 0;
        for (int i = 0; i < n;) {
            if (i + 1 < n && !strcmp(naive_sym[i], merges[best][0]) &&
                !strcmp(naive_sym[i + 1], merges[best][1])) {
                snprintf(naive_sym[o], sizeof naive_sym[o], "%s%s", merges[best][0],
                         merges[best][1]);
                o++;
                i += 2;
            } else {
                if (o != i) memmove(naive_sym[o], naive_sym[i], sizeof naive_sym[o]);
                o++;
                i++;
            }
        }
        n = o;
    }
    return n;
}

static void test_bpe_random(void)
{
    // Random merges over a 3-letter alphabet (rank order deliberately arbitrary, repeated pairs
    // included), random words up to 200 letters: short words take the direct loop, long ones
    // the heap; both must agree with the naive algorithm.
    enum { N_MERGES = 60 };
    static char store[N_MERGES][2][32];
    static const char *merges[N_MERGES][2];
    char pool[200][64];
    int n_pool = 0;
    const char *base[] = {"a", "b", "c", "a</w>", "b</w>", "c</w>"};
    for (int i = 0; i < 6; i++)
        strcpy(pool[n_pool++], base[i]);
    unsigned seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (int k = 0; k < N_MERGES; k++) {
        const char *l, *r;
        do { // the left part never ends a word, so it must not contain "</w>"
            l = pool[RND() % n_pool];
            r = pool[RND() % n_pool];
        } while (strstr(l, "</w>") || strlen(l) + strlen(r) >= 30);
        strcpy(store[k][0], l);
        strcpy(store[k][1], r);
        merges[k][0] = store[k][0];
        merges[k][1] = store[k][1];
        snprintf(pool[n_pool], sizeof pool[n_pool], "%s%s", store[k][0], store[k][1]);
        n_pool++;
    }
    char d[512];
    snprintf(d, sizeof d, "%s", check_tmp("rand"));
    mkdir(d, 0755);
    write_vocab(d, merges, N_MERGES);
    seize_tokenizer *t = NULL;
    int rc = seize_tokenizer_load(d, &t);
    if (rc < 0) fprintf(stderr, "  %s\n", seize_errmsg());
    CHECK_EQ(rc, 0);
    json_t *vocab = json_load_file(check_tmp("rand/vocab.json"), 0, NULL);
    CHECK(vocab != NULL);
    int bad = 0;
    for (int trial = 0; trial < 400 && !bad; trial++) {
        int len = 1 + (int)(RND() % (trial < 300 ? 60 : 200));
        char word[256];
        for (int i = 0; i < len; i++)
            word[i] = (char)('a' + RND() % 3);
        word[len] = 0;
        int n = naive_bpe(word, merges, N_MERGES);
        int32_t *ids = malloc((size_t)(len + 2) * sizeof *ids);
        seize_tokenizer_encode(t, word, (size_t)len, ids, len + 2);
        for (int i = 0; i < n; i++) {
            json_int_t want = json_integer_value(json_object_get(vocab, naive_sym[i]));
            if (ids[1 + i] != want) bad = 1;
        }
        if (ids[1 + n] != seize_tokenizer_eot(t)) bad = 1;
        if (bad) fprintf(stderr, "  word %s (length %d) differs from the naive BPE\n", word, len);
        free(ids);
    }
    json_decref(vocab);
    seize_tokenizer_free(t);
    CHECK_EQ(bad, 0);
}

// --- threads
// ------------------------------------------------------------------------------------------

struct thread_arg {
    const seize_tokenizer *t;
    int offset, bad;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    size_t n = json_array_size(fixture_cases);
    for (int rep = 0; rep < 20; rep++)
        for (size_t k = 0; k < n; k++) {
            json_t *c = json_array_get(fixture_cases, (k + (size_t)a->offset) % n);
            json_t *text = json_object_get(c, "text");
            int32_t got[SEIZE_CONTEXT];
            if (seize_tokenizer_encode(a->t, json_string_value(text), json_string_length(text), got,
                                       SEIZE_CONTEXT) < 0 ||
                diff_ids(got, json_object_get(c, "ids")) >= 0)
                a->bad++;
        }
    return NULL;
}

static void test_threads(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    // a fresh tokenizer, so that the threads race to fill the cache
    seize_tokenizer *t = NULL;
    CHECK_EQ(seize_tokenizer_load(check_fixture_path("models/tiny-openai"), &t), 0);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){t, i * 17, 0};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    seize_tokenizer_free(t);
    CHECK_EQ(bad, 0);
}

// --- texts as lines: the length limit, seize tokenize's output

static void test_texts_check_length(void)
{
    char *big = malloc(SEIZE_TEXT_MAX_BYTES + 2);
    CHECK(big != NULL);
    memset(big, 'x', SEIZE_TEXT_MAX_BYTES);
    big[SEIZE_TEXT_MAX_BYTES] = 0;
    const char *texts[3] = {"a", big, ""};
    int at_limit = seize_texts_check_length(texts, 3, NULL);
    strcpy(big + SEIZE_TEXT_MAX_BYTES, "y");
    int over = seize_texts_check_length(texts, 3, NULL);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", seize_errmsg());
    int over_file = seize_texts_check_length(texts, 3, "in.txt");
    free(big);
    CHECK_EQ(at_limit, 0);
    CHECK_EQ(over, SEIZE_EINVAL);
    CHECK_STREQ(msg, "text 2: 65537 bytes, more than the limit of 65536 per text");
    CHECK_EQ(over_file, SEIZE_EINVAL);
    CHECK_STREQ(seize_errmsg(),
                "'in.txt' line 2: 65537 bytes, more than the limit of 65536 per text");
}

// Runs seize_tokenize_file on `input` written to a file; the output in *out (heap).
static int tokenize_text(const char *input, const seize_tokenize_opts *o, char **out)
{
    size_t len = 0;
    check_write_text(check_tmp("tok-in.txt"), input);
    FILE *fp = open_memstream(out, &len);
    if (!fp) return -1;
    int rc = seize_tokenize_file(fixture_tok, check_tmp("tok-in.txt"), o, fp);
    fclose(fp);
    return rc;
}

static void test_tokenize_lines(void)
{
    NEED_FIXTURES();
    CHECK(load_fixtures());
    seize_tokenize_opts o = {.context = 8};
    char *out = NULL;
    // plain lines: CRLF, an empty line
    CHECK_EQ(tokenize_text("a dog with a hat\r\n\n", &o, &out), 0);
    CHECK_STREQ(out, "[49406, 320, 1929, 593, 320, 3801, 49407, 0]\n"
                     "[49406, 49407, 0, 0, 0, 0, 0, 0]\n");
    free(out);
    // JSON Lines: a string, an object, a blank line skipped; --clean's JSON strings
    o.jsonl = 1, o.clean = 1;
    CHECK_EQ(tokenize_text("\"A\\nB\"\n  \n{\"text\": \"Dog\\t\\u0001\"}\n", &o, &out), 0);
    CHECK_STREQ(out, "\"a b\"\n\"dog\"\n");
    free(out);
    o.clean = 0;
    CHECK_EQ(tokenize_text("{\"txt\": 1}\n", &o, &out), SEIZE_EFORMAT);
    free(out);
    CHECK(strstr(seize_errmsg(), "tok-in.txt' line 1: expected a JSON string or {\"text\": ...}"));
    // a line over the limit: named, the rest not read
    char *big = malloc(SEIZE_TEXT_MAX_BYTES + 8);
    CHECK(big != NULL);
    memset(big, 'z', SEIZE_TEXT_MAX_BYTES + 1);
    strcpy(big + SEIZE_TEXT_MAX_BYTES + 1, "\n");
    o.jsonl = 0;
    int rc = tokenize_text(big, &o, &out);
    free(big);
    free(out);
    CHECK_EQ(rc, SEIZE_EINVAL);
    CHECK_MSG(strstr(seize_errmsg(), "line 1: longer than the limit of 65536 bytes per text"), "%s",
              seize_errmsg());
    // not a regular file
    FILE *fp = open_memstream(&out, &(size_t){0});
    CHECK(fp != NULL);
    rc = seize_tokenize_file(fixture_tok, "/dev/zero", &o, fp);
    fclose(fp);
    free(out);
    CHECK(rc < 0 && strstr(seize_errmsg(), "/dev/zero"));
}

int main(void)
{
    if (check_tmp_init("text") < 0) return 1;
    RUN(test_fixture_tokens);
    RUN(test_fixture_batch);
    RUN(test_empty_and_context);
    RUN(test_invalid_utf8);
    RUN(test_special_strings);
    RUN(test_clean);
    RUN(test_loader_errors);
    RUN(test_openclip_gz);
    RUN(test_bpe_random);
    RUN(test_threads);
    RUN(test_texts_check_length);
    RUN(test_tokenize_lines);
    seize_tokenizer_free(fixture_tok);
    json_decref(fixture_cases);
    check_tmp_cleanup();
    return check_summary("text");
}
