// libFuzzer target: the annotation loaders (CIRCO, CIRR, FashionIQ) and the predictions /
// submission parser followed by the metrics. The first byte picks the parser; the rest is the
// JSON text.
#include "seize/eval.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *circo_val =
    "[{\"id\": 0, \"reference_img_id\": 1, \"relative_caption\": \"x\", \"target_img_id\": 10,"
    "  \"gt_img_ids\": [10, 11], \"semantic_aspects\": [\"addition\"]},"
    " {\"id\": 1, \"reference_img_id\": 2, \"relative_caption\": \"y\", \"target_img_id\": 20,"
    "  \"gt_img_ids\": [20]}]";
static const char *cirr_val =
    "[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
    "  \"img_set\": {\"members\": [\"r\", \"t\", \"m\"]}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0] % 5;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mode < 3) {
        seize_dataset *ds = NULL;
        seize_dataset_opts o = {.fiq_joiner = " and "};
        if (seize_dataset_parse((seize_ds_kind)mode, text, len, "fuzz.json", &o, &ds) == 0) {
            for (size_t i = 0; i < ds->n; i++) {
                const seize_query *q = &ds->q[i];
                if (!q->id || !q->reference || !q->text) abort();
                size_t pos;
                if (seize_dataset_find(ds, q->id, &pos) != 0 || pos != i) abort();
            }
        } else if (ds) {
            abort();
        }
        seize_dataset_free(ds);
        return 0;
    }
    seize_ds_kind kind = mode == 3 ? SEIZE_DS_CIRCO : SEIZE_DS_CIRR;
    const char *ann = mode == 3 ? circo_val : cirr_val;
    seize_dataset *ds = NULL;
    if (seize_dataset_parse(kind, ann, strlen(ann), "ann.json", NULL, &ds) != 0) abort();
    seize_predictions *p = NULL;
    if (seize_predictions_parse_json(ds, text, len, "fuzz.json", &p) == 0) {
        if (p->n != ds->n) abort();
        if (kind == SEIZE_DS_CIRCO) {
            seize_circo_metrics m;
            if (seize_eval_circo(ds, p, &m) == 0) {
                for (int t = 0; t < 4; t++)
                    if (!(m.map[t] >= 0 && m.map[t] <= 100 + 1e-9) ||
                        !(m.recall[t] >= 0 && m.recall[t] <= 100))
                        abort();
                seize_circo_metrics_release(&m);
            }
        } else {
            seize_cirr_metrics m;
            if (seize_eval_cirr(ds, p, p, &m) == 0)
                for (int t = 0; t < 4; t++)
                    if (!(m.recall[t] >= 0 && m.recall[t] <= 100)) abort();
        }
    } else if (p) {
        abort();
    }
    seize_predictions_free(p);
    seize_dataset_free(ds);
    return 0;
}
