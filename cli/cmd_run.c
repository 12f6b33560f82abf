// seize run: the whole pipeline (caption -> reason -> index -> features -> search -> eval or
// submission) through seize_run (seize/pipeline.h). This file parses the options into
// seize_run_params, prints what the run reports, turns signals into its cancellation and its
// result into the exit status.
#include "cli.h"

#include "seize/core.h"
#include "seize/data.h"
#include "seize/pipeline.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: seize run DATASET --data-root ROOT --split val|test --model DIR --out RUN_DIR "
    "[options]\n"
    "       seize run folder --gallery FOLDER --queries Q.jsonl --model DIR --out RUN_DIR "
    "[options]\n"
    "\n"
    "Runs SEIZE end to end: caption the reference images, edit the captions with an LLM, index\n"
    "the gallery with CLIP, encode the captions, search, then evaluate (val) or write the\n"
    "test-server submission files (test). Every stage is cached in RUN_DIR by a key of what it\n"
    "depends on: rerunning the same command redoes nothing and sends no request; changing\n"
    "--pos/--neg only searches again; an interrupted run resumes where it stopped.\n"
    "\n"
    "DATASET and its files under ROOT:\n"
    "  circo      annotations/<split>.json, COCO2017_unlabeled/annotations/\n"
    "             image_info_unlabeled2017.json, images under COCO2017_unlabeled/\n"
    "  cirr       captions/cap.rc2.<split>.json, image_splits/split.rc2.<split>.json, images\n"
    "             under ROOT as the split file gives them (val is the 'val' split: "
    "cap.rc2.val.json)\n"
    "  fashioniq  captions/cap.<category>.<split>.json, "
    "image_splits/split.<category>.<split>.json,\n"
    "             images/<name>.png (or .jpg); every category unless --category\n"
    "  folder     --gallery FOLDER (its images, named by their path in it, searched recursively;\n"
    "             linked folders entered once) and --queries FILE (JSON Lines {\"id\", "
    "\"reference\",\n"
    "             \"relative_text\"[, \"target\"]}; ids unique; a target must be a gallery name)\n"
    "\n"
    "Paths: relative paths in options (--gallery, --data-root, --out, --queries, --captions,\n"
    "--model, --prompt-file) are taken from the current folder, as in any shell command. A\n"
    "query's \"reference\" is an image path: absolute, or relative to the current folder, else\n"
    "relative to the queries file's folder; failing both it is taken as a gallery name (the path\n"
    "inside --gallery). Everything is checked before the first request: the model folder, the\n"
    "dataset's files and folders, every reference image (a JPEG or PNG file), ids and targets.\n"
    "\n"
    "Captions and edits (one of):\n"
    "  --captions FILE            the authors' caption file (multi_caption_opt, "
    "multi_gpt-3.5_opt)\n"
    "                             or JSON Lines {\"id\", \"captions\", \"edits\"|\"edited\"}; for\n"
    "                             fashioniq '{category}' in FILE is replaced by the category.\n"
    "                             Without edits in it, the LLM stage makes them.\n"
    "  --captioner-endpoint URL --captioner-model NAME   caption stage (seize caption)\n"
    "  --llm-endpoint URL --llm-model NAME               editing stage (seize reason)\n"
    "                             (both endpoints default to $OPENAI_BASE_URL; the key comes\n"
    "                             from $OPENAI_API_KEY)\n"
    "  --caption-prompt TEXT      instruction sent with each image\n"
    "  --temperature T, --top-p P captioning sampling (default 1.0, 0.9)\n"
    "  --seed S                   seed sent to both servers (not sent if unset)\n"
    "  --concurrency N            requests in flight (default 16)\n"
    "  --timeout SEC              per request (default 60)\n"
    "  --max-attempts N           per request (default 6)\n"
    "  --backoff-base SEC         first retry delay (default 1; full jitter, as seize reason)\n"
    "  --prompt-file FILE         editing prompt template (see seize reason --help)\n"
    "  --fiq-join STR             FashionIQ: text between its two captions (default none)\n"
    "Retrieval:\n"
    "  --num-captions N           captions per query (default 15)\n"
    "  --method M                 seize (default), mean or ldre\n"
    "  --pos P, --neg N           SEIZE weights (default: circo 0.13/2.1, cirr 0.22/1.0,\n"
    "                             fashioniq and folder 0.13/2.1)\n"
    "  --k K                      ranking length (default 50)\n"
    "  --category C               fashioniq: dress, shirt or toptee (default: all three)\n"
    "  --no-pad                   plain CLIP preprocessing (default: SEIZE's TargetPad 1.25)\n"
    "  --batch B, --threads N     encoding batch (default 32) and threads (default all cores)\n"
    "Report:\n"
    "  --report-queries N         queries shown in report.html (default 10)\n"
    "  --report-k K               ranked images shown per query (default 10)\n"
    "Run folder:\n"
    "  --restart                  discard the unfinished stages' partial state (journals, a\n"
    "                             partial index) and start them over; finished stages stay\n"
    "                             cached. A stage starts over by itself when what its partial\n"
    "                             state was made with changed: another captioner or LLM model,\n"
    "                             endpoint, prompt, sampling or seed (answers of unchanged items\n"
    "                             are kept when only the queries changed), another gallery or\n"
    "                             CLIP model for the index.\n"
    "  -q, --quiet                no progress lines\n"
    "  -h, --help                 this help\n"
    "\n"
    "RUN_DIR receives captions.jsonl, edits.jsonl, index/, rankings.jsonl (with the query ids),\n"
    "metrics.json (val, or folder queries with targets), submission files (test), manifest.json\n"
    "(what produced each file: models, endpoints, prompts, settings, the CLIP weights' hash) and\n"
    "report.html (per category for fashioniq). One seize run at a time per RUN_DIR: a second one\n"
    "fails at once (the lock is an flock on the folder itself, so it writes nothing). A rerun\n"
    "whose stages are all cached writes nothing at all (RUN_DIR may then be read-only) and\n"
    "leaves manifest.json as the run that produced the files wrote it. Every stage runs inside\n"
    "seize run itself (no other process is started).\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 done, but some gallery images failed, or a\n"
    "reference image is not an image (permanent: listed on stderr and in manifest.json);\n"
    "128+N stopped by signal N (130: Ctrl-C; rerun to resume).\n";

