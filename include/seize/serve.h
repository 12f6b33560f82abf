/*
 * seize/serve.h — `seize serve`: composed image retrieval over HTTP, and its web page.
 *
 *     seize_serve_params p = seize_serve_default_params();
 *     p.index_dir = "photos-index";  p.model_dir = "models/ViT-B-32";  p.gallery_dir = "photos";
 *     p.listen = "127.0.0.1:0";                    // port 0: any free port
 *     seize_server *s;
 *     if (seize_server_start(&p, &s) < 0) { ...seize_errmsg()... }
 *     printf("http://127.0.0.1:%d/\n", seize_server_port(s));
 *     ...                                           // requests are served by the server's threads
 *     seize_server_stop(s);                         // finishes the requests in flight, frees all
 *
 * The HTTP API (every body JSON unless said otherwise; every error is
 * {"error": {"status": 4xx|5xx, "message": "..."}} with that status):
 *
 *   GET  /                     the web page (index.html; /app.js, /style.css: its assets)
 *   GET  /healthz              200 {"status": "ok"}
 *   GET  /metrics              Prometheus text: seize_requests_total{route,status},
 *                              seize_request_seconds (histogram, per route),
 *                              seize_cache_hits_total, seize_cache_misses_total,
 *                              seize_llm_requests_total{stage}, seize_llm_failures_total{stage},
 *                              seize_queue_depth, seize_workers_busy, seize_searches_in_flight,
 *                              seize_batches_total, seize_batch_size (histogram)
 *   GET  /v1/info              {"version", "model": {"path", "embed_dim", "precision"},
 *                              "index": {"path", "count", "dim", "dtype"}, "gallery": true|false,
 *                              "composed": true|false (captioner and LLM configured),
 *                              "captioner": null|{"kind": "openai", "model"}|{"kind": "blip2",
 *                              "model": the folder's name},
 *                              "llm": null|{"model"}, "defaults": {"method", "pos", "neg", "k",
 *                              "num_captions"}, "limits": {"max_upload_bytes", "max_pixels",
 *                              "max_k"}}
 *   GET  /v1/gallery?q=&offset=&limit=
 *                              gallery names containing q (case-insensitive; all when empty), in
 *                              row order: {"total", "offset", "items": [{"name", "row"}, ...]}
 *                              (limit default 100, at most 1000)
 *   GET  /v1/images/{name}[?thumb=1]
 *                              the gallery image's file (image/jpeg or image/png), or a JPEG
 *                              thumbnail (longest side 256, cached); names are index names,
 *                              URL-encoded; a name not in the index is 404, never a path lookup
 *                              (no traversal); 404 when the server has no --gallery
 *   POST /v1/search/text       {"text": "...", "k": 50} -> {"results": [...], "took_ms"}
 *   POST /v1/search/image      {"reference": R, "k": 50} -> {"results": [...], "took_ms"}; a
 *                              gallery reference is excluded from its results
 *   POST /v1/search            {"reference": R, "text": "...", "method": "seize"|"mean"|"ldre",
 *                              "pos", "neg", "k", "num_captions", "stream": false} ->
 *                              {"reference": {"name": null|..., "sha256"}, "captions": [...],
 *                              "edits": [... (null: that edit failed)], "cached": true|false,
 *                              "method", "pos", "neg", "results": [...], "timing": {"caption_ms",
 *                              "edit_ms", "encode_ms", "search_ms", "total_ms"}};
 *                              with "stream": true the reply is application/x-ndjson, one object
 *                              per line: {"stage": "caption"|"edit"|"encode"|"search", "done",
 *                              "total"} while it works, then {"result": {...as above...}} or
 *                              {"error": {...}} as the last line
 *   R (reference)              {"name": "gallery name"} or {"image_base64": "...JPEG/PNG..."};
 *                              the image endpoints also take multipart/form-data with a file
 *                              field "image" (and the other fields as form fields)
 *   a result                   {"rank" (1-based), "name", "row", "score"} and, from /v1/search,
 *                              "a", "b", "increment" (a − b): ARCHITECTURE.md §1
 *
 * An uploaded image is on the server's disk only while its request runs. The page is sent with
 * a Content-Security-Policy (its own files only, never framed).
 *
 * Statuses: 400 malformed JSON or fields (named in the message), 401 missing or wrong bearer
 * token (when a token is set; /healthz stays open), 404 unknown route, image or gallery name,
 * 405 wrong method, 413 body over max_upload_bytes (from its Content-Length; a chunked body once
 * read, the connection closed past twice the limit), 415 an upload that is not a JPEG or PNG, 422
 * an image over max_pixels (decompression bombs are refused before decoding), 501 composed search
 * without a captioner or LLM, 502 the captioner or LLM failed, 503 queue full (with Retry-After),
 * 504 a request over request_timeout_s. CORS headers only for cors_origin.
 */
