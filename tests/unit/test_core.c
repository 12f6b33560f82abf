// Unit tests for src/core: errors, containers, files, .npy, JSON, thread pool.
#include "check.h"

#include "seize/core.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    fwrite(data, 1, n, fp);
    fclose(fp);
}

static void test_error_messages(void)
{
    int rc = seize_error(SEIZE_EIO, "cannot open '%s': %s", "x.jpg", "gone");
    CHECK_EQ(rc, SEIZE_EIO);
    CHECK_STREQ(seize_errmsg(), "cannot open 'x.jpg': gone");
    seize_error_prefix(rc, "loading model");
    CHECK_STREQ(seize_errmsg(), "loading model: cannot open 'x.jpg': gone");
    size_t out;
    CHECK(seize_mul_size(SIZE_MAX / 2, 3, &out) == SEIZE_ENOMEM);
    CHECK(seize_malloc(SIZE_MAX / 2, 3) == NULL);
}

static void test_npy_roundtrip(void)
{
    float v[6] = {1, -2.5f, 3, 0.125f, 65504, -0.0f};
    size_t shape[2] = {2, 3};
    CHECK_EQ(seize_npy_save(check_tmp("a.npy"), SEIZE_F32, 2, shape, v), 0);
    seize_npy *a;
    CHECK_EQ(seize_npy_load(check_tmp("a.npy"), &a), 0);
    CHECK_EQ(a->ndim, 2);
    CHECK_EQ(a->shape[0], 2);
    CHECK_EQ(a->shape[1], 3);
    CHECK(memcmp(a->data, v, sizeof v) == 0);
    seize_npy_free(a);
    // f16 through the streaming writer
    uint16_t h[6];
    for (int i = 0; i < 6; i++)
        h[i] = seize_f32_to_f16(v[i]);
    seize_npy_writer *w;
    CHECK_EQ(seize_npy_writer_open(check_tmp("h.npy"), SEIZE_F16, 2, 3, &w), 0);
    CHECK_EQ(seize_npy_writer_rows(w, h, 1), 0);
    CHECK_EQ(seize_npy_writer_rows(w, h + 3, 1), 0);
    CHECK_EQ(seize_npy_writer_close(w), 0);
    CHECK_EQ(seize_npy_load(check_tmp("h.npy"), &a), 0);
    CHECK_EQ(a->dtype, SEIZE_F16);
    float *f = seize_npy_f32(a);
    CHECK(f != NULL);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(f[i], v[i], 0);
    seize_npy_free(a);
    // a writer closed early leaves no file
    CHECK_EQ(seize_npy_writer_open(check_tmp("short.npy"), SEIZE_F32, 2, 3, &w), 0);
    CHECK_EQ(seize_npy_writer_rows(w, v, 1), 0);
    CHECK(seize_npy_writer_close(w) < 0);
    CHECK(!seize_path_exists(check_tmp("short.npy")));
}

static void test_npy_numpy_compat(void)
{
    // A header exactly as numpy writes it (v1.0, 64-byte aligned), and a v2.0 header.
    const char *hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    uint8_t buf[128 + 12];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t hl = 118; // 10 + 118 = 128
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memcpy(buf + 10, hdr, strlen(hdr));
    buf[127] = '\n';
    float v[3] = {1, 2, 3};
    memcpy(buf + 128, v, 12);
    seize_npy *a;
    CHECK_EQ(seize_npy_parse(buf, sizeof buf, "mem", &a), 0);
    CHECK_EQ(a->ndim, 1);
    CHECK_EQ(a->shape[0], 3);
    CHECK(memcmp(a->data, v, 12) == 0);
    seize_npy_free(a);
    // v2
    uint8_t b2[140];
    memset(b2, ' ', sizeof b2);
    memcpy(b2, "\x93NUMPY\x02\x00", 8);
    uint32_t hl2 = 116;
    memcpy(b2 + 8, &hl2, 4);
    memcpy(b2 + 12, hdr, strlen(hdr));
    b2[127] = '\n';
    memcpy(b2 + 128, v, 12);
    CHECK_EQ(seize_npy_parse(b2, sizeof b2, "mem2", &a), 0);
    seize_npy_free(a);
}

