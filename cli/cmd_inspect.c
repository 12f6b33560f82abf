// seize inspect: summarise a CLIP model folder.
#include "cli.h"
#include "opt.h"

#include "seize/model.h"

#include <stdlib.h>

static const char about[] =
    "Loads a CLIP model folder as downloaded from the Hugging Face hub and summarises it:\n"
    "  transformers layout: model.safetensors + config.json\n"
    "  open_clip layout:    open_clip_model.safetensors + open_clip_config.json\n"
    "A folder with both layouts is read with the transformers one (a note on stderr says so);\n"
    "a folder with weights but no config is matched against the built-in presets (ViT-B-32,\n"
    "ViT-B-16, ViT-L-14, ViT-H-14, ViT-g-14, ViT-bigG-14). Every tensor is checked.";

int cmd_inspect(int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {
        CLI_FLAG("json", 0, &json,
                 "print exactly one JSON object:\n"
                 "{\"layout\", \"dtype\", \"activation\", \"embed_dim\", \"parameters\",\n"
                 " \"vision\": {\"image_size\", \"patch_size\", \"width\", \"layers\", \"heads\", "
                 "\"mlp_dim\"},\n \"text\": {\"context_length\", \"vocab_size\", \"width\", "
                 "\"layers\", \"heads\", \"mlp_dim\"}}"),
        CLI_END};
    const cli_spec spec = {"inspect", "[--json] MODEL_DIR", about, opts, NULL, 1,
                           1,         "missing MODEL_DIR",  14};
    cli_args a;
    seize_clip_model *m = NULL;
    char *s = NULL;
    int rc = cli_parse(&spec, argc, argv, &a);
    if (rc >= 0) return rc;
    if (seize_clip_model_load(a.v[0], &m) == 0 && !(s = seize_clip_model_summary(m, json)))
        seize_error(SEIZE_ENOMEM, "out of memory");
    if (s && seize_clip_model_note(m))
        fprintf(stderr, "seize inspect: note: %s\n", seize_clip_model_note(m));
    if (s) printf("%s\n", s);
    rc = s ? EXIT_OK : cli_lib_fail("inspect");
    free(s);
    seize_clip_model_free(m);
    return rc;
}
