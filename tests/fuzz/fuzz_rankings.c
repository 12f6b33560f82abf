// libFuzzer target: the rankings reader (seize_predictions_load_rankings, the rankings.jsonl of
// seize search) against small fixed annotations, then what eval does with the result: the
// metrics, and for CIRCO / CIRR the submission file written from it and checked back.
//
// Input byte 0 picks the annotations (% 3: CIRCO, CIRR, FashionIQ) and the list read
// ((byte / 3) & 1: "ranking" or "subset"); the rest is the rankings file.
#include "seize/eval.h"

#include "fuzz_files.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const ann[3] = {
    "[{\"id\": 0, \"reference_img_id\": 1, \"relative_caption\": \"x\", \"target_img_id\": 10,"
    "  \"gt_img_ids\": [10, 11], \"semantic_aspects\": [\"addition\"]},"
    " {\"id\": 1, \"reference_img_id\": 2, \"relative_caption\": \"y\", \"target_img_id\": 20,"
    "  \"gt_img_ids\": [20]}]",
    "[{\"pairid\": 5, \"reference\": \"r\", \"caption\": \"c\", \"target_hard\": \"t\","
    "  \"img_set\": {\"members\": [\"r\", \"t\", \"m\"]}},"
    " {\"pairid\": 7, \"reference\": \"t\", \"caption\": \"d\", \"target_hard\": \"m\","
    "  \"img_set\": {\"members\": [\"t\", \"m\", \"r\"]}}]",
    "[{\"candidate\": \"a\", \"target\": \"b\", \"captions\": [\"x\", \"y\"]}]",
};
static const char *const gallery[] = {"1", "2", "10", "11", "20", "r", "t", "m", "a", "b"};
static seize_dataset *ds[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int k = 0; k < 3; k++)
        if (seize_dataset_parse((seize_ds_kind)k, ann[k], strlen(ann[k]), "ann.json", NULL,
                                &ds[k]) < 0) {
            fprintf(stderr, "fuzz_rankings: %s\n", seize_errmsg());
            abort();
        }
    fuzz_dir_init("fuzz_rankings");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int kind = data[0] % 3;
    const char *field = (data[0] / 3) & 1 ? "subset" : "ranking";
    const seize_dataset *d = ds[kind];
    const char *path = fuzz_write(0, "rankings.jsonl", data + 1, size - 1);
    seize_predictions *p = NULL;
    if (seize_predictions_load_rankings(d, path, field, &p) < 0) {
        if (p) abort(); // an error leaves *out NULL
        return 0;
    }
    if (!p || p->n != d->n) abort();
    for (size_t i = 0; i < p->n; i++)
        for (size_t j = 0; j < p->n_items[i]; j++)
            fuzz_touch(p->items[i][j]);
    const size_t n_gallery = sizeof gallery / sizeof gallery[0];
    if (kind == SEIZE_DS_CIRCO) {
        seize_circo_metrics m;
        if (seize_eval_circo(d, p, &m) == 0) {
            for (int t = 0; t < 4; t++)
                if (!(m.map[t] >= 0 && m.map[t] <= 100 + 1e-9) ||
                    !(m.recall[t] >= 0 && m.recall[t] <= 100))
                    abort();
            seize_circo_metrics_release(&m);
        }
        const char *sub = fuzz_write(1, "submission.json", "", 0);
        if (seize_submission_write_circo(d, p, sub) == 0) {
            size_t nq = 0;
            (void)seize_submission_check(d, sub, gallery, n_gallery, &nq);
        }
    } else if (kind == SEIZE_DS_CIRR) {
        seize_cirr_metrics m;
        if (seize_eval_cirr(d, p, p, &m) == 0)
            for (int t = 0; t < 4; t++)
                if (!(m.recall[t] >= 0 && m.recall[t] <= 100)) abort();
        const char *sub = fuzz_write(1, "submission.json", "", 0);
        if (seize_submission_write_cirr(d, p, field[0] == 's', sub) == 0) {
            size_t nq = 0;
            if (seize_submission_check(d, sub, gallery, n_gallery, &nq) == 0 && nq != d->n) abort();
        }
    } else {
        seize_fiq_metrics m;
        if (seize_eval_fashioniq(d, p, &m) == 0 && !(m.r10 >= 0 && m.r10 <= m.r50 && m.r50 <= 100))
            abort();
    }
    seize_predictions_free(p);
    return 0;
}
