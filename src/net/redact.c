// Secrets kept out of every message and file: a process-wide list of registered secrets (API
// keys, tokens, the user:password of endpoint URLs and their encodings on the wire), replaced by
// "***" in whatever is printed or stored; plus URL helpers (credentials removed, canonical form).
#include "seize/net.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SECRETS 64
#define MIN_SECRET 4 // shorter strings would blank out ordinary words

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_secret[MAX_SECRETS];
static size_t g_n;

static void add_secret_n(const char *s, size_t n)
{
    if (!s || n < MIN_SECRET) return;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++)
        if (strlen(g_secret[i]) == n && !memcmp(g_secret[i], s, n)) {
            pthread_mutex_unlock(&g_mu);
            return;
        }
    if (g_n < MAX_SECRETS) {
        char *c = malloc(n + 1);
        if (c) {
            memcpy(c, s, n);
            c[n] = 0;
            // Longest first, so that a secret containing another is replaced whole.
            size_t k = g_n;
            while (k > 0 && strlen(g_secret[k - 1]) < n) {
                g_secret[k] = g_secret[k - 1];
                k--;
            }
            g_secret[k] = c;
            g_n++;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

void seize_secret_add(const char *s)
{
    if (s) add_secret_n(s, strlen(s));
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

// Percent-decoded copy (heap).
static char *pct_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            o[w++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            o[w++] = s[i];
        }
    }
    o[w] = 0;
    return o;
}

// Splits a URL: [scheme://][userinfo@]authority[path...]. Offsets into url.
typedef struct url_parts {
    size_t auth_start; // after "://" (0 when there is no scheme)
    size_t at;         // index of '@' ending the userinfo, or SIZE_MAX
    size_t host_start; // after the userinfo
    size_t host_end;   // first '/', '?' or '#' after the authority (or the end)
} url_parts;

static url_parts split_url(const char *url)
{
    url_parts u;
    const char *sep = strstr(url, "://");
    u.auth_start = sep ? (size_t)(sep - url) + 3 : 0;
    size_t e = u.auth_start;
    while (url[e] && url[e] != '/' && url[e] != '?' && url[e] != '#')
        e++;
    u.host_end = e;
    u.at = SIZE_MAX;
    for (size_t i = u.auth_start; i < e; i++)
        if (url[i] == '@') u.at = i; // the last '@' ends the userinfo
    u.host_start = u.at == SIZE_MAX ? u.auth_start : u.at + 1;
    return u;
}

static int secret_param(const char *name, size_t n)
{
    static const char *words[] = {"key", "token", "secret", "sig", "password", "passwd", "auth"};
    char low[64];
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[n] = 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(low, words[i])) return 1;
    return 0;
}

void seize_secret_add_url(const char *url)
{
    if (!url) return;
    url_parts u = split_url(url);
    if (u.at != SIZE_MAX) {
        const char *ui = url + u.auth_start;
        size_t n = u.at - u.auth_start;
        const char *colon = memchr(ui, ':', n);
        if (colon) {
            size_t pl = n - (size_t)(colon - ui) - 1;
            add_secret_n(colon + 1, pl); // the password as written
            char *dp = pct_decode(colon + 1, pl);
            if (dp) seize_secret_add(dp);
            free(dp);
            add_secret_n(ui, n); // user:password
            // Basic authentication sends base64(user:password), decoded.
            char *d = pct_decode(ui, n);
            if (d) {
                char *b = seize_base64_encode(d, strlen(d));
                seize_secret_add(b);
                seize_secret_add(d);
                free(b);
            }
            free(d);
        }
    }
    // Query parameters that look like credentials (api-key=..., token=..., sig=...).
    const char *q = strchr(url + u.host_end, '?');
    while (q) {
        const char *name = q + 1;
        const char *amp = strchr(name, '&'), *end = amp ? amp : name + strcspn(name, "#");
        const char *eq = memchr(name, '=', (size_t)(end - name));
        if (eq && secret_param(name, (size_t)(eq - name))) {
            add_secret_n(eq + 1, (size_t)(end - eq - 1));
            char *d = pct_decode(eq + 1, (size_t)(end - eq - 1));
            if (d) seize_secret_add(d);
            free(d);
        }
        q = amp;
    }
}

