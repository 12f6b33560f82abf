// Unit tests for src/core/hash.c: SHA-256 against the FIPS 180-4 / NIST known-answer vectors.
#include "check.h"

#include "seize/core.h"

#include <unistd.h>

static const char *hex_of(const void *data, size_t len)
{
    static char hex[65];
    uint8_t d[32];
    seize_sha256_buffer(data, len, d);
    seize_sha256_hex(d, hex);
    return hex;
}

static void test_known_vectors(void)
{
    CHECK_STREQ(hex_of("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STREQ(hex_of("abc", 3),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; // 56 bytes
    CHECK_STREQ(hex_of(two, strlen(two)),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                       "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"; // 112 bytes
    CHECK_STREQ(hex_of(four, strlen(four)),
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_streaming(void)
{
    // One million 'a' fed in uneven pieces exercises the buffering paths.
    static char buf[1000];
    memset(buf, 'a', sizeof buf);
    seize_sha256 s;
    seize_sha256_init(&s);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t n = step < 1000000 - done ? step : 1000000 - done;
        if (n > sizeof buf) n = sizeof buf;
        seize_sha256_update(&s, buf, n);
        done += n;
        step = step * 7 % 997 + 1;
    }
    uint8_t d[32];
    char hex[65];
    seize_sha256_final(&s, d);
    seize_sha256_hex(d, hex);
    CHECK_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_file(void)
{
    char path[] = "/tmp/seize-hash-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "abc", 3), 3);
    close(fd);
    uint8_t d[32];
    char hex[65];
    CHECK_EQ(seize_sha256_file(path, d), 0);
    seize_sha256_hex(d, hex);
    unlink(path);
    CHECK_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ(seize_sha256_file(path, d), SEIZE_EIO);
    CHECK(strstr(seize_errmsg(), path) != NULL);
}

int main(void)
{
    RUN(test_known_vectors);
    RUN(test_million_a_streaming);
    RUN(test_file);
    return check_summary("hash");
}