static void test_npy_bad(void)
{
    seize_npy *a = NULL;
    CHECK(seize_npy_parse("hello", 5, "bad.npy", &a) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "bad.npy") != NULL);
    float v[4] = {0};
    size_t shape[2] = {2, 2};
    CHECK_EQ(seize_npy_save(check_tmp("t.npy"), SEIZE_F32, 2, shape, v), 0);
    char *buf;
    size_t len;
    CHECK_EQ(seize_read_file(check_tmp("t.npy"), &buf, &len), 0);
    // truncated data
    CHECK(seize_npy_parse(buf, len - 1, "trunc.npy", &a) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "truncated") != NULL);
    // absurd header length
    buf[8] = (char)0xff;
    buf[9] = (char)0xff;
    CHECK(seize_npy_parse(buf, len, "hlen.npy", &a) == SEIZE_EFORMAT);
    free(buf);
    // unsupported dtype and fortran order
    const char *bad[] = {
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, }"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[200];
        memset(b, ' ', sizeof b);
        memcpy(b, "\x93NUMPY\x01\x00", 8);
        b[8] = 118;
        b[9] = 0;
        memcpy(b + 10, bad[i], strlen(bad[i]));
        b[127] = '\n';
        CHECK_MSG(seize_npy_parse(b, 132, "bad.npy", &a) == SEIZE_EFORMAT, "case %zu", i);
    }
    CHECK(seize_npy_load(check_tmp("missing.npy"), &a) == SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "missing.npy") != NULL);
}

static void test_f16(void)
{
    CHECK_EQ(seize_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ(seize_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ(seize_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ(seize_f32_to_f16(1e6f), 0x7c00);
    CHECK_NEAR(seize_f16_to_f32(0x0001), 5.9604645e-8, 1e-15); // smallest subnormal
    // every finite half round-trips
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        CHECK_EQ(seize_f32_to_f16(seize_f16_to_f32((uint16_t)h)), h);
    }
    CHECK_NEAR(seize_bf16_to_f32(0x3f80), 1.0, 0);
}

static void test_files(void)
{
    CHECK_EQ(seize_write_file_atomic(check_tmp("f.txt"), "a\nbb\r\n\nccc", 10), 0);
    char **lines;
    size_t n;
    CHECK_EQ(seize_read_lines(check_tmp("f.txt"), &lines, &n), 0);
    CHECK_EQ(n, 4);
    CHECK_STREQ(lines[0], "a");
    CHECK_STREQ(lines[1], "bb");
    CHECK_STREQ(lines[2], "");
    CHECK_STREQ(lines[3], "ccc");
    seize_lines_free(lines, n);
    CHECK_EQ(seize_mkdirs(check_tmp("x/y/z")), 0);
    CHECK(seize_path_exists(check_tmp("x/y/z")));
    seize_map m;
    CHECK(seize_map_open(check_tmp("x"), &m) == SEIZE_EIO); // a folder
    CHECK(strstr(seize_errmsg(), "not a regular file") != NULL);
    write_bytes(check_tmp("empty"), "", 0);
    CHECK_EQ(seize_map_open(check_tmp("empty"), &m), 0);
    CHECK_EQ(m.size, 0);
    seize_map_close(&m);
}

static void test_special_files(void)
{
    // A FIFO with no writer must be refused at once (not block), /dev/zero refused, a size
    // limit enforced.
    CHECK_EQ(mkfifo(check_tmp("fifo"), 0600), 0);
    char *buf;
    size_t n;
    CHECK(seize_read_file(check_tmp("fifo"), &buf, &n) == SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "FIFO") != NULL);
    seize_map m;
    CHECK(seize_map_open(check_tmp("fifo"), &m) == SEIZE_EIO);
    CHECK(seize_read_file("/dev/zero", &buf, &n) == SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), "character device") != NULL);
    uint8_t d[32];
    CHECK(seize_sha256_file("/dev/zero", d) == SEIZE_EIO);
    write_bytes(check_tmp("big"), "0123456789", 10);
    CHECK(seize_read_file_max(check_tmp("big"), 9, &buf, &n) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "limit of 9") != NULL);
    CHECK_EQ(seize_read_file_max(check_tmp("big"), 10, &buf, &n), 0);
    CHECK_EQ(n, 10);
    free(buf);
}

