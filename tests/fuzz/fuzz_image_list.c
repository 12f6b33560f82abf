// libFuzzer target: the --list file of seize index build (seize_image_list_gather, LIST source:
// PATH or NAME<TAB>PATH lines, the gallery-name rule), then the pre-build check text on what it
// gave (seize_build_images_prepare does both).
#include "seize/index.h"

#include "fuzz_files.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_dir_init("fuzz_image_list");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *list = fuzz_write(0, "list.txt", data, size);
    seize_images_source src = {.from = SEIZE_IMAGES_LIST, .path = list};
    seize_image_list l;
    if (seize_image_list_gather(&src, &l) == 0) {
        for (size_t i = 0; i < l.n; i++) { // every name passes the rule, every path is a string
            if (seize_gallery_name_problem(l.names[i], strlen(l.names[i]))) abort();
            fuzz_touch(l.paths[i]);
        }
        seize_image_list_free(&l);
    } else if (l.n || l.names || l.paths) {
        abort(); // an error leaves *out zeroed
    }
    seize_build_images b;
    if (seize_build_images_prepare(&src, "rename one", "check the list", &b) == 0) {
        if (!b.source || (b.list.n && !b.items)) abort();
        for (size_t i = 0; i < b.list.n; i++)
            fuzz_touch(b.items[i].name);
    }
    seize_build_images_release(&b);
    return 0;
}
