// seize serve: composed image retrieval over HTTP with its web page (seize_server_*, serve.h).
// This file maps the options to seize_serve_params, then waits for SIGINT/SIGTERM and stops.
#include "cli.h"
#include "opt.h"

#include "seize/net.h"
#include "seize/serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "serve";
static const char about[] =
    "Serves the web page (/) and the JSON API (/v1, serve.h) on one address. The model and\n"
    "the index are loaded once; text and image searches need no LLM, the composed search\n"
    "(reference image + change) needs the captioner and the LLM (their endpoints default to\n"
    "$OPENAI_BASE_URL; the key, $OPENAI_API_KEY, never leaves the server).";
static const char footer[] = "When ready it prints 'seize serve: listening on http://HOST:PORT/'"
                             " on stderr;\nSIGINT/SIGTERM finish the requests in flight, exit 0.";

int cmd_serve(int argc, char **argv)
{
    seize_serve_params p = seize_serve_default_params();
    seize_llm_params cap = seize_llm_default_params(), llm = cap;
    const char *cap_ep = NULL, *llm_ep = NULL, *token_file = NULL;
    long threads = 0, workers = 0, queue = 0;
    const cli_opt opts[] = {
        CLI_STR("index", 0, "INDEX", &p.index_dir, "the gallery index (seize index build)"),
        CLI_STR("model", 0, "DIR", &p.model_dir, "the CLIP model the index was built with"),
        CLI_STR("gallery", 0, "FOLDER", &p.gallery_dir, "the gallery's images (shown, captioned)"),
        CLI_STR("captioner-endpoint", 0, "URL", &cap_ep, "with --captioner-model: a vision LLM"),
        CLI_STR("captioner-model", 0, "NAME", &cap.model, "its model name"),
        CLI_STR("captioner-dir", 0, "DIR", &p.captioner_dir, "or BLIP-2 in-process (not both)"),
        CLI_STR("llm-endpoint", 0, "URL", &llm_ep, "with --llm-model: the editing LLM"),
        CLI_STR("llm-model", 0, "NAME", &llm.model, "its model name"),
        CLI_STR("listen", 0, "HOST:PORT", &p.listen, "default 127.0.0.1:8080 (port 0: any free)"),
        CLI_STR("token", 0, "FILE", &token_file, "require 'Authorization: Bearer <its text>'"),
        CLI_STR("cors", 0, "ORIGIN", &p.cors_origin, "allow this origin (default: no CORS)"),
        CLI_THREADS(&threads),
        CLI_INT("workers", 0, "N", &workers, 1, 4096, "requests at once (default 2 x cores)"),
        CLI_INT("queue", 0, "N", &queue, 1, 1 << 20, "more waiting; then 503 (default 64)"),
        CLI_PRECISION(&p.precision),
        CLI_STR("cache-dir", 0, "DIR", &p.cache_dir, "LLM cache, thumbnails (default: temp)"),
        CLI_END};
    const cli_spec spec = {CMD, "--index INDEX --model DIR [--gallery FOLDER] [options]", about,
                           opts, footer};
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!p.index_dir || !p.model_dir) return cli_usage(CMD, "--index and --model are required");
    const char *env = getenv("OPENAI_BASE_URL");
    cap.endpoint = cap_ep ? cap_ep : env, llm.endpoint = llm_ep ? llm_ep : env;
    cap.api_key = llm.api_key = getenv("OPENAI_API_KEY");
    if ((cap.model && !cap.endpoint) || (llm.model && !llm.endpoint))
        return cli_usage(CMD, "no endpoint: give --captioner/--llm-endpoint or OPENAI_BASE_URL");
    p.captioner = cap.model ? &cap : NULL, p.llm = llm.model ? &llm : NULL;
    p.n_threads = (int)threads, p.n_workers = (int)workers, p.queue = (int)queue;
    char *token = NULL;
    size_t n = 0;
    if (token_file && seize_read_file_max(token_file, 4096, &token, &n) < 0)
        return cli_lib_fail(CMD);
    while (n && strchr(" \t\r\n", token[n - 1]))
        token[--n] = 0;
    if (token_file && !n)
        return free(token), cli_fail(CMD, "the token file '%s' is empty", token_file);
    p.token = token;
    sigset_t set; // blocked before the server's threads start (they inherit it): sigwait below
    sigemptyset(&set), sigaddset(&set, SIGINT), sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    seize_server *s = NULL;
    if (seize_server_start(&p, &s) < 0) return free(token), cli_lib_fail(CMD);
    const char *colon = strrchr(p.listen, ':');
    fprintf(stderr, "seize serve: listening on http://%.*s:%d/\n", (int)(colon - p.listen),
            p.listen, seize_server_port(s));
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "seize serve: stopping (signal %d)\n", sig);
    seize_server_stop(s);
    free(token);
    return EXIT_OK;
}