// --- signals and events --------------------------------------------------------------------------

static seize_run_cancel g_cancel;

static void interrupted(int sig)
{
    seize_tmp_unlink_all();
    static const char msg[] = "seize run: interrupted; rerun to resume\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(128 + sig);
}

// SIGINT/SIGTERM/SIGHUP: with no stage running the run stops here (temporaries removed); with
// one running, the stage gets the signal once (it runs in its own process group, so a
// terminal's Ctrl-C reaches this process only and is passed on from here) and the run stops
// when the stage has ended (the LLM stages finish the requests in flight and keep them).
static void on_run_signal(int sig)
{
    seize_cancel_request(&g_cancel.token, sig);
    pid_t c = (pid_t)g_cancel.stage_pid;
    if (c <= 0) interrupted(sig);
    kill(c, sig);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_run_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

// Progress lines and notes unless --quiet; warnings always.
static void on_event(void *user, const seize_run_event *ev)
{
    const int *quiet = user;
    if (ev->level == SEIZE_RUN_INFO && *quiet) return;
    fprintf(stderr, "seize run: %s\n", ev->message);
}

// --- options -------------------------------------------------------------------------------------

enum {
    O_ROOT = 256,
    O_SPLIT,
    O_MODEL,
    O_OUT,
    O_GALLERY,
    O_QUERIES,
    O_CAPTIONS,
    O_CATEGORY,
    O_CAP_EP,
    O_CAP_MODEL,
    O_LLM_EP,
    O_LLM_MODEL,
    O_CAP_PROMPT,
    O_PROMPT_FILE,
    O_TEMP,
    O_TOPP,
    O_SEED,
    O_CONC,
    O_TIMEOUT,
    O_ATTEMPTS,
    O_FIQ,
    O_NUMCAP,
    O_METHOD,
    O_POS,
    O_NEG,
    O_K,
    O_NOPAD,
    O_BATCH,
    O_THREADS,
    O_RQ,
    O_RK,
    O_BACKOFF,
    O_RESTART
};

static const struct option opts[] = {{"data-root", required_argument, NULL, O_ROOT},
                                     {"split", required_argument, NULL, O_SPLIT},
                                     {"model", required_argument, NULL, O_MODEL},
                                     {"out", required_argument, NULL, O_OUT},
                                     {"gallery", required_argument, NULL, O_GALLERY},
                                     {"queries", required_argument, NULL, O_QUERIES},
                                     {"captions", required_argument, NULL, O_CAPTIONS},
                                     {"category", required_argument, NULL, O_CATEGORY},
                                     {"captioner-endpoint", required_argument, NULL, O_CAP_EP},
                                     {"captioner-model", required_argument, NULL, O_CAP_MODEL},
                                     {"llm-endpoint", required_argument, NULL, O_LLM_EP},
                                     {"llm-model", required_argument, NULL, O_LLM_MODEL},
                                     {"caption-prompt", required_argument, NULL, O_CAP_PROMPT},
                                     {"prompt-file", required_argument, NULL, O_PROMPT_FILE},
                                     {"temperature", required_argument, NULL, O_TEMP},
                                     {"top-p", required_argument, NULL, O_TOPP},
                                     {"seed", required_argument, NULL, O_SEED},
                                     {"concurrency", required_argument, NULL, O_CONC},
                                     {"timeout", required_argument, NULL, O_TIMEOUT},
                                     {"max-attempts", required_argument, NULL, O_ATTEMPTS},
                                     {"backoff-base", required_argument, NULL, O_BACKOFF},
                                     {"fiq-join", required_argument, NULL, O_FIQ},
                                     {"num-captions", required_argument, NULL, O_NUMCAP},
                                     {"method", required_argument, NULL, O_METHOD},
                                     {"pos", required_argument, NULL, O_POS},
                                     {"neg", required_argument, NULL, O_NEG},
                                     {"k", required_argument, NULL, O_K},
                                     {"no-pad", no_argument, NULL, O_NOPAD},
                                     {"batch", required_argument, NULL, O_BATCH},
                                     {"threads", required_argument, NULL, O_THREADS},
                                     {"report-queries", required_argument, NULL, O_RQ},
                                     {"report-k", required_argument, NULL, O_RK},
                                     {"restart", no_argument, NULL, O_RESTART},
                                     {"quiet", no_argument, NULL, 'q'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};

// A number option into *out: 0, or the usage error's exit status (`range`: the message names
// the range).
static int int_opt(const char *what, long min, long max, int range, int *out)
{
    long n;
    if (cli_parse_int(optarg, min, max, &n) < 0)
        return range ? cli_usage("run", "%s needs a number from %ld to %ld", what, min, max)
                     : cli_usage("run", "%s needs a number", what);
    *out = (int)n;
    return 0;
}

static int float_opt(const char *what, double *out)
{
    return cli_parse_float(optarg, out) < 0 ? cli_usage("run", "%s needs a number", what) : 0;
}

// The options that take a string as given, and where it goes.
static const char **string_option(int c, seize_run_params *p)
{
    switch (c) {
    case O_ROOT:
        return &p->data_root;
    case O_SPLIT:
        return &p->split;
    case O_MODEL:
        return &p->model_dir;
    case O_OUT:
        return &p->out_dir;
    case O_GALLERY:
        return &p->gallery_dir;
    case O_QUERIES:
        return &p->queries_file;
    case O_CAPTIONS:
        return &p->captions_file;
    case O_CATEGORY:
        return &p->category;
    case O_CAP_EP:
        return &p->captioner_endpoint;
    case O_CAP_MODEL:
        return &p->captioner_model;
    case O_LLM_EP:
        return &p->llm_endpoint;
    case O_LLM_MODEL:
        return &p->llm_model;
    case O_CAP_PROMPT:
        return &p->caption_prompt;
    case O_PROMPT_FILE:
        return &p->prompt_file;
    case O_TEMP:
        return &p->temperature;
    case O_TOPP:
        return &p->top_p;
    case O_SEED:
        return &p->seed;
    case O_CONC:
        return &p->concurrency;
    case O_TIMEOUT:
        return &p->timeout;
    case O_ATTEMPTS:
        return &p->max_attempts;
    case O_BACKOFF:
        return &p->backoff_base;
    case O_FIQ:
        return &p->fiq_join;
    default:
        return NULL;
    }
}

// One option into p: 0, -1 for --help (printed), or the usage error's exit status.
static int one_option(int c, seize_run_params *p)
{
    const char **s = string_option(c, p);
    if (s) {
        *s = optarg;
        return 0;
    }
    switch (c) {
    case O_NUMCAP:
        return int_opt("--num-captions", 1, 1000, 1, &p->num_captions);
    case O_METHOD:
        if (strcmp(optarg, "seize") && strcmp(optarg, "mean") && strcmp(optarg, "ldre"))
            return cli_usage("run", "--method must be seize, mean or ldre");
        p->method = optarg;
        return 0;
    case O_POS:
        return float_opt("--pos", &p->pos);
    case O_NEG:
        return float_opt("--neg", &p->neg);
    case O_K:
        return int_opt("--k", 1, 100000, 1, &p->k);
    case O_BATCH:
        return int_opt("--batch", 1, 4096, 1, &p->batch);
    case O_THREADS:
        return int_opt("--threads", 1, 1024, 1, &p->threads);
    case O_RQ:
        return int_opt("--report-queries", 0, 100000, 0, &p->report_queries);
    case O_RK:
        return int_opt("--report-k", 1, 1000, 0, &p->report_k);
    case O_NOPAD:
        p->no_pad = 1;
        return 0;
    case O_RESTART:
        p->restart = 1;
        return 0;
    case 'q':
        p->quiet = 1;
        return 0;
    case 'h':
        fputs(usage_text, stdout);
        return -1;
    default:
        return cli_usage("run", "invalid option");
    }
}

// The dataset and the options that go together: 0 or the usage error's exit status.
static int check_usage(seize_run_params *p)
{
    int folder = !strcmp(p->dataset, "folder");
    seize_ds_kind kind = SEIZE_DS_CIRCO;
    if (!folder && seize_ds_kind_parse(p->dataset, &kind) < 0)
        return cli_usage("run", "unknown DATASET '%s' (circo, cirr, fashioniq or folder)",
                         p->dataset);
    if (!p->model_dir || !p->out_dir) return cli_usage("run", "--model and --out are required");
    if (folder && (!p->gallery_dir || !p->queries_file))
        return cli_usage("run", "folder needs --gallery and --queries");
    if (!folder && (!p->data_root || !p->split))
        return cli_usage("run", "%s needs --data-root and --split", p->dataset);
    if (!folder && strcmp(p->split, "val") && strcmp(p->split, "test") && strcmp(p->split, "test1"))
        return cli_usage("run", "--split must be val or test");
    if (p->category && (kind != SEIZE_DS_FASHIONIQ || folder))
        return cli_usage("run", "--category is for fashioniq");
    // endpoints default to $OPENAI_BASE_URL, as for seize caption and seize reason
    const char *env_url = getenv("OPENAI_BASE_URL");
    if (env_url && !env_url[0]) env_url = NULL;
    if (!p->captioner_endpoint) p->captioner_endpoint = env_url;
    if (!p->llm_endpoint) p->llm_endpoint = env_url;
    return 0;
}

// --- the command ---------------------------------------------------------------------------------

static int exit_status(int rc, const seize_run_result *res, int quiet)
{
    if (res->status == SEIZE_RUN_CANCELLED) interrupted(res->signal > 0 ? res->signal : SIGINT);
    if (rc < 0 && res->permanent) {
        fprintf(stderr, "seize run: error: %s\n", res->error);
        return EXIT_PARTIAL;
    }
    if (rc < 0) return cli_fail("run", "%s", res->error);
    if (res->status == SEIZE_RUN_PARTIAL) {
        fprintf(stderr, "seize run: finished, but some items failed (see manifest.json)\n");
        return EXIT_PARTIAL;
    }
    if (!quiet) fprintf(stderr, "seize run: done in %.1f s: %s\n", res->seconds, res->out_dir);
    return EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    seize_run_params p = seize_run_default_params();
    // the command as given (getopt reorders argv)
    const char *given[argc + 1];
    memcpy(given, argv, (size_t)argc * sizeof *argv);
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int st = one_option(c, &p);
        if (st) return st < 0 ? EXIT_OK : st;
    }
    if (optind != argc - 1)
        return cli_usage("run", "expected one DATASET (circo, cirr, fashioniq or folder)");
    p.dataset = argv[optind];
    int st = check_usage(&p);
    if (st) return st;
    p.command = given;
    p.n_command = argc;
    p.on_event = on_event;
    p.event_user = &p.quiet;
    p.cancel = &g_cancel;
    install_signals();
    seize_run_result res;
    int rc = seize_run(&p, &res);
    return exit_status(rc, &res, p.quiet);
}
