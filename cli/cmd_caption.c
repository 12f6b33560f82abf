// seize caption: caption each image N times with a vision LLM over an OpenAI-compatible API
// (SEIZE step 1), with retries, a journal and resume (seize_caption_file, pipeline.h).
#include "llm_cli.h"

#include <string.h>

static const char *CMD = "caption";

static const char synopsis[] =
    "(IMAGE... | --list FILE | --dataset NAME --input ANN --images DIR)\n"
    "--out C.jsonl (--endpoint URL --model NAME | --model-dir DIR) [options]";
static const char about[] =
    "Captions each image N times (SEIZE step 1) with a vision LLM: the image goes as a base64\n"
    "data URL in an image_url part with a short prompt; or, with --model-dir, BLIP-2 in this\n"
    "process (SEIZE's settings by default). Output: JSON Lines {\"image\": PATH, \"captions\":\n"
    "[...] (native: \"tokens\": [[ids]...])} in input order, written atomically when complete.";
static const char footer[] =
    "Relative paths (also in --list) are taken from the current directory. Before any request\n"
    "every image is checked: missing files (one summary line), FIFOs and devices stop the\n"
    "command; a file that is not a JPEG, PNG, GIF or WebP image, a corrupt JPEG or PNG, or one\n"
    "over 20 MiB is reported and skipped (exit 3). The API key and any user:password in the\n"
    "endpoint never appear in messages or files (replaced by ***).\n\n"
    "Exit status: 0 done; 1 error; 2 usage; 3 some images failed (named on stderr; a rerun\n"
    "retries those that failed on network or server errors); 130 interrupted (a rerun resumes).";

// Images that cannot be captioned (a rerun will not help) and failures a rerun can fix.
static int print_failures(const seize_caption_file_result *r, const char *out)
{
    size_t n = r->images.n;
    fprintf(stderr, "seize caption: error: %zu of %zu images failed (the others are in '%s')\n",
            n - r->n_written, n, out);
    for (int retry = 0; retry < 2; retry++) {
        size_t shown = 0, n_group = retry ? r->n_retry : r->n_failed - r->n_retry;
        if (n_group)
            fprintf(stderr, retry ? "failed on network or server errors (rerun the same command "
                                    "to retry them):\n"
                                  : "images that cannot be captioned (fix or remove them):\n");
        for (size_t i = 0; i < n && shown < 20; i++)
            if (r->items[i].error && r->items[i].retryable == retry && ++shown)
                fprintf(stderr, "  %s: %s\n", r->images.v[i], r->items[i].error);
        if (n_group > shown)
            fprintf(stderr, "  ... and %zu more (their errors are in '%s')\n", n_group - shown,
                    r->journal);
    }
    return EXIT_PARTIAL;
}

