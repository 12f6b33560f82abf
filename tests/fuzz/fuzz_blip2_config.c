// libFuzzer target: the two JSON files of a BLIP-2 folder that seize_blip2_model_load parses
// before any weights: config.json (nn_blip2_config_parse: transformers' defaults, refusals of
// what seize does not implement) and model.safetensors.index.json (nn_blip2_index_parse: the
// shards and the tensor → shard map).
//
// Input byte 0 picks the parser: even = config.json, odd = the index; the rest is the file.
#include "nn/blip2_model.h"

#include <stdint.h>
#include <string.h>

static void check_config(const seize_blip2_config *c)
{
    // a config that parses has sizes the engine can use
    SEIZE_ASSERT(c->image_size > 0 && c->patch_size > 0 && c->image_size % c->patch_size == 0);
    SEIZE_ASSERT(c->vision_width % c->vision_heads == 0);
    SEIZE_ASSERT(c->qformer_width % c->qformer_heads == 0);
    SEIZE_ASSERT(c->text_width % c->text_heads == 0);
    SEIZE_ASSERT(c->bos_id < c->vocab_size && c->eos_id < c->vocab_size);
    SEIZE_ASSERT(c->cross_attention_frequency > 0 && c->encoder_hidden_size == c->vision_width);
}

static void check_index(const nn_blip2_index *ix)
{
    SEIZE_ASSERT(ix->n_tensors > 0 && ix->n_shards > 0);
    for (size_t i = 0; i < ix->n_shards; i++) {
        SEIZE_ASSERT(ix->shards[i][0] && !strchr(ix->shards[i], '/'));
        SEIZE_ASSERT(!strstr(ix->shards[i], ".."));
        for (size_t k = 0; k < i; k++)
            SEIZE_ASSERT(strcmp(ix->shards[i], ix->shards[k]) != 0);
    }
    for (size_t i = 0; i < ix->n_tensors; i++)
        SEIZE_ASSERT(ix->tensor_file[i] < ix->n_shards && ix->tensors[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] % 2 == 0) {
        seize_blip2_config c;
        nn_blip2_extra x;
        if (nn_blip2_config_parse(text, len, "config.json", &c, &x) == 0) check_config(&c);
    } else {
        nn_blip2_index ix;
        if (nn_blip2_index_parse(text, len, "model.safetensors.index.json", &ix) == 0) {
            check_index(&ix);
            nn_blip2_index_free(&ix);
        }
    }
    return 0;
}
