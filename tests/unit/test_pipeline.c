// Unit tests of the pipeline module (seize/pipeline.h) and the data-layout rule it uses
// (seize/data.h, "data layout").
#include "check.h"

#include "seize/core.h"
#include "seize/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
}

// --- data layout ---------------------------------------------------------------------------------

static void test_layout_paths(void)
{
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRCO, "/d", "val", NULL, &l), 0);
    CHECK_STREQ(l.annotations, "/d/annotations/val.json");
    CHECK_STREQ(l.gallery_list, "/d/COCO2017_unlabeled/annotations/image_info_unlabeled2017.json");
    CHECK_STREQ(l.image_root, "/d/COCO2017_unlabeled");
    char *p = seize_layout_image_path(&l, "unlabeled2017/000000000001.jpg");
    CHECK_STREQ(p, "/d/COCO2017_unlabeled/unlabeled2017/000000000001.jpg");
    free(p);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRR, "/d", "test1", NULL, &l), 0);
    CHECK_STREQ(l.annotations, "/d/captions/cap.rc2.test1.json");
    CHECK_STREQ(l.gallery_list, "/d/image_splits/split.rc2.test1.json");
    p = seize_layout_image_path(&l, "./test1/x.png"); // the split file's "./" is dropped
    CHECK_STREQ(p, "/d/test1/x.png");
    free(p);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, "/d", "val", "dress", &l), 0);
    CHECK_STREQ(l.annotations, "/d/captions/cap.dress.val.json");
    CHECK_STREQ(l.gallery_list, "/d/image_splits/split.dress.val.json");
    CHECK_STREQ(l.image_root, "/d/images");
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, "/d", "val", NULL, &l), SEIZE_EINVAL);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_folder("/photos", &l), 0);
    CHECK(l.is_folder && !l.annotations && !l.gallery_list);
    p = seize_layout_image_path(&l, "sub/a.jpg");
    CHECK_STREQ(p, "/photos/sub/a.jpg");
    free(p);
    seize_layout_free(&l);
    seize_layout_free(&l); // twice: a zeroed layout
}

// FashionIQ: the .jpg where the .png is absent, the .png when both or neither exist.
static void test_layout_fashioniq_jpg(void)
{
    char root[300];
    snprintf(root, sizeof root, "%s", check_tmp("fiq"));
    char images[400];
    snprintf(images, sizeof images, "%s/images", root);
    CHECK_EQ(seize_mkdirs(images), 0);
    char a_jpg[500], b_png[500], b_jpg[500];
    snprintf(a_jpg, sizeof a_jpg, "%s/a.jpg", images);
    snprintf(b_png, sizeof b_png, "%s/b.png", images);
    snprintf(b_jpg, sizeof b_jpg, "%s/b.jpg", images);
    touch(a_jpg);
    touch(b_png);
    touch(b_jpg);
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_FASHIONIQ, root, "val", "shirt", &l), 0);
    char *p = seize_layout_image_path(&l, "a.png");
    CHECK_STREQ(p, a_jpg);
    free(p);
    p = seize_layout_image_path(&l, "b.png");
    CHECK_STREQ(p, b_png);
    free(p);
    p = seize_layout_image_path(&l, "c.png");
    CHECK(p && strstr(p, "/images/c.png"));
    free(p);
    seize_layout_free(&l);
}

// The check names the first missing file or folder, in the order annotations, gallery, images.
static void test_layout_check(void)
{
    char root[300];
    snprintf(root, sizeof root, "%s", check_tmp("circo"));
    seize_layout l;
    CHECK_EQ(seize_layout_benchmark(SEIZE_DS_CIRCO, root, "val", NULL, &l), 0);
    const char *missing = NULL;
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(missing == l.annotations);
    CHECK(strstr(seize_errmsg(), "missing file '") && strstr(seize_errmsg(), "annotations/val.json"));
    char d[500];
    snprintf(d, sizeof d, "%s/annotations", root);
    CHECK_EQ(seize_mkdirs(d), 0);
    touch(l.annotations);
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(missing == l.gallery_list);
    snprintf(d, sizeof d, "%s/COCO2017_unlabeled/annotations", root);
    CHECK_EQ(seize_mkdirs(d), 0);
    touch(l.gallery_list);
    CHECK_EQ(seize_layout_check(&l, &missing), 0);
    CHECK(missing == NULL);
    // a missing image: the first missing part of its path
    char *img = seize_layout_image_path(&l, "unlabeled2017/1.jpg");
    char *m = seize_layout_first_missing(img);
    snprintf(d, sizeof d, "%s/COCO2017_unlabeled/unlabeled2017", root);
    CHECK_STREQ(m, d);
    free(m);
    CHECK_EQ(seize_mkdirs(d), 0);
    m = seize_layout_first_missing(img); // only the file itself
    CHECK_STREQ(m, img);
    free(m);
    touch(img);
    CHECK(seize_layout_first_missing(img) == NULL);
    free(img);
    seize_layout_free(&l);
    CHECK_EQ(seize_layout_folder(check_tmp("nosuch"), &l), 0);
    CHECK_EQ(seize_layout_check(&l, &missing), SEIZE_ENOTFOUND);
    CHECK(strstr(seize_errmsg(), "missing folder"));
    seize_layout_free(&l);
}

int main(void)
{
    if (check_tmp_init("pipeline") < 0) return 1;
    RUN(test_layout_paths);
    RUN(test_layout_fashioniq_jpg);
    RUN(test_layout_check);
    check_tmp_cleanup();
    return check_summary("pipeline");
}