int cmd_caption(int argc, char **argv)
{
    seize_caption_file_job job = {.command = CMD, .cancel = cli_llm_cancel()};
    const char *mode = "auto";
    long n = 15, topk = 50, steps = 30, batch = 1, threads = 0;
    seize_captioner_blip2_opts nat = seize_captioner_blip2_default_opts();
    cli_llm g;
    cli_opt llm[CLI_LLM_N_OPTS], all[40];
    cli_llm_init(&g, 1.0, 0.9, llm);
    const cli_opt own[] = {
        CLI_TEXT("Input:"),
        CLI_STR("list", 0, "FILE", &job.list, "a file with one image path per line"),
        CLI_CHOICE("dataset", 0, "NAME", &job.dataset, "circo|cirr|fashioniq",
                   "the reference images of a benchmark's queries (each once): circo:\n"
                   "DIR/<12-digit id>.jpg; cirr: DIR/<reference>.png; fashioniq:\n"
                   "DIR/<candidate>.png (or .jpg)"),
        CLI_STR("input", 0, "FILE", &job.annotations, "with --dataset: the annotation file"),
        CLI_STR("images", 0, "DIR", &job.image_dir, "with --dataset: the image folder"),
        CLI_STR("split", 0, "FILE", &job.gallery_list,
                "with --dataset cirr: split.rc2.<split>.json (paths in DIR)"),
        CLI_STR("out", 'o', "FILE", &job.out, "the captions (see above)"),
        CLI_TEXT("Sampling:"),
        CLI_INT("n", 'n', "N", &n, 1, 128,
                "captions per image (default 15); sent as the `n` parameter, or as\n"
                "N requests when the server ignores or rejects it"),
        CLI_CHOICE("n-mode", 0, "MODE", &mode, "auto|param|requests",
                   "auto (default), param or requests"),
        CLI_STR("prompt", 0, "TEXT", &job.prompt,
                "the instruction sent with the image (default: \"Write a short\n"
                "caption for this image in one sentence.\"; native: \"a photo of\")"),
        CLI_TEXT("Native BLIP-2 (also -n, --prompt, --temperature, --top-p, --seed: default 0):"),
        CLI_STR("model-dir", 0, "DIR", &nat.model_dir, "folder (fetch-model blip2-opt-6.7b-coco)"),
        CLI_INT("top-k", 0, "K", &topk, 0, 1 << 30, "(default 50; 0: off)"),
        CLI_INT("max-new-tokens", 0, "N", &steps, 1, 4096, "(default 30)"),
        CLI_FLAG("greedy", 0, &nat.gen.greedy, "argmax, no sampling"),
        CLI_CALL("precision", 0, "P", &nat.precision, cli_precision_arg,
                 "fp32 or bf16 (default: bf16 when the CPU has AVX512_BF16)"),
        CLI_INT("batch", 0, "B", &batch, 1, 4096, "images per generate call (default 1)"),
        CLI_THREADS(&threads),
        CLI_STR("dump-logits", 0, "F.npy", &nat.dump_logits, "raw logits [images*n, steps, vocab]"),
        CLI_STR("force-ids", 0, "F.json", &nat.force_ids_file, "feed these ids (teacher forcing)"),
        CLI_TEXT("Client:"),
        CLI_END};
    if (cli_opts_join(all, sizeof all / sizeof *all, own, llm) < 0)
        return cli_fail(CMD, "too many options");
    const cli_spec spec = {CMD, synopsis, about, all, footer, 0, 1 << 20};
    cli_args args = {0};
    int rc = cli_parse(&spec, argc, argv, &args);
    if (rc >= 0) return rc;
    const char *dataset = job.dataset;
    if ((args.n > 0) + !!job.list + !!dataset != 1)
        return cli_usage(CMD, "give images, --list FILE or --dataset (exactly one of them)");
    if (dataset && (!job.annotations || !job.image_dir))
        return cli_usage(CMD, "--dataset needs --input ANNOTATIONS and --images DIR");
    if (job.gallery_list && (!dataset || strcmp(dataset, "cirr")))
        return cli_usage(CMD, "--split goes with --dataset cirr");
    if (!job.out) return cli_usage(CMD, "--out is required");
    g.p.use_n = !strcmp(mode, "auto") ? -1 : !strcmp(mode, "param");
    if (nat.model_dir && (g.p.endpoint || g.p.model || g.p.max_tokens > 0))
        return cli_usage(CMD, "give --model-dir or --endpoint and --model, not both (native: "
                              "--max-new-tokens, not --max-tokens)");
    if (nat.model_dir) g.p.endpoint = g.p.model = "native"; // (signals only)
    if ((rc = cli_llm_finish(CMD, &g))) return rc;
    nat.gen.top_p = (float)g.p.top_p, nat.gen.temperature = (float)g.p.temperature;
    nat.gen.top_k = (int)topk, nat.gen.max_new_tokens = (int)steps, nat.batch = (int)batch;
    nat.gen.seed = g.seed < 0 ? 0 : (uint64_t)g.seed, nat.threads = (int)threads;
    if (nat.model_dir && seize_captioner_blip2_check(&nat) < 0)
        return cli_usage(CMD, "%s", seize_errmsg());
    seize_caption_file_result res;
    cli_llm_progress pc = {.cmd = CMD, .quiet = g.quiet};
    job.images = (const char *const *)args.v, job.n_images = (size_t)args.n;
    job.journal = g.journal, job.n_captions = (size_t)n;
    job.on_progress = cli_llm_progress_fn, job.progress_user = &pc;
    if (nat.model_dir && !g.quiet) fprintf(stderr, "seize caption: loading '%s'\n", nat.model_dir);
    rc = nat.model_dir ? seize_caption_file_blip2(&nat, &job, &res)
                       : seize_caption_file(&g.p, &job, &res);
    cli_llm_progress_end(&pc, &res.stats);
    char detail[600] = "no request was sent";
    if (rc == SEIZE_ECANCEL && res.stats.items)
        snprintf(detail, sizeof detail, "%zu of %zu images done, kept in '%s'",
                 res.stats.items_done, res.stats.items, res.journal);
    if (rc == SEIZE_ECANCEL)
        rc = cli_llm_interrupt_exit(CMD, detail);
    else if (rc < 0 && !(rc == SEIZE_ENET && res.n_failed))
        rc = cli_lib_fail(CMD);
    else if (!g.quiet)
        fprintf(stderr, "seize caption: settings %.12s (in '%s.settings.json')\n", res.hash,
                job.out);
    if (rc == SEIZE_ENET) rc = print_failures(&res, job.out);
    seize_caption_file_result_release(&res);
    return rc;
}