static void test_utf8(void)
{
    CHECK(seize_utf8_valid("abc", 3));
    CHECK(seize_utf8_valid("r\xc3\xa9sum\xc3\xa9", 8));
    CHECK(seize_utf8_valid("\xf0\x9f\x90\xb6", 4));
    CHECK(!seize_utf8_valid("r\xe9sum\xe9", 6));     // Latin-1
    CHECK(!seize_utf8_valid("\xc0\xaf", 2));         // overlong '/'
    CHECK(!seize_utf8_valid("\xed\xa0\x80", 3));     // surrogate
    CHECK(!seize_utf8_valid("\xf4\x90\x80\x80", 4)); // past U+10FFFF
    CHECK(!seize_utf8_valid("\xc3", 1));             // truncated
}

static void test_locks(void)
{
    seize_lock a, b;
    CHECK_EQ(seize_lock_dir(check_tmpdir, "scratch folder", &a), 0);
    // flock locks belong to the open file description: a second open in this process
    // conflicts just as another process would.
    CHECK(seize_lock_dir(check_tmpdir, "scratch folder", &b) == SEIZE_EBUSY);
    CHECK(strstr(seize_errmsg(), "scratch folder is in use by another seize process") != NULL);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK(strstr(seize_errmsg(), pid) != NULL);
    seize_lock_release(&a);
    seize_lock_release(&a);                              // twice is fine
    CHECK(!seize_path_exists(check_tmp(".seize.lock"))); // removed on release
    CHECK_EQ(seize_lock_dir(check_tmpdir, "scratch folder", &b), 0);
    CHECK(seize_path_exists(check_tmp(".seize.lock")));
    seize_lock_release(&b);
    CHECK(!seize_path_exists(check_tmp(".seize.lock")));
}

static void test_tmp_cleanup(void)
{
    seize_atomic at;
    CHECK_EQ(seize_atomic_open(check_tmp("out.bin"), &at), 0);
    fputs("partial", at.fp);
    fflush(at.fp);
    CHECK(seize_path_exists(at.tmp));
    seize_tmp_unlink_all(); // as a signal handler would
    CHECK(!seize_path_exists(at.tmp));
    seize_atomic_abort(&at);
    CHECK(!seize_path_exists(check_tmp("out.bin")));
}

static void test_json(void)
{
    write_bytes(check_tmp("bad.json"), "{\"a\": 1,\n \"b\": }", 16);
    json_t *j;
    CHECK(seize_json_load(check_tmp("bad.json"), &j) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "bad.json") != NULL);
    CHECK(strstr(seize_errmsg(), "line 2") != NULL);
    write_bytes(check_tmp("a.jsonl"), "{\"a\": 1}\n\n{\"a\": 2}\r\n", 20);
    CHECK_EQ(seize_jsonl_load(check_tmp("a.jsonl"), &j), 0);
    CHECK_EQ(json_array_size(j), 2);
    json_decref(j);
    write_bytes(check_tmp("b.jsonl"), "{\"a\": 1}\n{oops}\n", 16);
    CHECK(seize_jsonl_load(check_tmp("b.jsonl"), &j) == SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "line 2") != NULL);
}

static void add_square(void *ctx, size_t i, int thread)
{
    long *out = ctx;
    out[i] = (long)(i * i);
}

static void test_pool(void)
{
    seize_pool *p;
    CHECK_EQ(seize_pool_new(3, &p), 0);
    long out[1000];
    for (int rep = 0; rep < 20; rep++) {
        memset(out, 0, sizeof out);
        seize_pool_for(p, 1000, add_square, out);
        for (long i = 0; i < 1000; i++)
            CHECK_EQ(out[i], i * i);
    }
    seize_pool_free(p);
}

