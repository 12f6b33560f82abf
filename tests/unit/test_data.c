// Unit tests for src/data: the official annotation files, gallery lists and caption files.
#include "check.h"

#include "seize/data.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_circo_val(void)
{
    NEED_DATA("circo/val.json");
    seize_dataset *ds = NULL;
    CHECK_EQ(seize_dataset_load(SEIZE_DS_CIRCO, check_data_path("circo/val.json"), &ds), 0);
    CHECK_EQ(ds->n, 220);
    CHECK(ds->has_targets);
    const seize_query *q = &ds->q[0];
    CHECK_STREQ(q->id, "0");
    CHECK_STREQ(q->reference, "271520");
    CHECK_STREQ(q->target, "355099");
    CHECK_STREQ(q->text, "shows two people and has a more colorful background");
    CHECK_STREQ(q->shared_concept, "a girl with a traditional Chinese umbrella");
    CHECK_EQ(q->n_gt, 3);
    CHECK_STREQ(q->gt[2], "534704");
    CHECK_EQ(q->n_aspects, 4);
    CHECK_STREQ(q->aspects[3], "spatial_relations_background");
    size_t pos;
    CHECK_EQ(seize_dataset_find(ds, "219", &pos), 0);
    CHECK_EQ(pos, 219);
    CHECK_EQ(seize_dataset_find(ds, "220", &pos), SEIZE_ENOTFOUND);
    seize_dataset_free(ds);
}

static void test_circo_test_and_captions(void)
{
    NEED_DATA("circo/test_with_seize_captions.json");
    seize_dataset *ds = NULL;
    CHECK_EQ(seize_dataset_load(SEIZE_DS_CIRCO, check_data_path("circo/test.json"), &ds), 0);
    CHECK_EQ(ds->n, 800);
    CHECK(!ds->has_targets);
    CHECK(ds->q[0].target == NULL);
    CHECK_STREQ(ds->q[0].reference, "281438");
    CHECK_STREQ(ds->q[0].text, "has a higher quality and is taken during the daytime");
    seize_dataset_free(ds);

    seize_captions *c = NULL;
    CHECK_EQ(
        seize_captions_load(check_data_path("circo/test_with_seize_captions.json"), NULL, NULL, &c),
        0);
    CHECK_EQ(c->n, 800);
    CHECK_STREQ(c->ids[0], "0");
    CHECK_EQ(c->n_captions[0], 15);
    CHECK_EQ(c->n_edits[0], 15);
    CHECK_STREQ(c->captions[0][0], "a man sits on a toilet in the middle of the street");
    for (size_t i = 0; i < c->n; i++) {
        CHECK_EQ(c->n_captions[i], 15);
        CHECK_EQ(c->n_edits[i], 15);
    }
    seize_captions_free(c);
    // configurable keys: the single-caption fields of the same file
    CHECK_EQ(seize_captions_load(check_data_path("circo/test_with_seize_captions.json"),
                                 "blip2_caption", "gpt-3.5-turbo", &c),
             0);
    CHECK_EQ(c->n_captions[0], 1);
    CHECK_STREQ(c->captions[0][0], "a man sitting on a toilet on the side of the road");
    CHECK_STREQ(c->edits[0][0],
                "a man sitting on a clean toilet on the side of the road during the daytime.");
    seize_captions_free(c);
    CHECK_EQ(seize_captions_load(check_data_path("circo/test_with_seize_captions.json"), "nope",
                                 "nada", &c),
             SEIZE_EFORMAT);
}

static void test_cirr(void)
{
    NEED_DATA("cirr/cap.rc2.test1.json");
    seize_dataset *ds = NULL;
    CHECK_EQ(seize_dataset_load(SEIZE_DS_CIRR, check_data_path("cirr/cap.rc2.test1.json"), &ds), 0);
    CHECK_EQ(ds->n, 4148);
    CHECK(!ds->has_targets);
    CHECK_STREQ(ds->q[0].id, "12063");
    CHECK_STREQ(ds->q[0].reference, "test1-147-1-img1");
    CHECK_STREQ(ds->q[0].text, "remove all but one dog and add a woman hugging it");
    CHECK_EQ(ds->q[0].n_members, 6);
    CHECK_STREQ(ds->q[0].members[5], "test1-83-0-img1");
    seize_dataset_free(ds);
    seize_gallery_list *g = NULL;
    CHECK_EQ(
        seize_gallery_list_load(SEIZE_DS_CIRR, check_data_path("cirr/split.rc2.test1.json"), &g),
        0);
    CHECK_EQ(g->n, 2315);
    CHECK_STREQ(g->names[0], "test1-147-1-img1");
    CHECK_STREQ(g->paths[0], "test1/test1-147-1-img1.png");
    seize_gallery_list_free(g);
}

