/*
 * seize/hub.h — downloading model folders from the Hugging Face hub (or a mirror of it).
 *
 *     seize_hub_opts o = seize_hub_default_opts();
 *     char *dir = NULL;
 *     if (seize_hub_fetch("ViT-B-32", &o, &dir) < 0) { ... seize_errmsg() ... }
 *     // dir = "<cache>/ViT-B-32", ready for seize_clip_model_load
 *     free(dir);
 *
 * Each file is fetched from {endpoint}/{repo}/resolve/{revision}/{file} into
 * "<file>.incomplete" and renamed when complete. An interrupted download resumes with an HTTP
 * Range request (a rerun, or the automatic retries). When the hub gives the file's SHA-256 (the
 * X-Linked-Etag header of files stored in LFS) the file is checked against it before the rename;
 * a mismatch deletes the partial file and fails. Files already present are not fetched again.
 */
#ifndef SEIZE_HUB_H
#define SEIZE_HUB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct seize_hub_opts {
    const char *endpoint;  /* default $HF_ENDPOINT or https://huggingface.co */
    const char *cache_dir; /* default $SEIZE_CACHE, else $XDG_CACHE_HOME/seize, else ~/.cache/seize;
                              models go to <cache_dir>/models/<name> */
    const char *token;     /* default $HF_TOKEN; sent as a Bearer token, never logged */
    const char *revision;  /* default "main" */
    const char *layout;    /* "transformers" ("hf" is an alias), "open_clip", "blip2" or NULL
                              for the model's usual layout */
    int max_attempts;      /* per file, default 5 */
    double retry_base;     /* seconds before the first retry, doubled each time; default 1 */
    /* Called as bytes arrive (may be NULL): file name, bytes so far, total (0 if unknown). */
    void (*progress)(void *ctx, const char *file, size_t done, size_t total);
    void *progress_ctx;
} seize_hub_opts;

seize_hub_opts seize_hub_default_opts(void);

/* The hub repository and usual layout of a known model name (ARCHITECTURE.md §3: "ViT-B-32",
 * "ViT-B-16", "ViT-L-14", "ViT-H-14", "ViT-g-14", "ViT-bigG-14"; the BLIP-2 captioners
 * "blip2-opt-6.7b-coco" and "blip2-opt-2.7b", layout "blip2": config.json, then
 * model.safetensors.index.json and the shards its weight_map names, then the tokenizer and
 * processor files). 0 or SEIZE_ENOTFOUND. The strings are static. */
int seize_hub_lookup(const char *name, const char **repo, const char **layout);

/* Downloads the model folder for `name` (a known name, or a repository id "owner/name") and
 * returns its path in *dir (heap; caller frees). Errors name the file and the URL's status. */
int seize_hub_fetch(const char *name, const seize_hub_opts *o, char **dir);

#ifdef __cplusplus
}
#endif
#endif
