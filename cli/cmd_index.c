// seize index import|build: create gallery index folders.
#include "cli.h"

#include "seize/index.h"

#include <getopt.h>
#include <string.h>

static const char *CMD = "index";

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: seize index import --features F.npy --names N.txt --out INDEX [--dtype f32|f16]\n"
            "\n"
            "An index is a folder with features.npy (L2-normalised rows), names.txt (one gallery\n"
            "name per line, same order) and index.json (model identity, preprocessing, dtype,\n"
            "count, failed images).\n"
            "\n"
            "import: reads [n, dim] features (float32 or float16 .npy) and n names, normalises each\n"
            "        row and writes the index.\n"
            "  --features FILE   .npy features\n"
            "  --names FILE      gallery names, one per line (unique, non-empty)\n"
            "  --out DIR         index folder to write (files are replaced atomically)\n"
            "  --dtype T         stored dtype: f32 (default) or f16\n"
            "  -h, --help        this help\n");
}

static int parse_dtype(const char *s, seize_dtype *d)
{
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) *d = SEIZE_F32;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16")) *d = SEIZE_F16;
    else return -1;
    return 0;
}

static int index_import(int argc, char **argv)
{
    static const struct option opts[] = {{"features", required_argument, 0, 'f'},
                                         {"names", required_argument, 0, 'n'},
                                         {"out", required_argument, 0, 'o'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *feats = NULL, *names = NULL, *out = NULL;
    seize_dtype dt = SEIZE_F32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': feats = optarg; break;
        case 'n': names = optarg; break;
        case 'o': out = optarg; break;
        case 'd':
            if (parse_dtype(optarg, &dt) < 0) return cli_usage(CMD, "bad --dtype '%s' (f32 or f16)", optarg);
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_usage(CMD, "unknown option");
        }
    }
    if (optind < argc) return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!feats || !names || !out) return cli_usage(CMD, "--features, --names and --out are required");
    if (seize_index_import(feats, names, out, dt) < 0) return cli_lib_fail(CMD);
    return EXIT_OK;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 2) return cli_usage(CMD, "missing the action (import)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "import")) return index_import(argc - 1, argv + 1);
    return cli_usage(CMD, "unknown action '%s'", argv[1]);
}