static void test_fashioniq(void)
{
    NEED_DATA("fashioniq/cap.dress.val.json");
    const char *cats[3] = {"dress", "shirt", "toptee"};
    const size_t nq[3] = {2017, 2038, 1961}, ng[3] = {3817, 6346, 5373};
    for (int c = 0; c < 3; c++) {
        char a[64], s[64];
        snprintf(a, sizeof a, "fashioniq/cap.%s.val.json", cats[c]);
        snprintf(s, sizeof s, "fashioniq/split.%s.val.json", cats[c]);
        seize_dataset *ds = NULL;
        CHECK_EQ(seize_dataset_load(SEIZE_DS_FASHIONIQ, check_data_path(a), &ds), 0);
        CHECK_EQ(ds->n, nq[c]);
        CHECK(ds->has_targets);
        if (c == 0) {
            CHECK_STREQ(ds->q[0].reference, "B005X4PL1G");
            CHECK_STREQ(ds->q[0].target, "B0084Y8XIU");
            CHECK_EQ(ds->q[0].n_texts, 2);
            CHECK_STREQ(ds->q[0].text, "is shiny and silver with shorter sleevesfit and flare");
            CHECK_STREQ(ds->q[1].id, "1");
        }
        seize_dataset_free(ds);
        seize_gallery_list *g = NULL;
        CHECK_EQ(seize_gallery_list_load(SEIZE_DS_FASHIONIQ, check_data_path(s), &g), 0);
        CHECK_EQ(g->n, ng[c]);
        seize_gallery_list_free(g);
    }
    seize_dataset_opts o = {.fiq_joiner = " and "};
    seize_dataset *ds = NULL;
    CHECK_EQ(seize_dataset_load_ex(SEIZE_DS_FASHIONIQ,
                                   check_data_path("fashioniq/cap.dress.val.json"), &o, &ds),
             0);
    CHECK_STREQ(ds->q[0].text, "is shiny and silver with shorter sleeves and fit and flare");
    seize_dataset_free(ds);
}

