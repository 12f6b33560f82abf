// seize inspect: summarise a CLIP model folder.
#include "cli.h"

#include "seize/model.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: seize inspect [--json] MODEL_DIR\n"
    "\n"
    "Loads a CLIP model folder as downloaded from the Hugging Face hub and summarises it:\n"
    "  transformers layout: model.safetensors + config.json\n"
    "  open_clip layout:    open_clip_model.safetensors + open_clip_config.json\n"
    "A folder with both layouts is read with the transformers one (a note on stderr says so);\n"
    "a folder with weights but no config is matched against the built-in presets (ViT-B-32,\n"
    "ViT-B-16, ViT-L-14, ViT-H-14, ViT-g-14, ViT-bigG-14). Every tensor is checked.\n"
    "\n"
    "  --json      print exactly one JSON object:\n"
    "              {\"layout\", \"dtype\", \"activation\", \"embed_dim\", \"parameters\",\n"
    "               \"vision\": {\"image_size\", \"patch_size\", \"width\", \"layers\", \"heads\", "
    "\"mlp_dim\"},\n"
    "               \"text\": {\"context_length\", \"vocab_size\", \"width\", \"layers\", "
    "\"heads\", \"mlp_dim\"}}\n"
    "  -h, --help  show this help\n";

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'h') {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else
            return cli_usage("inspect", "invalid option");
    }
    if (optind != argc - 1) return cli_usage("inspect", "expected exactly one MODEL_DIR");
    seize_model *m;
    if (seize_model_load(argv[optind], &m) < 0) return cli_lib_fail("inspect");
    const seize_model_config *cfg = seize_model_get_config(m);
    const char *act = cfg->act == SEIZE_ACT_GELU ? "gelu" : "quick_gelu";
    if (seize_model_note(m)) fprintf(stderr, "seize inspect: note: %s\n", seize_model_note(m));
    if (json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:i, s:I, s:{s:i, s:i, s:i, s:i, s:i, s:i}, "
            "s:{s:i, s:i, s:i, s:i, s:i, s:i}}",
            "layout", seize_model_layout(m), "dtype", seize_model_dtype(m), "activation", act,
            "embed_dim", cfg->embed_dim, "parameters", (json_int_t)seize_model_parameters(m),
            "vision", "image_size", cfg->image_size, "patch_size", cfg->patch_size, "width",
            cfg->vision.width, "layers", cfg->vision.layers, "heads", cfg->vision.heads, "mlp_dim",
            cfg->vision.mlp_dim, "text", "context_length", cfg->context_length, "vocab_size",
            cfg->vocab_size, "width", cfg->text.width, "layers", cfg->text.layers, "heads",
            cfg->text.heads, "mlp_dim", cfg->text.mlp_dim);
        char *s = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
        if (!s) {
            json_decref(o);
            seize_model_free(m);
            return cli_fail("inspect", "out of memory");
        }
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("model      %s\n", seize_model_dir(m));
        printf("weights    %s (%s layout, %s, %.1f MB)\n", seize_model_weights_path(m),
               seize_model_layout(m), seize_model_dtype(m),
               (double)seize_model_weight_bytes(m) / 1e6);
        if (seize_model_preset_name(m))
            printf("config     none; matched preset %s\n", seize_model_preset_name(m));
        printf("parameters %zu (%.1f M)\n", seize_model_parameters(m),
               (double)seize_model_parameters(m) / 1e6);
        printf("embedding  %d, activation %s\n", cfg->embed_dim, act);
        printf("vision     image %d, patch %d, width %d, layers %d, heads %d, mlp %d\n",
               cfg->image_size, cfg->patch_size, cfg->vision.width, cfg->vision.layers,
               cfg->vision.heads, cfg->vision.mlp_dim);
        printf("text       context %d, vocab %d, width %d, layers %d, heads %d, mlp %d\n",
               cfg->context_length, cfg->vocab_size, cfg->text.width, cfg->text.layers,
               cfg->text.heads, cfg->text.mlp_dim);
        if (seize_model_note(m)) printf("note       %s\n", seize_model_note(m));
    }
    seize_model_free(m);
    return EXIT_OK;
}
