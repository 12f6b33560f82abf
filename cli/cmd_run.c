// seize run: the whole pipeline through seize_run (seize/pipeline.h). This file parses the
// options, draws what the run reports and turns its result into the exit status.
#include "cli.h"
#include "opt.h"

#include "seize/data.h"
#include "seize/pipeline.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *CMD = "run";

static const char synopsis[] =
    "DATASET --data-root ROOT --split val|test --model DIR --out RUN_DIR [options]\n"
    "folder --gallery FOLDER --queries Q.jsonl --model DIR --out RUN_DIR [options]";

static const char about[] =
    "Runs SEIZE end to end in this process (it starts no other): captions of the reference\n"
    "images, their edits by an LLM, a CLIP index of the gallery, query features, search, then\n"
    "metrics (val) or the test-server submission files (test). Each stage is cached in RUN_DIR\n"
    "by a key of what it depends on: the same command again redoes nothing and sends no\n"
    "request, a new --pos/--neg only searches again, an interrupted run resumes.\n\n"
    "DATASET and its files under ROOT:\n"
    "  circo      annotations/<split>.json, COCO2017_unlabeled/annotations/\n"
    "             image_info_unlabeled2017.json, images under COCO2017_unlabeled/\n"
    "  cirr       captions/cap.rc2.<split>.json, image_splits/split.rc2.<split>.json, images\n"
    "             under ROOT as the split file gives them (val: cap.rc2.val.json)\n"
    "  fashioniq  captions/cap.<category>.<split>.json, images/<name>.png (or .jpg),\n"
    "             image_splits/split.<category>.<split>.json; every category unless --category\n"
    "  folder     --gallery FOLDER (its images, named by their path in it, found recursively,\n"
    "             linked folders once), --queries FILE (JSON Lines {\"id\", \"reference\",\n"
    "             \"relative_text\"[, \"target\"]}; ids unique; a target is a gallery name)\n\n"
    "Relative paths are the current folder's. A query's \"reference\" is an image path (relative:\n"
    "to the current folder, else the queries file's), failing both a gallery name (its path in\n"
    "--gallery). Everything is checked before the first request: the model folder, the\n"
    "dataset's files and folders, every reference image (JPEG or PNG), ids and targets.";

static const char footer[] =
    "RUN_DIR gets captions.jsonl, edits.jsonl, index/, rankings.jsonl (with the query ids),\n"
    "metrics.json (val, or folder queries with targets), submission files (test), report.html\n"
    "(per fashioniq category) and manifest.json (what made each file: models, endpoints, prompts,\n"
    "settings, the CLIP weights' hash). One run per RUN_DIR at a time (an flock on the folder: a\n"
    "second fails at once, writing nothing). A fully cached rerun writes nothing (RUN_DIR may be\n"
    "read-only; manifest.json stays as the run that made the files wrote it).\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 done, but some gallery images failed, or a\n"
    "reference is not an image (permanent: on stderr and in manifest.json); 128+N: stopped by\n"
    "signal N (130: Ctrl-C; rerun to resume).";

typedef struct run_cli {
    seize_run_params p;
    long ncap, k, batch, threads, rq, rk; // the int parameters
    cli_args args;
} run_cli;