#ifndef SEIZE_SERVE_H
#define SEIZE_SERVE_H

#include "seize/core.h"
#include "seize/model.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct seize_server seize_server;
struct seize_llm_params;

typedef struct seize_serve_params {
    const char *index_dir;   /* required: the gallery index (a sharded one too) */
    const char *model_dir;   /* required: the CLIP model the index was built with */
    const char *gallery_dir; /* where gallery images are (gallery_dir/name); NULL: none served */
    const char *listen;      /* "HOST:PORT" ("127.0.0.1:8080"); port 0 picks a free one */
    const char *token;       /* bearer token required on /v1 and /metrics; NULL: none */
    const char *cors_origin; /* Access-Control-Allow-Origin for this origin; NULL: no CORS */
    const struct seize_llm_params *captioner; /* OpenAI-compatible vision server, or NULL */
    const struct seize_llm_params *llm;       /* OpenAI-compatible LLM for the edits, or NULL */
    const char *captioner_dir; /* or the native BLIP-2 captioner of this folder (not both): one
                                  state, loaded at start, captioning one request at a time with
                                  SEIZE's settings (seize_captioner_blip2_default_opts) */
    const char *cache_dir;     /* captions/edits cache and thumbnails (NULL: a private temp dir,
                                  removed at stop) */
    int n_threads;             /* CLIP and search threads (0: all cores); thumbnails are made
                                  this many at once (at most 4) */
    int n_workers;             /* composed and gallery-image searches worked on at once, each
                                  on its own engine state (0: 2 × cores, at least 4); text and
                                  upload searches go to the batcher, 4 × max_batch at once */
    int queue;                 /* requests waiting beyond either bound (each has its own
                                  queue); more get 503 (0: 64) */
    seize_precision precision; /* CLIP products (fp32) */
    size_t max_upload_bytes;   /* request body limit (0: 20 MiB) */
    size_t max_pixels;         /* decoded image limit (0: 40 megapixels) */
    double request_timeout_s;  /* 0: 120 */
    double batch_window_ms;    /* encodes arriving within this are one batch (0: 2 ms) */
    int max_batch;             /* at most this many per batch (0: 32) */
} seize_serve_params;

/* Defaults as the comments above say; listen "127.0.0.1:8080". */
seize_serve_params seize_serve_default_params(void);

/* Loads the model, tokenizer and index once, checks the parameters, binds and starts serving on
 * the server's own threads. *out is owned by the caller (seize_server_stop). Errors: the
 * loaders' (naming the folder), SEIZE_EINVAL (parameters, naming the one), SEIZE_EIO (cannot
 * bind, with the address and the reason). */
int seize_server_start(const seize_serve_params *p, seize_server **out);
/* The bound port (useful with port 0). */
int seize_server_port(const seize_server *s);
/* Stops accepting (a kept-alive connection's next request gets 503), finishes (or times out)
 * the requests in flight, frees everything. Accepts NULL. */
void seize_server_stop(seize_server *s);

#ifdef __cplusplus
}
#endif

#endif
