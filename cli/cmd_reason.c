// seize reason: rewrite every caption of every query according to its relative text with an LLM
// (SEIZE step 2), over an OpenAI-compatible API, with retries, a journal and resume
// (seize_reason_file, pipeline.h).
#include "llm_cli.h"

#include <string.h>

static const char *CMD = "reason";

static const char *synopsis =
    "--input Q.jsonl --out E.jsonl --endpoint URL --model NAME [options]\n"
    "--dataset circo|cirr|fashioniq --input ANNOTATIONS.json\n"
    "[--captions C.jsonl | --caption-key KEY] --out E.jsonl ...";
static const char *about =
    "Asks an LLM to rewrite each caption of each query according to the query's relative\n"
    "text (SEIZE step 2, the authors' prompt), one chat request per caption.";
static const char *footer =
    "Relative paths are taken from the current directory. Inputs must be regular files; a\n"
    "caption or relative text longer than 64 KiB is refused (naming the query) before any\n"
    "request. The API key and any user:password in the endpoint never appear in messages\n"
    "or files (replaced by ***).\n"
    "\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 some queries failed (named on stderr; a rerun\n"
    "retries only those: network and server errors as they are, requests the server\n"
    "rejected once their input is fixed); 130 interrupted (a rerun resumes).";

// Queries a rerun can fix (network, server) and those the server rejected (the input must
// change first) are reported apart.
static int print_failures(const seize_reason_file_result *r, const char *out)
{
    size_t n_q = r->in.ids.n, nf = r->n_failed, nr = r->n_retry, shown = 0, c;
    fprintf(stderr, "seize reason: error: %zu of %zu queries failed (the others are in '%s')",
            n_q - r->n_written, n_q, out);
    if (nr == nf)
        fprintf(stderr, "; rerun the same command to retry them:\n");
    else if (nr == 0)
        fprintf(stderr, "; the server rejected them: fix what is named below (the next run "
                        "sends only these):\n");
    else
        fprintf(stderr,
                "; %zu on network or server errors (a rerun retries them), %zu rejected "
                "by the server (fix them first):\n",
                nr, nf - nr);
    for (size_t q = 0; q < n_q && shown < 20; q++) {
        const seize_stage_item *f = seize_reason_file_failure(r, q, &c);
        if (!f) continue;
        fprintf(stderr, "  query %s (caption %zu): %s\n", r->in.ids.v[q], c, f->error);
        shown++;
    }
    if (nf > shown)
        fprintf(stderr, "  ... and %zu more (their errors are in '%s')\n", nf - shown, r->journal);
    return EXIT_PARTIAL;
}

// The exit status of a call, its outcome printed.
static int outcome(int rc, const seize_reason_file_result *r, const char *out, int quiet)
{
    char detail[600] = "no request was sent";
    if (rc == SEIZE_ECANCEL && r->stats.items)
        snprintf(detail, sizeof detail, "%zu of %zu requests done, kept in '%s'",
                 r->stats.texts_done, r->stats.texts_wanted, r->journal);
    if (rc == SEIZE_ECANCEL) return cli_llm_interrupt_exit(CMD, detail);
    if (rc < 0 && !(rc == SEIZE_ENET && r->n_failed)) return cli_lib_fail(CMD);
    if (!quiet)
        fprintf(stderr, "seize reason: settings %.12s (in '%s.settings.json')\n", r->hash, out);
    return rc < 0 ? print_failures(r, out) : EXIT_OK;
}

int cmd_reason(int argc, char **argv)
{
    seize_reason_file_job job = {.command = CMD, .cancel = cli_llm_cancel()};
    seize_reason_input_opts *o = &job.in;
    cli_llm g;
    long n_captions = 0;
    cli_opt llm[CLI_LLM_N_OPTS], all[40];
    cli_llm_init(&g, -1, -1, llm);
    const cli_opt own[] = {
        CLI_TEXT("Input:"),
        CLI_STR("input", 'i', "FILE", &job.input,
                "JSON Lines {\"id\", \"relative_text\", \"captions\": [...]} (other\nkeys are "
                "kept), or with --dataset the benchmark annotation file"),
        CLI_CHOICE(
            "dataset", 0, "NAME", &o->dataset, "circo|cirr|fashioniq",
            "read the annotation file with the benchmark's loader: circo\n(relative_caption, "
            "id), cirr (caption, pairid, copied to id)\nor fashioniq (captions[0] + JOIN + "
            "captions[1], kept as\nrelative_captions; id = position in the file)"),
        CLI_STR("caption-key", 0, "KEY", &o->caption_key,
                "with --dataset: captions from this key of each record\n(default "
                "multi_caption_opt, as in test_with_seize_captions.json)"),
        CLI_STR("captions", 0, "FILE", &o->captions,
                "with --dataset: captions from 'seize caption' output, matched\nby the reference "
                "image's file name (without extension)"),
        CLI_STR("fiq-join", 0, "STR", &o->fiq_join,
                "FashionIQ: text between the two captions (default none, as the\nauthors did; "
                "e.g. \" and \")"),
        CLI_INT("n-captions", 0, "N", &n_captions, 1, 1000000,
                "use only the first N captions of each query"),
        CLI_TEXT("Output:"),
        CLI_STR("out", 'o', "FILE", &job.out,
                "JSON Lines: each input record plus \"edited\": [...] aligned with\n\"captions\"; "
                "written atomically once every query is complete"),
        CLI_TEXT("Prompt:"),
        CLI_STR("prompt-file", 0, "FILE", &job.prompt_file,
                "user message template with {caption} and {instruction}\n(at most 64 KiB; {{ and "
                "}} for braces); a line '---' separates an\noptional system message above it; "
                "trailing newlines are dropped"),
        CLI_STR("system", 0, "TEXT", &job.system,
                "system message (default: the authors'; '' for none)"),
        CLI_TEXT("Client:"),
        CLI_END};
    if (cli_opts_join(all, sizeof all / sizeof *all, own, llm) < 0)
        return cli_fail(CMD, "too many options");
    const cli_spec spec = {CMD, synopsis, about, all, footer};
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (!job.input || !job.out) return cli_usage(CMD, "--input and --out are required");
    if (!o->dataset && (o->captions || o->caption_key))
        return cli_usage(CMD, "--captions and --caption-key need --dataset");
    if (o->captions && o->caption_key)
        return cli_usage(CMD, "give --captions or --caption-key, not both");
    if ((rc = cli_llm_finish(CMD, &g))) return rc;
    cli_llm_progress pc = {.cmd = CMD, .quiet = g.quiet};
    seize_reason_file_result res;
    o->n_captions = (size_t)n_captions, job.journal = g.journal;
    job.on_progress = cli_llm_progress_fn, job.progress_user = &pc;
    rc = seize_reason_file(&g.p, &job, &res);
    cli_llm_progress_end(&pc, &res.stats);
    rc = outcome(rc, &res, job.out, g.quiet);
    seize_reason_file_result_release(&res);
    return rc;
}