// Parses the options into *c: -1 to go on, else the exit status (--help printed: EXIT_OK).
static int parse(int argc, char **argv, run_cli *c)
{
    seize_run_params *p = &c->p;
    *c = (run_cli){seize_run_default_params(), 15, 50, 32, 0, 10, 10}; // as --help says
    const cli_opt opts[] = {
        CLI_STR("data-root", 0, "ROOT", &p->data_root, NULL),
        CLI_CHOICE("split", 0, "S", &p->split, "val|test|test1", NULL),
        CLI_STR("model", 0, "DIR", &p->model_dir, NULL),
        CLI_STR("out", 0, "RUN_DIR", &p->out_dir, NULL),
        CLI_STR("gallery", 0, "FOLDER", &p->gallery_dir, NULL),
        CLI_STR("queries", 0, "FILE", &p->queries_file, NULL),
        CLI_TEXT("Captions and edits (one of):"),
        CLI_STR("captions", 0, "FILE", &p->captions_file,
                "the authors' caption file (multi_caption_opt, multi_gpt-3.5_opt) or JSON\n"
                "Lines {\"id\", \"captions\", \"edits\"|\"edited\"} ('{category}' replaced for\n"
                "fashioniq); without edits in it, the LLM stage makes them"),
        CLI_STR("captioner-endpoint", 0, "URL", &p->captioner_endpoint,
                "with --captioner-model NAME: the caption stage (as seize caption)"),
        CLI_STR("captioner-model", 0, "NAME", &p->captioner_model, NULL),
        CLI_STR("captioner-dir", 0, "DIR", &p->captioner_dir, "or a BLIP-2 folder, in-process"),
        CLI_STR("llm-endpoint", 0, "URL", &p->llm_endpoint,
                "with --llm-model NAME: the editing stage (as seize reason); both\n"
                "endpoints default to $OPENAI_BASE_URL, the key is $OPENAI_API_KEY"),
        CLI_STR("llm-model", 0, "NAME", &p->llm_model, NULL),
        CLI_STR("caption-prompt", 0, "TEXT", &p->caption_prompt, "the instruction per image"),
        CLI_STR("temperature", 0, "T", &p->temperature, "captioning sampling (default 1.0)"),
        CLI_STR("top-p", 0, "P", &p->top_p, "captioning sampling (default 0.9)"),
        CLI_STR("seed", 0, "S", &p->seed, "seed (servers: not sent if unset; native: 0)"),
        CLI_STR("concurrency", 0, "N", &p->concurrency, "requests in flight (default 16)"),
        CLI_STR("timeout", 0, "SEC", &p->timeout, "per request (default 60)"),
        CLI_STR("max-attempts", 0, "N", &p->max_attempts, "per request (default 6)"),
        CLI_STR("backoff-base", 0, "SEC", &p->backoff_base, "first retry (default 1; full jitter)"),
        CLI_STR("prompt-file", 0, "FILE", &p->prompt_file, "editing prompt (seize reason --help)"),
        CLI_STR("fiq-join", 0, "STR", &p->fiq_join, "joins FashionIQ's captions (default none)"),
        CLI_TEXT("Retrieval:"),
        CLI_INT("num-captions", 0, "N", &c->ncap, 1, 1000, "captions per query (default 15)"),
        CLI_CHOICE("method", 0, "seize|mean|ldre", &p->method, "seize|mean|ldre", "default seize"),
        CLI_FLOAT("pos", 0, "P", &p->pos, -INFINITY, INFINITY,
                  "SEIZE weights (default 0.13/2.1; cirr 0.22/1.0)"),
        CLI_FLOAT("neg", 0, "N", &p->neg, -INFINITY, INFINITY, "(see --pos)"),
        CLI_INT("k", 0, "K", &c->k, 1, 100000, "ranking length (default 50)"),
        CLI_CHOICE("category", 0, "dress|shirt|toptee", &p->category, "dress|shirt|toptee",
                   "fashioniq (default: all three)"),
        CLI_FLAG("no-pad", 0, &p->no_pad, "plain CLIP preprocessing (default: TargetPad 1.25)"),
        CLI_INT("batch", 0, "B", &c->batch, 1, 4096, "encoding batch (default 32)"),
        CLI_THREADS(&c->threads),
        CLI_PRECISION(&p->precision),
        CLI_INT("report-queries", 0, "N", &c->rq, 0, 100000, "queries in report.html (default 10)"),
        CLI_INT("report-k", 0, "K", &c->rk, 1, 1000, "images shown per query (default 10)"),
        CLI_FLAG("restart", 0, &p->restart,
                 "discard the unfinished stages' partial state (journals, a partial index);\n"
                 "finished stages stay cached. A stage also starts over when its partial\n"
                 "state came from another model, endpoint, prompt, sampling, seed or\n"
                 "gallery (answers of unchanged items are kept when only queries changed)"),
        CLI_FLAG("quiet", 'q', &p->quiet, "no progress lines, notes or request summaries"),
        CLI_END};
    const cli_spec spec = {
        CMD,    synopsis, about, opts,
        footer, 1,        1,     "expected one DATASET (circo, cirr, fashioniq or folder)"};
    return cli_parse(&spec, argc, argv, &c->args);
}

