// build/seize: the command table and dispatch (git.c style).
#include "cli.h"

#include <malloc.h>
#include <signal.h>
#include <string.h>

// One line per subcommand, in the order of the pipeline.
static const struct {
    const char *name;
    cli_cmd *fn;
    const char *summary;
} commands[] = {
    {"fetch-model", cmd_fetch_model, "download a CLIP model folder from the Hugging Face hub"},
    {"inspect", cmd_inspect, "summarise a CLIP model folder (architecture, dtype, parameters)"},
    {"tokenize", cmd_tokenize, "CLIP token ids of texts, one JSON array per line"},
    {"preprocess", cmd_preprocess, "decode and preprocess images to float32 [N,3,S,S] .npy"},
    {"encode-images", cmd_encode_images, "CLIP image embeddings of images, float32 [N,embed] .npy"},
    {"encode-texts", cmd_encode_texts, "CLIP text embeddings of texts, float32 [M,embed] .npy"},
    {"caption", cmd_caption, "caption images N times with a vision LLM (OpenAI-compatible API)"},
    {"reason", cmd_reason, "rewrite captions by relative texts with an LLM (SEIZE step 2)"},
    {"index", cmd_index, "build or import a gallery index (features.npy + names.txt + index.json)"},
    {"query-features", cmd_query_features, "query vectors from captions and edited captions"},
    {"search", cmd_search, "semantic editing search of an index (SEIZE, mean, LDRE)"},
    {"eval", cmd_eval, "official CIRCO / CIRR / FashionIQ metrics of rankings or submissions"},
    {"submission", cmd_submission, "write CIRCO / CIRR test-server submission files"},
    {"check-submission", cmd_check_submission, "validate a submission file before upload"},
    {"run", cmd_run, "the whole pipeline on a benchmark or a folder, cached, with a report"},
    {"serve", cmd_serve, "composed image retrieval over HTTP, with a web page (JSON API /v1)"},
};

// A command killed by SIGINT/SIGTERM/SIGHUP leaves no temporary file behind (the library's are
// removed), then dies of the signal. Commands that stop gracefully install their own handlers.
static void on_fatal_signal(int sig)
{
    seize_tmp_unlink_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int usage(FILE *fp, int rc)
{
    fprintf(fp, "usage: seize <command> [options]\n\nseize: SEIZE composed image retrieval "
                "(reference image + change text -> ranking)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-18s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'seize <command> --help' describes a command, 'seize --version' the version.\n", fp);
    return rc;
}

// Under mpirun, the commands that split over the ranks (seize/cluster.h) run on every rank;
// the others on rank 0 alone (two ranks writing the same files would fail on their locks).
static int on_every_rank(int argc, char **argv)
{
    const char *c = argv[1];
    return !strcmp(c, "search") || !strcmp(c, "run") ||
           (!strcmp(c, "index") && argc > 2 && !strcmp(argv[2], "build"));
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr, EXIT_USAGE);
    if (seize_cluster_init(&argc, &argv) < 0) return cli_lib_fail(argv[1]); // MPI if mpirun
    if (seize_cluster_rank() > 0 && !on_every_rank(argc, argv)) return EXIT_OK;
    // big freed buffers stay in the heap: a fresh mmap's page faults cost more than decoding
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help"))
        return usage(stdout, EXIT_OK);
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("seize %s\n", SEIZE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "seize: '%s' is not a seize command. See 'seize --help'.\n", name);
    return EXIT_USAGE;
}
