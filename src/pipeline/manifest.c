// manifest.json of a run: what ran, with what (endpoints without their passwords), what
// produced each file and what failed.
#include "run_int.h"

#include <stdlib.h>
#include <string.h>

json_t *pl_params_json(const run_opts *o)
{
    json_t *p = json_object();
#define S(k, v) json_object_set_new(p, k, (v) ? json_string(v) : json_null())
    S("dataset", o->dataset);
    S("data_root", o->data_root);
    S("split", o->split);
    S("model", o->model_dir);
    S("out", o->out_dir);
    S("gallery", o->gallery_dir);
    S("queries", o->queries_file);
    S("captions", o->captions_file);
    S("category", o->category);
    json_object_set_new(p, "captioner_endpoint", pl_json_url(o->cap_endpoint));
    S("captioner_model", o->cap_model);
    json_object_set_new(p, "llm_endpoint", pl_json_url(o->llm_endpoint));
    S("llm_model", o->llm_model);
    S("caption_prompt", o->cap_prompt);
    S("prompt_file", o->prompt_file);
    S("temperature", o->temperature ? o->temperature : "1.0");
    S("top_p", o->top_p ? o->top_p : "0.9");
    S("concurrency", o->concurrency);
    S("timeout", o->timeout);
    S("max_attempts", o->max_attempts);
    S("fiq_join", o->fiq_join);
    S("method", o->method);
#undef S
    json_object_set_new(p, "pos", json_real(o->pos));
    json_object_set_new(p, "neg", json_real(o->neg));
    json_object_set_new(p, "num_captions", json_integer(o->num_captions));
    json_object_set_new(p, "k", json_integer(o->k));
    json_object_set_new(p, "preprocess", json_string(o->no_pad ? "clip" : "targetpad-1.25"));
    json_object_set_new(p, "batch", json_integer(o->batch));
    json_object_set_new(p, "threads", json_integer(o->threads));
    json_object_set_new(p, "precision", json_string(seize_precision_name(o->precision)));
    return p;
}

int pl_write_manifest(pl_run *r, int rc, const char *error, double seconds)
{
    const run_opts *o = &r->o;
    json_t *m = json_object();
    json_object_set_new(m, "seize_version", json_string(SEIZE_VERSION));
    json_t *cmd = json_array(); // endpoints without their user:password
    for (int i = 0; r->p->command && i < r->p->n_command; i++)
        json_array_append_new(cmd, pl_json_url(r->p->command[i]));
    json_object_set_new(m, "command", cmd);
    json_object_set_new(m, "status",
                        json_string(rc == 0 ? (r->partial ? "partial" : "ok") : "failed"));
    if (rc < 0) json_object_set_new(m, "error", json_string(error));
    json_object_set_new(m, "model",
                        json_pack("{s:s, s:s*}", "dir", o->model_dir, "sha256",
                                  r->model_sha[0] ? r->model_sha : NULL));
    json_object_set_new(m, "parameters", pl_params_json(o));
    json_object_set_new(m, "seeds", json_pack("{s:s*}", "llm", o->seed));
    json_t *by = json_object_get(r->cache, "produced_by");
    json_object_set_new(m, "produced_by", json_is_object(by) ? json_deep_copy(by) : json_object());
    json_object_set_new(m, "stages", json_incref(r->stages));
    json_object_set_new(m, "failed", json_incref(r->failed));
    json_object_set_new(m, "seconds", json_real(seconds));
    char *path = pl_join(o->out_dir, "manifest.json");
    // a run that wrote nothing (everything cached, or stopped before its first stage) leaves
    // the manifest of the run that produced the files as it is
    int mrc = r->wrote || !seize_path_exists(path)
                  ? seize_json_save(path, m, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                  : 0;
    free(path);
    json_decref(m);
    return mrc;
}
