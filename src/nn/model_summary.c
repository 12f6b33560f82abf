// A loaded model's summary for people and as JSON (what seize inspect prints).
#include "seize/model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static char *summary_json(const seize_clip_model *m, const seize_clip_model_config *c,
                          const char *act)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:I, s:{s:i, s:i, s:i, s:i, s:i, s:i}, "
                  "s:{s:i, s:i, s:i, s:i, s:i, s:i}}",
                  "layout", seize_clip_model_layout(m), "dtype", seize_clip_model_dtype(m),
                  "activation", act, "embed_dim", c->embed_dim, "parameters",
                  (json_int_t)seize_clip_model_parameters(m), "vision", "image_size", c->image_size,
                  "patch_size", c->patch_size, "width", c->vision.width, "layers", c->vision.layers,
                  "heads", c->vision.heads, "mlp_dim", c->vision.mlp_dim, "text", "context_length",
                  c->context_length, "vocab_size", c->vocab_size, "width", c->text.width, "layers",
                  c->text.layers, "heads", c->text.heads, "mlp_dim", c->text.mlp_dim);
    char *s = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static char *summary_text(const seize_clip_model *m, const seize_clip_model_config *c,
                          const char *act)
{
    char *s = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&s, &len);
    if (!fp) return NULL;
    fprintf(fp, "model      %s\n", seize_clip_model_dir(m));
    fprintf(fp, "weights    %s (%s layout, %s, %.1f MB)\n", seize_clip_model_weights_path(m),
            seize_clip_model_layout(m), seize_clip_model_dtype(m),
            (double)seize_clip_model_weight_bytes(m) / 1e6);
    if (seize_clip_model_preset_name(m))
        fprintf(fp, "config     none; matched preset %s\n", seize_clip_model_preset_name(m));
    fprintf(fp, "parameters %zu (%.1f M)\n", seize_clip_model_parameters(m),
            (double)seize_clip_model_parameters(m) / 1e6);
    fprintf(fp, "embedding  %d, activation %s\n", c->embed_dim, act);
    fprintf(fp, "vision     image %d, patch %d, width %d, layers %d, heads %d, mlp %d\n",
            c->image_size, c->patch_size, c->vision.width, c->vision.layers, c->vision.heads,
            c->vision.mlp_dim);
    fprintf(fp, "text       context %d, vocab %d, width %d, layers %d, heads %d, mlp %d",
            c->context_length, c->vocab_size, c->text.width, c->text.layers, c->text.heads,
            c->text.mlp_dim);
    if (seize_clip_model_note(m)) fprintf(fp, "\nnote       %s", seize_clip_model_note(m));
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad) {
        free(s);
        return NULL;
    }
    return s;
}

char *seize_clip_model_summary(const seize_clip_model *m, int as_json)
{
    const seize_clip_model_config *c = seize_clip_model_get_config(m);
    const char *act = c->act == SEIZE_ACT_GELU ? "gelu" : "quick_gelu";
    return as_json ? summary_json(m, c, act) : summary_text(m, c, act);
}