static void test_circo_gallery_and_jsonl(void)
{
    check_write_text(check_tmp("coco.json"),
                     "{\"info\": {}, \"images\": [{\"id\": 8, \"file_name\": "
                     "\"000000000008.jpg\"}, {\"id\": 123, \"width\": 3}]}");
    seize_gallery_list *g = NULL;
    CHECK_EQ(seize_gallery_list_load(SEIZE_DS_CIRCO, check_tmp("coco.json"), &g), 0);
    CHECK_EQ(g->n, 2);
    CHECK_STREQ(g->names[0], "8");
    CHECK_STREQ(g->paths[0], "unlabeled2017/000000000008.jpg");
    CHECK_STREQ(g->paths[1], "unlabeled2017/000000000123.jpg");
    seize_gallery_list_free(g);
    check_write_text(check_tmp("dup.json"), "{\"images\": [{\"id\": 8}, {\"id\": \"8\"}]}");
    CHECK_EQ(seize_gallery_list_load(SEIZE_DS_CIRCO, check_tmp("dup.json"), &g), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "'8'") != NULL);

    // our JSON Lines captions
    check_write_text(check_tmp("c.jsonl"),
                     "{\"id\": 4, \"captions\": [\"a\", \"b\"], \"edits\": [\"A\"]}\n\n"
                     "{\"id\": \"x\", \"captions\": \"one\", \"edited\": [\"E1\", \"E2\"]}\n"
                     "{\"captions\": [\"z\"]}\n");
    seize_captions *c = NULL;
    CHECK_EQ(seize_captions_load(check_tmp("c.jsonl"), NULL, NULL, &c), 0);
    CHECK_EQ(c->n, 3);
    CHECK_STREQ(c->ids[0], "4");
    CHECK_EQ(c->n_captions[0], 2);
    CHECK_STREQ(c->edits[0][0], "A"); // "edits" accepted for "edited"
    CHECK_EQ(c->n_edits[1], 2);
    CHECK_STREQ(c->edits[1][1], "E2");
    CHECK_STREQ(c->captions[1][0], "one");
    CHECK(c->ids[2] == NULL);
    CHECK_EQ(c->n_edits[2], 0);
    seize_captions_free(c);
    check_write_text(check_tmp("bad.jsonl"), "{\"captions\": [\"a\", 3]}\n");
    CHECK_EQ(seize_captions_load(check_tmp("bad.jsonl"), NULL, NULL, &c), SEIZE_EFORMAT);
    CHECK(strstr(seize_errmsg(), "bad.jsonl") != NULL);
    // a caption longer than SEIZE_MAX_CAPTION_BYTES: refused, named (the file and the size)
    size_t big = SEIZE_MAX_CAPTION_BYTES + 1;
    char *text = malloc(big + 64);
    CHECK(text != NULL);
    if (!text) return;
    for (int edits = 0; edits < 2; edits++) {
        int at = snprintf(text, 64,
                          edits ? "{\"captions\": [\"a\"], \"edited\": \""
                                : "{\"captions\": [\"a\", \"");
        memset(text + at, 'x', big);
        strcpy(text + at + big, edits ? "\"}\n" : "\"]}\n");
        check_write_text(check_tmp("long.jsonl"), text);
        c = (void *)1;
        CHECK_EQ(seize_captions_load(check_tmp("long.jsonl"), NULL, NULL, &c), SEIZE_EFORMAT);
        CHECK(c == NULL);
        CHECK_MSG(strstr(seize_errmsg(), "long.jsonl") && strstr(seize_errmsg(), "65537 bytes"),
                  "message '%s'", seize_errmsg());
    }
    // at the limit: accepted
    int at = snprintf(text, 64, "{\"captions\": [\"");
    memset(text + at, 'y', big - 1);
    strcpy(text + at + big - 1, "\"]}\n");
    check_write_text(check_tmp("long.jsonl"), text);
    CHECK_EQ(seize_captions_load(check_tmp("long.jsonl"), NULL, NULL, &c), 0);
    if (c) CHECK_EQ(strlen(c->captions[0][0]), SEIZE_MAX_CAPTION_BYTES);
    seize_captions_free(c);
    free(text);
}