// seize_pool_start/wait: the workers run the loop while the caller does other work; the caller
// joins in at wait; idle pools, one-thread pools and a free after a start all finish the loop.
static void test_pool_start_wait(void)
{
    int threads[] = {1, 2, 4};
    for (int t = 0; t < 3; t++)
        for (int flags = 0; flags < 2; flags++) {
            seize_pool *p;
            CHECK_EQ(seize_pool_new_ex(threads[t], flags ? SEIZE_POOL_IDLE : 0, &p), 0);
            long out[500];
            for (int rep = 0; rep < 10; rep++) {
                memset(out, 0, sizeof out);
                seize_pool_start(p, 500, add_square, out);
                long mine = 0;
                for (long i = 0; i < 100000; i++)
                    mine += i & 1; // the caller's own work
                seize_pool_wait(p);
                CHECK_EQ(mine, 50000);
                for (long i = 0; i < 500; i++)
                    CHECK_EQ(out[i], i * i);
            }
            seize_pool_wait(p); // nothing started: no-op
            memset(out, 0, sizeof out);
            seize_pool_start(p, 500, add_square, out);
            seize_pool_free(p); // waits for the started loop
            for (long i = 0; i < 500; i++)
                CHECK_EQ(out[i], i * i);
        }
}

static void test_blas_threads(void)
{
    int was = seize_blas_threads();
    CHECK(was >= 1);
    seize_blas_threads_set(1);
    CHECK_EQ(seize_blas_threads(), 1);
    seize_blas_threads_set(0); // the cores
    CHECK_EQ(seize_blas_threads(), seize_cpu_count());
    seize_blas_threads_set(was);
    CHECK_EQ(seize_blas_threads(), was);
}

static void test_strmap(void)
{
    seize_strmap m = {0};
    size_t v = 99;
    CHECK_EQ(seize_strmap_get(&m, "x", &v), 0); // a zeroed map is empty
    char keys[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CHECK_EQ(seize_strmap_put(&m, keys[i], (size_t)i * 3, NULL), 0); // grows from zero
    }
    CHECK_EQ(seize_strmap_count(&m), 1000);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(seize_strmap_get(&m, keys[i], &v), 1);
        CHECK_EQ(v, (size_t)i * 3);
    }
    size_t old = 0;
    CHECK_EQ(seize_strmap_put(&m, "k7", 1, &old), 1); // present: unchanged, old value back
    CHECK_EQ(old, 21);
    CHECK_EQ(seize_strmap_get(&m, "k7", &v), 1);
    CHECK_EQ(v, 21);
    CHECK_EQ(seize_strmap_get(&m, "k1000", NULL), 0);
    CHECK_EQ(seize_strmap_get(&m, "", NULL), 0);
    seize_strmap_free(&m);
    seize_strmap_free(&m); // twice is fine (zeroed)
    CHECK_EQ(seize_strmap_init(&m, 3), 0);
    CHECK_EQ(seize_strmap_put(&m, "", 5, NULL), 0); // the empty string is a key like any other
    CHECK_EQ(seize_strmap_get(&m, "", &v), 1);
    CHECK_EQ(v, 5);
    seize_strmap_free(&m);
    CHECK(seize_strmap_init(&m, SIZE_MAX / 2) == SEIZE_ENOMEM); // no overflow, a clear error
    CHECK(strstr(seize_errmsg(), "too large") || strstr(seize_errmsg(), "out of memory"));
}

static void test_strvec(void)
{
    seize_strvec sv = {0};
    size_t n = 7;
    CHECK(seize_strvec_release(&sv, &n) == NULL && n == 0);
    for (int i = 0; i < 100; i++) {
        char b[16];
        snprintf(b, sizeof b, "s%d", i);
        CHECK_EQ(seize_strvec_push(&sv, b), 0);
    }
    CHECK_EQ(seize_strvec_pushn(&sv, "abcdef", 3), 0);
    CHECK_EQ(seize_strvec_push_owned(&sv, seize_strdup("owned")), 0);
    CHECK_EQ(seize_strvec_push_owned(&sv, NULL), SEIZE_ENOMEM); // a failed strdup passes through
    CHECK_EQ(sv.n, 102);
    CHECK_STREQ(sv.v[0], "s0");
    CHECK_STREQ(sv.v[99], "s99");
    CHECK_STREQ(sv.v[100], "abc");
    CHECK_STREQ(sv.v[101], "owned");
    char **v = seize_strvec_release(&sv, &n);
    CHECK(sv.v == NULL && sv.n == 0 && n == 102);
    CHECK_STREQ(v[1], "s1");
    seize_strv_free(v, n);
    seize_strv_free(NULL, 3);
    CHECK_EQ(seize_strvec_push(&sv, "x"), 0);
    seize_strvec_free(&sv);
    CHECK(sv.v == NULL && sv.n == 0);
}

