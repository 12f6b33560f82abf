// The web page (src/serve/web/), compiled into the library with .incbin: no file is read at
// run time. Paths are relative to the repository root, where make runs the compiler (the
// Makefile makes assets.o depend on the files).
#include "serve_int.h"

#include <string.h>

#define SRV_INCBIN(sym, file)                                                                      \
    __asm__(".section .rodata\n"                                                                   \
            ".global " #sym "_start\n"                                                             \
            ".type " #sym "_start, @object\n"                                                      \
            ".balign 16\n" #sym "_start:\n"                                                        \
            ".incbin \"" file "\"\n"                                                               \
            ".global " #sym "_end\n" #sym "_end:\n"                                                \
            ".byte 0\n"                                                                            \
            ".previous\n");                                                                        \
    extern const unsigned char sym##_start[], sym##_end[]

SRV_INCBIN(seize_web_index, "src/serve/web/index.html");
SRV_INCBIN(seize_web_app, "src/serve/web/app.js");
SRV_INCBIN(seize_web_style, "src/serve/web/style.css");

int srv_asset_find(const char *url, srv_asset *out)
{
    static const char *const paths[3] = {"/", "/app.js", "/style.css"};
    static const char *const types[3] = {
        "text/html; charset=utf-8", "text/javascript; charset=utf-8", "text/css; charset=utf-8"};
    const unsigned char *start[3] = {seize_web_index_start, seize_web_app_start,
                                     seize_web_style_start};
    const unsigned char *end[3] = {seize_web_index_end, seize_web_app_end, seize_web_style_end};
    if (!strcmp(url, "/index.html")) url = "/";
    for (int i = 0; i < 3; i++)
        if (!strcmp(url, paths[i])) {
            *out = (srv_asset){paths[i], types[i], start[i], (size_t)(end[i] - start[i])};
            return 1;
        }
    return 0;
}
