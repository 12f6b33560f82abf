// The umbrella header seize/seize.h: it alone declares the whole public API (one symbol per
// module header is referenced and linked), and it can be included twice. That it includes every
// header in include/seize/ is checked by scripts/check-layering.sh (make check).
#include "check.h"

#include "seize/seize.h"
#include "seize/seize.h" // include guards

static void test_one_include(void)
{
    void (*fns[])(void) = {
        (void (*)(void))seize_errmsg,                // core
        (void (*)(void))seize_image_mode_name,       // image
        (void (*)(void))seize_tokenizer_load,        // text
        (void (*)(void))seize_st_open,               // nn: model
        (void (*)(void))seize_clip_new,              // nn: clip
        (void (*)(void))seize_llm_err_name,          // net
        (void (*)(void))seize_hub_lookup,            // net: hub
        (void (*)(void))seize_ds_kind_parse,         // data
        (void (*)(void))seize_index_name_problem,    // index
        (void (*)(void))seize_search_result_free,    // retrieval
        (void (*)(void))seize_predictions_load_json, // eval
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        CHECK(fns[i] != NULL);
    seize_ds_kind k;
    CHECK_EQ(seize_ds_kind_parse("cirr", &k), 0);
    CHECK_STREQ(seize_ds_kind_name(k), "cirr");
    seize_search_params sp = seize_search_default_params();
    (void)sp;
    CHECK_STREQ(SEIZE_VERSION, SEIZE_VERSION);
}

int main(void)
{
    RUN(test_one_include);
    return check_summary("umbrella");
}