// --- redaction ------------------------------------------------------------------------------

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static char *finish_buf(buf *b)
{
    if (!b->p && !b->oom) put(b, "", 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

// Registered secrets replaced (the caller holds g_mu).
static char *replace_secrets_locked(const char *s)
{
    buf b = {0};
    size_t i = 0, n = strlen(s);
    while (i < n) {
        size_t hit = 0;
        for (size_t k = 0; k < g_n && !hit; k++) {
            size_t sl = strlen(g_secret[k]);
            if (sl <= n - i && !memcmp(s + i, g_secret[k], sl)) hit = sl;
        }
        if (hit) {
            put(&b, "***", 3);
            i += hit;
        } else {
            put(&b, s + i, 1);
            i++;
        }
    }
    return finish_buf(&b);
}

char *seize_redact_secrets(const char *s)
{
    if (!s) return NULL;
    pthread_mutex_lock(&g_mu);
    char *o = replace_secrets_locked(s);
    pthread_mutex_unlock(&g_mu);
    return o;
}

static int token_char(char c)
{
    return isalnum((unsigned char)c) || strchr("-._~+/=:", c) != NULL;
}

char *seize_redact(const char *s)
{
    if (!s) return NULL;
    char *a = seize_redact_secrets(s);
    if (!a) return NULL;
    // Credentials that were never registered: "Bearer X" / "Basic X" (an echoed Authorization
    // header) and the user:password of any URL.
    buf b = {0};
    size_t n = strlen(a);
    for (size_t i = 0; i < n;) {
        size_t kw = 0;
        if (!strncasecmp(a + i, "bearer ", 7))
            kw = 7;
        else if (!strncasecmp(a + i, "basic ", 6))
            kw = 6;
        if (kw && (i == 0 || !isalnum((unsigned char)a[i - 1]))) {
            size_t e = i + kw;
            while (e < n && token_char(a[e]))
                e++;
            if (e - (i + kw) >= MIN_SECRET) {
                put(&b, a + i, kw);
                put(&b, "***", 3);
                i = e;
                continue;
            }
        }
        if (a[i] == ':' && i + 2 < n && a[i + 1] == '/' && a[i + 2] == '/') {
            // scheme://user:password@host: keep "scheme://", drop the userinfo
            size_t e = i + 3, at = SIZE_MAX, colon = SIZE_MAX;
            while (e < n && a[e] != '/' && a[e] != '?' && a[e] != '#' && a[e] != ' ' &&
                   a[e] != '"' && a[e] != '\'' && (unsigned char)a[e] > ' ') {
                if (a[e] == '@') at = e;
                if (a[e] == ':' && at == SIZE_MAX && colon == SIZE_MAX) colon = e;
                e++;
            }
            if (at != SIZE_MAX && colon != SIZE_MAX && colon < at) {
                put(&b, "://", 3);
                put(&b, a + i + 3, colon - (i + 3));
                put(&b, ":***", 4);
                i = at; // the '@' and the host follow
                continue;
            }
        }
        put(&b, a + i, 1);
        i++;
    }
    free(a);
    return finish_buf(&b);
}

char *seize_url_redact(const char *url)
{
    if (!url) return NULL;
    seize_secret_add_url(url);
    url_parts u = split_url(url);
    buf b = {0};
    put(&b, url, u.auth_start);
    if (u.at != SIZE_MAX) {
        const char *ui = url + u.auth_start;
        const char *colon = memchr(ui, ':', u.at - u.auth_start);
        put(&b, ui, colon ? (size_t)(colon - ui) : u.at - u.auth_start);
        if (colon) put(&b, ":***", 4);
        put(&b, "@", 1);
    }
    put(&b, url + u.host_start, strlen(url + u.host_start));
    char *o = finish_buf(&b);
    if (!o) return NULL;
    char *r = seize_redact(o); // secret query parameters
    free(o);
    return r;
}

char *seize_url_canonical(const char *url)
{
    if (!url) return NULL;
    seize_secret_add_url(url);
    url_parts u = split_url(url);
    buf b = {0};
    for (size_t i = 0; i < u.auth_start; i++) {
        char c = (char)tolower((unsigned char)url[i]);
        put(&b, &c, 1);
    }
    for (size_t i = u.host_start; i < u.host_end; i++) {
        char c = (char)tolower((unsigned char)url[i]);
        put(&b, &c, 1);
    }
    const char *rest = url + u.host_end;
    size_t rl = strcspn(rest, "?#");
    while (rl > 0 && rest[rl - 1] == '/')
        rl--;
    put(&b, rest, rl);
    rest += strcspn(rest, "?#");
    if (*rest == '?') put(&b, rest, strcspn(rest, "#"));
    char *o = finish_buf(&b);
    if (!o) return NULL;
    char *r = seize_redact(o);
    free(o);
    return r;
}
