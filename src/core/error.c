// Per-thread error messages and the always-on assertion.
#include "seize/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char errbuf[1024];

const char *seize_errmsg(void)
{
    return errbuf[0] ? errbuf : "no error";
}

int seize_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

int seize_error_prefix(int code, const char *fmt, ...)
{
    char prefix[512], old[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    // Truncation is intended: the message keeps its first sizeof errbuf - 1 bytes.
    size_t np = strlen(prefix);
    if (np > sizeof errbuf - 3) np = sizeof errbuf - 3;
    memcpy(errbuf, prefix, np);
    memcpy(errbuf + np, ": ", 2);
    size_t room = sizeof errbuf - np - 3, no = strnlen(old, sizeof old);
    if (no > room) no = room;
    memcpy(errbuf + np + 2, old, no);
    errbuf[np + 2 + no] = 0;
    return code;
}

const char *seize_strerror(int code)
{
    switch (code) {
    case SEIZE_OK:
        return "ok";
    case SEIZE_EIO:
        return "I/O error";
    case SEIZE_EFORMAT:
        return "bad format";
    case SEIZE_ENOMEM:
        return "out of memory";
    case SEIZE_EINVAL:
        return "invalid argument";
    case SEIZE_ESHAPE:
        return "shape mismatch";
    case SEIZE_ENET:
        return "network error";
    case SEIZE_ECANCEL:
        return "cancelled";
    case SEIZE_ENOTFOUND:
        return "not found";
    case SEIZE_EBUSY:
        return "in use";
    }
    return "unknown error";
}

void seize_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "seize: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

double seize_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
