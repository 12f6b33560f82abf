// seize_caption_file (src/pipeline/caption_file.c), the paths that send no request: the images
// collected (each once), checked before any request, the dataset images by the layout rule.
#include "check.h"

#include "seize/data.h"
#include "seize/net.h"
#include "seize/pipeline.h"

#include <limits.h>

static seize_llm_params params(void)
{
    seize_llm_params p = seize_llm_default_params();
    p.endpoint = "http://127.0.0.1:9"; // never reached: every case stops before a request
    p.model = "m";
    return p;
}

// A path given twice is captioned once; a missing image stops the call before any request.
static void test_caption_file_images(void)
{
    NEED_FIXTURES();
    char a[PATH_MAX], gone[PATH_MAX + 16];
    CHECK(realpath(check_fixture_path("images/astronaut.png"), a) != NULL);
    snprintf(gone, sizeof gone, "%s.gone", a);
    const char *imgs[] = {a, a, gone};
    seize_llm_params p = params();
    seize_caption_file_job job = {
        .images = imgs, .n_images = 3, .out = check_tmp("c.jsonl"), .n_captions = 2};
    seize_caption_file_result res;
    CHECK_EQ(seize_caption_file(&p, &job, &res), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "1 of 2 images are missing"), "%s", seize_errmsg());
    CHECK_EQ(res.images.n, 2);
    CHECK_STREQ(res.journal, check_tmp("c.jsonl.journal"));
    CHECK(access(check_tmp("c.jsonl"), F_OK) != 0); // nothing written
    seize_caption_file_result_release(&res);
}

// --dataset: the reference images under the image folder (FashionIQ's .jpg where the .png is
// absent), named in the message about missing ones; a missing folder is named first.
static void test_caption_file_dataset(void)
{
    char dir[512], ann[512];
    snprintf(dir, sizeof dir, "%s", check_tmp("img"));
    snprintf(ann, sizeof ann, "%s", check_tmp("fiq.json"));
    mkdir(dir, 0755);
    check_write_text(ann,
                     "[{\"target\": \"T\", \"candidate\": \"B0\", \"captions\": [\"a\", \"b\"]},"
                     " {\"target\": \"T\", \"candidate\": \"B1\", \"captions\": [\"a\", \"b\"]}]");
    check_write_text(check_tmp("img/B0.jpg"), "x");
    seize_llm_params p = params();
    seize_caption_file_job job = {.dataset = "fashioniq",
                                  .annotations = ann,
                                  .image_dir = dir,
                                  .out = check_tmp("d.jsonl"),
                                  .n_captions = 1};
    seize_caption_file_result res;
    CHECK_EQ(seize_caption_file(&p, &job, &res), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "1 of 2 reference images are missing from '") &&
                  strstr(seize_errmsg(), "B1.jpg"),
              "%s", seize_errmsg());
    CHECK_EQ(res.images.n, 2);
    CHECK(strstr(res.images.v[0], "img/B0.jpg") != NULL);
    seize_caption_file_result_release(&res);
    job.image_dir = check_tmp("nowhere");
    CHECK_EQ(seize_caption_file(&p, &job, &res), SEIZE_ENOTFOUND);
    CHECK_MSG(strstr(seize_errmsg(), "nowhere' does not exist"), "%s", seize_errmsg());
    seize_caption_file_result_release(&res);
}

int main(void)
{
    if (check_tmp_init("caption_file") < 0) return 1;
    RUN(test_caption_file_images);
    RUN(test_caption_file_dataset);
    check_tmp_cleanup();
    return check_summary("caption_file");
}