// seize_buf_vprintf: a va_list used once by the caller's own printf wrapper (as layout.c's).
static int buf_vadd(seize_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_vadd(seize_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = seize_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

// seize_str_printf: a new string ("" for empty output), seize_buf_vprintf appends.
static void test_str_printf(void)
{
    char *s = seize_str_printf("%s/%d %.1f", "dir", 42, 1.5);
    CHECK_STREQ(s, "dir/42 1.5");
    free(s);
    s = seize_str_printf("%s", "");
    CHECK(s != NULL);
    CHECK_STREQ(s, "");
    free(s);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    seize_buf b = {0};
    CHECK_EQ(buf_vadd(&b, "a%s", big), 0); // past the first 64 bytes: the list is used twice
    CHECK_EQ(buf_vadd(&b, "-%d", 7), 0);
    CHECK_EQ(b.len, 1 + 299 + 2);
    CHECK(b.data[0] == 'a' && b.data[299] == 'x' && !strcmp(b.data + 300, "-7"));
    seize_buf_free(&b);
}

static void test_buf(void)
{
    seize_buf b = {0};
    CHECK(seize_buf_release(&b) == NULL);
    CHECK_EQ(seize_buf_puts(&b, ""), 0);
    CHECK_STREQ(b.data, ""); // NUL-terminated once anything was added
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(seize_buf_printf(&b, "%d,", i % 10), 0);
    CHECK_EQ(b.len, 2000);
    CHECK_EQ(b.data[2000], 0);
    CHECK(!strncmp(b.data, "0,1,2,", 6));
    CHECK_EQ(seize_buf_append(&b, "\0z", 2), 0); // binary data
    CHECK_EQ(b.len, 2002);
    CHECK_EQ(b.data[2001], 'z');
    size_t cap = b.cap, len = b.len;
    CHECK_EQ(seize_buf_reserve(&b, SIZE_MAX - 1), SEIZE_ENOMEM); // overflow: refused, unchanged
    CHECK(b.cap == cap && b.len == len && b.data[len] == 0);
    char *s = seize_buf_release(&b);
    CHECK(b.data == NULL && b.len == 0);
    CHECK(!strncmp(s, "0,1,", 4));
    free(s);
    CHECK_EQ(seize_buf_puts(&b, "abc"), 0);
    seize_buf_free(&b);
    CHECK(b.data == NULL);
}

static void test_json_names(void)
{
    json_t *a = json_loads("[\"x\", 12, -3, \"\"]", 0, NULL);
    char **v = NULL, *one = NULL;
    size_t n = 0;
    CHECK_EQ(seize_json_name_list(a, &v, &n), 0);
    CHECK_EQ(n, 4);
    CHECK_STREQ(v[0], "x");
    CHECK_STREQ(v[1], "12");
    CHECK_STREQ(v[2], "-3");
    CHECK_STREQ(v[3], "");
    seize_strv_free(v, n);
    CHECK_EQ(seize_json_name(json_array_get(a, 1), &one), 0);
    CHECK_STREQ(one, "12");
    free(one);
    json_decref(a);
    a = json_loads("[\"x\", 1.5]", 0, NULL);
    CHECK_EQ(seize_json_name_list(a, &v, &n), -1);
    CHECK(v == NULL && n == 0);
    CHECK_EQ(seize_json_name(a, &one), -1);
    CHECK(one == NULL);
    json_decref(a);
}

// check.h: named cases run alone (arguments or $CHECK_ONLY); an unknown name fails.
static int run_self(const char *args, const char *env, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s /proc/%d/exe %s 2>&1", env, (int)getpid(), args);
    FILE *fp = popen(cmd, "r");
    if (!fp) return -1;
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = 0;
    int st = pclose(fp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_check_select(void)
{
    if (getenv("CHECK_ONLY")) SKIP("running under a selection");
    char out[8192];
    CHECK_EQ(run_self("test_utf8 test_f16", "CHECK_ONLY=", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "# core: 2 passed, 0 failed, 0 skipped"), "%s", out);
    CHECK(strstr(out, "ok   test_utf8") && strstr(out, "ok   test_f16") &&
          !strstr(out, "test_pool"));
    CHECK_EQ(run_self("", "CHECK_ONLY=test_pool,test_utf8", out, sizeof out), 0);
    CHECK_MSG(strstr(out, "# core: 2 passed, 0 failed, 0 skipped"), "%s", out);
    CHECK_EQ(run_self("test_utf8 test_no_such", "CHECK_ONLY=", out, sizeof out), 1);
    CHECK_MSG(strstr(out, "no test case named 'test_no_such'"), "%s", out);
    CHECK(strstr(out, "1 passed, 1 failed"));
}

static seize_cancel sig_token;
static void on_test_signal(int sig)
{
    seize_cancel_request(&sig_token, sig);
}

// seize_cancel: levels 1 and 2, the first signal kept, requests from a real signal handler,
// NULL never cancelled, and the check's message.
static void test_cancel(void)
{
    seize_cancel c = {0};
    CHECK_EQ(seize_cancel_level(&c), 0);
    CHECK_EQ(seize_cancel_check(&c), 0);
    CHECK_EQ(seize_cancel_level(NULL), 0);
    CHECK_EQ(seize_cancel_check(NULL), 0);
    CHECK_EQ(seize_cancel_request(&c, 15), 1);
    CHECK_EQ(seize_cancel_check(&c), SEIZE_ECANCEL);
    CHECK_STREQ(seize_errmsg(), "interrupted");
    CHECK_EQ(seize_cancel_request(&c, 2), 2);
    CHECK_EQ(seize_cancel_request(&c, 2), 2); // stays at 2
    CHECK_EQ(seize_cancel_signal(&c), 15);    // the first request's
    seize_cancel_reset(&c);
    CHECK_EQ(seize_cancel_level(&c), 0);
    CHECK_EQ(seize_cancel_signal(&c), 0);
    seize_cancel_abort(&c, 0);
    CHECK_EQ(seize_cancel_level(&c), 2);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_test_signal;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    raise(SIGUSR1);
    CHECK_EQ(seize_cancel_level(&sig_token), 1);
    CHECK_EQ(seize_cancel_signal(&sig_token), SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    sigaction(SIGUSR1, &old, NULL);
    CHECK_EQ(seize_cancel_level(&sig_token), 2);
}

// Strict numbers: the whole string, in range; nothing written on failure.
static void test_parse_numbers(void)
{
    long v = 7;
    double d = 7;
    CHECK_EQ(seize_parse_long("42", 1, 100, &v), 0);
    CHECK_EQ(v, 42);
    CHECK_EQ(seize_parse_long("-3", -5, 5, &v), 0);
    CHECK_EQ(v, -3);
    const char *bad_long[] = {"", "4x", "1.5", "101", "0", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_long / sizeof *bad_long; i++)
        CHECK_MSG(seize_parse_long(bad_long[i], 1, 100, &v) == -1, "'%s'", bad_long[i]);
    CHECK(seize_parse_long(NULL, 1, 100, &v) == -1);
    CHECK_EQ(v, -3);
    CHECK_EQ(seize_parse_double("0.25", &d), 0);
    CHECK_NEAR(d, 0.25, 0);
    CHECK_EQ(seize_parse_double("-1e3", &d), 0);
    CHECK_NEAR(d, -1000, 0);
    const char *bad_double[] = {"", "x", "1.5s", "inf", "nan", "1e999"};
    for (size_t i = 0; i < sizeof bad_double / sizeof *bad_double; i++)
        CHECK_MSG(seize_parse_double(bad_double[i], &d) == -1, "'%s'", bad_double[i]);
    CHECK_NEAR(d, -1000, 0);
}

int main(void)
{
    if (check_tmp_init("core") < 0) return 1;
    RUN(test_error_messages);
    RUN(test_npy_roundtrip);
    RUN(test_npy_numpy_compat);
    RUN(test_npy_bad);
    RUN(test_f16);
    RUN(test_files);
    RUN(test_json);
    RUN(test_special_files);
    RUN(test_utf8);
    RUN(test_locks);
    RUN(test_tmp_cleanup);
    RUN(test_pool);
    RUN(test_pool_start_wait);
    RUN(test_blas_threads);
    RUN(test_cancel);
    RUN(test_strmap);
    RUN(test_strvec);
    RUN(test_buf);
    RUN(test_str_printf);
    RUN(test_json_names);
    RUN(test_check_select);
    RUN(test_parse_numbers);
    check_tmp_cleanup();
    return check_summary("core");
}