static void test_bad_annotations(void)
{
    struct {
        seize_ds_kind kind;
        const char *text, *needle;
    } cases[] = {
        {SEIZE_DS_CIRCO, "{}", "array"},
        {SEIZE_DS_CIRCO, "[{\"id\": 0, \"relative_caption\": \"x\"}]", "reference_img_id"},
        {SEIZE_DS_CIRCO,
         "[{\"id\": 0, \"reference_img_id\": 1, \"relative_caption\": \"x\"},"
         " {\"id\": 0, \"reference_img_id\": 2, \"relative_caption\": \"y\"}]",
         "same id"},
        {SEIZE_DS_CIRCO,
         "[{\"id\": 0, \"reference_img_id\": 1, \"relative_caption\": \"x\", "
         "\"target_img_id\": 5, \"gt_img_ids\": [6, 5]}]",
         "first"},
        {SEIZE_DS_CIRCO, "[{\"id\": 0, \"reference_img_id\": [1], \"relative_caption\": \"x\"}]",
         "string or an integer"},
        {SEIZE_DS_CIRR, "[{\"pairid\": 1, \"reference\": \"a\", \"caption\": \"c\"}]", "members"},
        {SEIZE_DS_CIRR,
         "[{\"pairid\": 1, \"reference\": \"a\", \"caption\": \"c\", "
         "\"img_set\": {\"members\": [{}]}}]",
         "members"},
        {SEIZE_DS_FASHIONIQ, "[{\"candidate\": \"a\", \"target\": \"b\"}]", "captions"},
        {SEIZE_DS_FASHIONIQ, "[{\"candidate\": \"a\", \"captions\": [\"x\"] ", "parse"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seize_dataset *ds = (void *)1;
        int rc = seize_dataset_parse(cases[i].kind, cases[i].text, strlen(cases[i].text), "t.json",
                                     NULL, &ds);
        CHECK_MSG(rc == SEIZE_EFORMAT, "case %zu: rc %d", i, rc);
        CHECK(ds == NULL);
        CHECK_MSG(strstr(seize_errmsg(), cases[i].needle) && strstr(seize_errmsg(), "t.json"),
                  "case %zu: message '%s'", i, seize_errmsg());
    }
}

// The four sources of a build's images (seize_image_list_gather).
static void test_image_sources(void)
{
    mkdir(check_tmp("src"), 0755);
    mkdir(check_tmp("src/sub"), 0755);
    check_write_text(check_tmp("src/b.PNG"), "x");
    check_write_text(check_tmp("src/a.jpg"), "x");
    check_write_text(check_tmp("src/sub/c.jpeg"), "x");
    seize_image_list l;
    char dir[512], lst[512], bad[512], split[512], img[512];
    snprintf(dir, sizeof dir, "%s", check_tmp("src"));
    snprintf(lst, sizeof lst, "%s", check_tmp("src/list.txt"));
    snprintf(bad, sizeof bad, "%s", check_tmp("src/bad.txt"));
    snprintf(split, sizeof split, "%s", check_tmp("src/split.json"));
    snprintf(img, sizeof img, "%s", check_tmp("src/img"));
    seize_images_source tree = {SEIZE_IMAGES_TREE, dir, NULL};
    CHECK_EQ(seize_image_list_gather(&tree, &l), 0);
    CHECK_EQ(l.n, 3);
    CHECK_STREQ(l.names[2], "sub/c.jpeg");
    CHECK_STREQ(l.paths[0], check_tmp("src/a.jpg"));
    CHECK(l.notes == NULL);
    seize_image_list_free(&l);
    seize_images_source flat = {SEIZE_IMAGES_FLAT, dir, NULL};
    CHECK_EQ(seize_image_list_gather(&flat, &l), 0);
    CHECK_EQ(l.n, 2);
    CHECK_STREQ(l.names[0], "a");
    CHECK_STREQ(l.names[1], "b");
    seize_image_list_free(&l);
    char *label = seize_images_source_label(&flat);
    CHECK(label && !strncmp(label, "images:", 7));
    free(label);

    // a list: PATH (named by its stem) or NAME<TAB>PATH, relative to the list's folder or root
    check_write_text(lst, "sub/c.jpeg\n\nmine\t/abs/x.png\n");
    seize_images_source list = {SEIZE_IMAGES_LIST, lst, NULL};
    CHECK_EQ(seize_image_list_gather(&list, &l), 0);
    CHECK_EQ(l.n, 2);
    CHECK_STREQ(l.names[0], "c");
    CHECK_STREQ(l.paths[0], check_tmp("src/sub/c.jpeg"));
    CHECK_STREQ(l.names[1], "mine");
    CHECK_STREQ(l.paths[1], "/abs/x.png");
    seize_image_list_free(&l);
    list.root = "elsewhere";
    CHECK_EQ(seize_image_list_gather(&list, &l), 0);
    CHECK_STREQ(l.paths[0], "elsewhere/sub/c.jpeg");
    seize_image_list_free(&l);
    check_write_text(bad, "ok.png\nbad\001name\tx.png\n");
    list = (seize_images_source){SEIZE_IMAGES_LIST, bad, NULL};
    CHECK_EQ(seize_image_list_gather(&list, &l), SEIZE_EFORMAT);
    CHECK_MSG(strstr(seize_errmsg(), "bad.txt' line 2") && strstr(seize_errmsg(), "bad\\x01name"),
              "%s", seize_errmsg());
    CHECK_EQ(l.n, 0);

    // a FashionIQ gallery file: <name>.png, or the .jpg where the .png is absent
    mkdir(img, 0755);
    check_write_text(check_tmp("src/img/B1.jpg"), "x");
    check_write_text(split, "[\"B1\", \"B2\"]");
    seize_images_source ds = {SEIZE_IMAGES_DATASET, split, img, SEIZE_DS_FASHIONIQ};
    CHECK_EQ(seize_image_list_gather(&ds, &l), 0);
    CHECK_EQ(l.n, 2);
    CHECK_STREQ(l.paths[0], check_tmp("src/img/B1.jpg"));
    CHECK_STREQ(l.paths[1], check_tmp("src/img/B2.png"));
    seize_image_list_free(&l);
    label = seize_images_source_label(&ds);
    CHECK(label && !strncmp(label, "fashioniq:", 10));
    free(label);
}

// seize caption --dataset's images: a benchmark's reference images by the data-layout rule.
static void test_layout_references(void)
{
    char img[512], ann[512], split[512], nowhere[512];
    snprintf(img, sizeof img, "%s", check_tmp("refs"));
    snprintf(ann, sizeof ann, "%s", check_tmp("refs/fiq.json"));
    snprintf(split, sizeof split, "%s", check_tmp("refs/split.json"));
    snprintf(nowhere, sizeof nowhere, "%s", check_tmp("nowhere"));
    mkdir(img, 0755);
    check_write_text(check_tmp("refs/B0.jpg"), "x");
    check_write_text(check_tmp("refs/B1.png"), "x");
    check_write_text(ann,
                     "[{\"target\": \"T\", \"candidate\": \"B0\", \"captions\": [\"a\", \"b\"]},"
                     " {\"target\": \"T\", \"candidate\": \"B1\", \"captions\": [\"a\", \"b\"]},"
                     " {\"target\": \"T\", \"candidate\": \"B0\", \"captions\": [\"a\", \"b\"]},"
                     " {\"target\": \"T\", \"candidate\": \"B2\", \"captions\": [\"a\", \"b\"]}]");
    seize_layout l;
    seize_strvec v = {0};
    CHECK_EQ(seize_layout_files(SEIZE_DS_FASHIONIQ, ann, NULL, img, &l), 0);
    CHECK_EQ(seize_layout_references(&l, &v), 0);
    CHECK_EQ(v.n, 3); // B0 once, in first-use order
    CHECK_STREQ(v.v[0], check_tmp("refs/B0.jpg"));
    CHECK_STREQ(v.v[1], check_tmp("refs/B1.png"));
    CHECK_STREQ(v.v[2], check_tmp("refs/B2.jpg")); // neither exists: the .jpg is named
    seize_strvec_free(&v);
    seize_layout_free(&l);
    // CIRCO by name: the 12-digit COCO file name
    CHECK_EQ(seize_layout_files(SEIZE_DS_CIRCO, NULL, NULL, "/coco", &l), 0);
    char *p = seize_layout_name_path(&l, "355099");
    CHECK_STREQ(p, "/coco/000000355099.jpg");
    free(p);
    seize_layout_free(&l);
    // a missing image folder is named before anything is read
    CHECK_EQ(seize_layout_files(SEIZE_DS_FASHIONIQ, ann, NULL, nowhere, &l), 0);
    CHECK_EQ(seize_layout_references(&l, &v), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "image folder '") && strstr(seize_errmsg(), "does not exist"),
              "%s", seize_errmsg());
    seize_layout_free(&l);
    // CIRR with a split file: its paths under the folder; a reference it lacks names the query
    check_write_text(ann,
                     "[{\"pairid\": 5, \"reference\": \"r0\", \"caption\": \"x\", \"img_set\": "
                     "{\"id\": 1, \"members\": [\"r0\"]}}, {\"pairid\": 6, \"reference\": \"r1\", "
                     "\"caption\": \"y\", \"img_set\": {\"id\": 1, \"members\": [\"r1\"]}}]");
    check_write_text(split, "{\"r0\": \"./dev/r0.png\", \"r1\": \"./dev/r1.png\"}");
    CHECK_EQ(seize_layout_files(SEIZE_DS_CIRR, ann, split, img, &l), 0);
    CHECK_EQ(seize_layout_references(&l, &v), 0);
    CHECK_EQ(v.n, 2);
    CHECK_STREQ(v.v[1], check_tmp("refs/dev/r1.png"));
    seize_strvec_free(&v);
    check_write_text(split, "{\"r0\": \"./dev/r0.png\"}");
    CHECK_EQ(seize_layout_references(&l, &v), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "query 2: reference 'r1' is not in"), "%s", seize_errmsg());
    seize_strvec_free(&v);
    seize_layout_free(&l);
}

int main(void)
{
    if (check_tmp_init("data") < 0) return 1;
    RUN(test_circo_val);
    RUN(test_circo_test_and_captions);
    RUN(test_cirr);
    RUN(test_fashioniq);
    RUN(test_circo_gallery_and_jsonl);
    RUN(test_bad_annotations);
    RUN(test_image_sources);
    RUN(test_layout_references);
    check_tmp_cleanup();
    return check_summary("data");
}