// The dataset and the options that go together: 0 or the usage error's exit status.
static int check_usage(seize_run_params *p)
{
    int folder = !strcmp(p->dataset, "folder");
    seize_ds_kind kind = SEIZE_DS_CIRCO;
    if (!folder && seize_ds_kind_parse(p->dataset, &kind) < 0)
        return cli_usage(CMD, "unknown DATASET '%s' (circo, cirr, fashioniq or folder)",
                         p->dataset);
    if (!p->model_dir || !p->out_dir) return cli_usage(CMD, "--model and --out are required");
    if (folder && (!p->gallery_dir || !p->queries_file))
        return cli_usage(CMD, "folder needs --gallery and --queries");
    if (!folder && (!p->data_root || !p->split))
        return cli_usage(CMD, "%s needs --data-root and --split", p->dataset);
    if (p->category && kind != SEIZE_DS_FASHIONIQ)
        return cli_usage(CMD, "--category is for fashioniq");
    const char *env = getenv("OPENAI_BASE_URL"); // as for seize caption and seize reason
    if (!p->captioner_endpoint && env && *env) p->captioner_endpoint = env;
    if (!p->llm_endpoint && env && *env) p->llm_endpoint = env;
    return 0;
}

// Stage lines and notes (unless --quiet), warnings, a progress line per stage on a terminal.
typedef struct run_ui {
    int quiet, bar_on;
    char label[96];
    cli_progress bar;
} run_ui;

static void on_event(void *user, const seize_run_event *ev)
{
    run_ui *u = user;
    char label[sizeof u->label];
    if (ev->level == SEIZE_RUN_PROGRESS) {
        snprintf(label, sizeof label, "%s %s", ev->job, ev->stage);
        if (!u->bar_on || strcmp(label, u->label)) {
            if (u->bar_on) cli_progress_end(&u->bar);
            memcpy(u->label, label, sizeof label);
            cli_progress_start(&u->bar, u->label, ev->total, u->quiet);
            u->bar_on = 1;
        }
        cli_progress_update(&u->bar, ev->done, ev->errors);
        return;
    }
    if (u->bar_on) {
        cli_progress_end(&u->bar);
        u->bar_on = 0;
    }
    if (ev->level == SEIZE_RUN_WARNING || !u->quiet)
        fprintf(stderr, "seize run: %s\n", ev->message);
}

// SIGINT/SIGTERM/SIGHUP stop at once (temporaries removed); a rerun resumes from what is kept.
static void interrupted(int sig)
{
    seize_tmp_unlink_all();
    static const char msg[] = "seize run: interrupted; rerun to resume\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) _exit(128 + sig);
    _exit(128 + sig);
}

int cmd_run(int argc, char **argv)
{
    const char *given[argc + 1]; // the command as given, for manifest.json (getopt reorders argv)
    memcpy(given, argv, (size_t)argc * sizeof *argv);
    run_cli c;
    int rc = parse(argc, argv, &c);
    seize_run_params *p = &c.p;
    if (rc >= 0) return rc;
    p->dataset = c.args.v[0];
    if ((rc = check_usage(p)) != 0) return rc;
    p->num_captions = (int)c.ncap, p->k = (int)c.k, p->batch = (int)c.batch;
    p->threads = (int)c.threads, p->report_queries = (int)c.rq, p->report_k = (int)c.rk;
    run_ui ui = {.quiet = p->quiet};
    p->command = given, p->n_command = argc, p->on_event = on_event, p->event_user = &ui;
    signal(SIGINT, interrupted), signal(SIGTERM, interrupted), signal(SIGHUP, interrupted);
    seize_run_result res;
    rc = seize_run(p, &res);
    if (ui.bar_on) cli_progress_end(&ui.bar);
    if (rc < 0) {
        cli_fail(CMD, "%s", res.error);
        return res.permanent ? EXIT_PARTIAL : EXIT_FAIL;
    }
    if (res.status == SEIZE_RUN_PARTIAL)
        fprintf(stderr, "seize run: finished, but some items failed (see manifest.json)\n");
    else if (!p->quiet && seize_cluster_rank() == 0) // mpirun: once
        fprintf(stderr, "seize run: done in %.1f s: %s\n", res.seconds, res.out_dir);
    return res.status == SEIZE_RUN_PARTIAL ? EXIT_PARTIAL : EXIT_OK;
}
