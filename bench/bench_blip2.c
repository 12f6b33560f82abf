// bench_blip2: the native BLIP-2 captioner (issue 14) against limits measured in the same run.
//
// Writes a random-weight BLIP-2 folder shaped like Salesforce/blip2-opt-6.7b-coco at full width
// with 2 layers per tower (EVA ViT 1408 wide, 677 tokens; Q-Former 768 wide, 32 queries;
// OPT-6.7B 4096 wide, vocabulary 50272), BF16 safetensors (1.38 GB) + config.json + a synthetic
// GPT-2 BPE tokenizer of 50272 ids (checked through seize_bpe_load), into a temporary folder
// (removed at exit, also on failure or SIGINT/SIGTERM/SIGHUP). Then per precision, in a child
// process (so that its memory is the engine's own), on 2 threads:
//   - load and open time; the whole 15-caption job (seize_blip2_generate with SEIZE's defaults),
//     then the resident memory;
//   - the vision tower + Q-Former of one image (nn_blip2_encode), in rounds that also run the
//     vision layer's four products through src/nn/gemm.h (sliced between the threads as the CPU
//     backend slices them): achieved GFLOP/s ÷ the products' rate (aim ≥ 0.8);
//   - one decode step of 15 sequences (nn_blip2_step; the median of 30 after a shared prefill),
//     in rounds that also stream-read a 1 GiB buffer and run the step's products alone (an OPT
//     layer's six and the LM head, 15 rows): step ÷ (weight bytes read per step / bandwidth)
//     (aim ≤ 1.3), and against its compute bound (FLOPs at the precision's peak, peak.h) and
//     its products' time;
//   - per-layer times (the trace's timestamps for the towers and the prefill, (step − LM head
//     product) / 2 for the decoder), and the job and resident memory extrapolated to the real depth
//     (39 vision, 12 Q-Former, 32 OPT layers).
// Limits and engine run in the same rounds and each keeps its best: on a shared machine both see
// the same load. fp32 always; bf16 when the CPU has AVX512_BF16. `--quick`: one round each.
// Environment: SEIZE_BENCH_THREADS (2), TMPDIR; SEIZE_BENCH_KEEP=1 keeps the folder (to inspect).
#include "bench_util.h"
#include "peak.h"

#include "nn/blip2_int.h"
#include "nn/gemm.h"
#include "seize/blip2.h"
#include "seize/core.h"
#include "seize/text.h"

#include <errno.h>
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// --- the shapes of blip2-opt-6.7b-coco -------------------------------------------------------

enum {
    VW = 1408,
    VHEADS = 16,
    VMLP = 6144,
    PATCH = 14,
    IMG = 364,
    NPATCH = (IMG / PATCH) * (IMG / PATCH),
    VT = NPATCH + 1,
    NQ = 32,
    QW = 768,
    QHEADS = 12,
    QMLP = 3072,
    XFREQ = 2,
    TW = 4096,
    THEADS = 32,
    TFFN = 16384,
    VOCAB = 50272,
    MAXPOS = 2048,
    EOS = 50118,
    LAYERS = 2,  // per tower in the bench model
    REAL_V = 39, // the real depths: vision, Q-Former, OPT
    REAL_Q = 12,
    REAL_T = 32,
    NSEQ = 15, // SEIZE's job: 15 captions of up to 30 new tokens; the state's token limit
    NEW_TOKENS = 30,
    MAX_TOKENS = 64,
};

static int quick, n_threads = 2;

static const char *prec_name[2] = {"fp32", "bf16"};

// --- the model folder ------------------------------------------------------------------------

typedef struct tspec {
    char name[112];
    int ndim;
    size_t shape[4];
    int kind; // 0 random ±0.02, 1 ones, 2 zeros, 3 random with the middle third zero (qkv bias)
} tspec;

enum { RND, ONE, ZERO, QKVB };

static size_t spec_count(const tspec *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static void add(tspec *t, size_t *n, int kind, int ndim, size_t a, size_t b, size_t c, size_t d,
                const char *fmt, ...)
{
    tspec *s = &t[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->ndim = ndim;
    s->shape[0] = a, s->shape[1] = b, s->shape[2] = c, s->shape[3] = d;
    s->kind = kind;
}

// A linear layer's weight (n, k) and bias (n) under prefix.
static void add_linear(tspec *t, size_t *n, size_t rows, size_t cols, const char *prefix)
{
    add(t, n, RND, 2, rows, cols, 0, 0, "%s.weight", prefix);
    add(t, n, RND, 1, rows, 0, 0, 0, "%s.bias", prefix);
}

static void add_ln(tspec *t, size_t *n, size_t d, const char *prefix)
{
    add(t, n, ONE, 1, d, 0, 0, 0, "%s.weight", prefix);
    add(t, n, ZERO, 1, d, 0, 0, 0, "%s.bias", prefix);
}

static void add_vision(tspec *t, size_t *n)
{
    char p[96];
    add(t, n, RND, 3, 1, 1, VW, 0, "vision_model.embeddings.class_embedding");
    add(t, n, RND, 1, VW, 0, 0, 0, "vision_model.embeddings.patch_embedding.bias");
    add(t, n, RND, 4, VW, 3, PATCH, PATCH, "vision_model.embeddings.patch_embedding.weight");
    add(t, n, RND, 3, 1, VT, VW, 0, "vision_model.embeddings.position_embedding");
    for (int l = 0; l < LAYERS; l++) {
#define P(s) (snprintf(p, sizeof p, "vision_model.encoder.layers.%d.%s", l, s), p)
        add_ln(t, n, VW, P("layer_norm1"));
        add_ln(t, n, VW, P("layer_norm2"));
        add_linear(t, n, VMLP, VW, P("mlp.fc1"));
        add_linear(t, n, VW, VMLP, P("mlp.fc2"));
        add_linear(t, n, VW, VW, P("self_attn.projection"));
        add(t, n, RND, 2, 3 * VW, VW, 0, 0, "%s.weight", P("self_attn.qkv"));
        add(t, n, QKVB, 1, 3 * VW, 0, 0, 0, "%s.bias", P("self_attn.qkv"));
#undef P
    }
    add_ln(t, n, VW, "vision_model.post_layernorm");
}

static void add_qformer(tspec *t, size_t *n)
{
    char p[96];
    add(t, n, RND, 3, 1, NQ, QW, 0, "query_tokens");
    add_ln(t, n, QW, "qformer.layernorm");
    for (int l = 0; l < LAYERS; l++) {
#define P(s) (snprintf(p, sizeof p, "qformer.encoder.layer.%d.%s", l, s), p)
        add_linear(t, n, QW, QW, P("attention.attention.query"));
        add_linear(t, n, QW, QW, P("attention.attention.key"));
        add_linear(t, n, QW, QW, P("attention.attention.value"));
        add_linear(t, n, QW, QW, P("attention.output.dense"));
        add_ln(t, n, QW, P("attention.output.LayerNorm"));
        if (l % XFREQ == 0) {
            add_linear(t, n, QW, QW, P("crossattention.attention.query"));
            add_linear(t, n, QW, VW, P("crossattention.attention.key"));
            add_linear(t, n, QW, VW, P("crossattention.attention.value"));
            add_linear(t, n, QW, QW, P("crossattention.output.dense"));
            add_ln(t, n, QW, P("crossattention.output.LayerNorm"));
        }
        add_linear(t, n, QMLP, QW, P("intermediate_query.dense"));
        add_linear(t, n, QW, QMLP, P("output_query.dense"));
        add_ln(t, n, QW, P("output_query.LayerNorm"));
#undef P
    }
    add_linear(t, n, TW, QW, "language_projection");
}

static void add_opt(tspec *t, size_t *n)
{
    char p[96];
    const char *dec = "language_model.model.decoder";
    add(t, n, RND, 2, MAXPOS + 2, TW, 0, 0, "%s.embed_positions.weight", dec);
    add(t, n, RND, 2, VOCAB, TW, 0, 0, "%s.embed_tokens.weight", dec);
    snprintf(p, sizeof p, "%s.final_layer_norm", dec);
    add_ln(t, n, TW, p);
    for (int l = 0; l < LAYERS; l++) {
#define P(s) (snprintf(p, sizeof p, "%s.layers.%d.%s", dec, l, s), p)
        add_linear(t, n, TFFN, TW, P("fc1"));
        add_linear(t, n, TW, TFFN, P("fc2"));
        add_ln(t, n, TW, P("final_layer_norm"));
        add_linear(t, n, TW, TW, P("self_attn.q_proj"));
        add_linear(t, n, TW, TW, P("self_attn.k_proj"));
        add_linear(t, n, TW, TW, P("self_attn.v_proj"));
        add_linear(t, n, TW, TW, P("self_attn.out_proj"));
        add_ln(t, n, TW, P("self_attn_layer_norm"));
#undef P
    }
}

static int cmp_spec(const void *a, const void *b)
{
    return strcmp(((const tspec *)a)->name, ((const tspec *)b)->name);
}

// Every tensor of the bench model, sorted by name (as transformers writes them); *n of them.
static tspec *model_specs(size_t *n)
{
    tspec *t = calloc(64 + 40 * LAYERS, sizeof *t);
    if (!t) return NULL;
    *n = 0;
    add_vision(t, n);
    add_qformer(t, n);
    add_opt(t, n);
    qsort(t, *n, sizeof *t, cmp_spec);
    return t;
}

// Parameters of the tensors whose names start with prefix (all when prefix is "").
static size_t prefix_params(const tspec *t, size_t n, const char *prefix)
{
    size_t sum = 0, len = strlen(prefix);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(t[i].name, prefix, len)) sum += spec_count(&t[i]);
    return sum;
}

// Parameters per layer: vision, Q-Former with and without cross-attention, OPT.
typedef struct layer_params {
    size_t total, vision, q_cross, q_plain, opt, head;
} layer_params;

static int get_layer_params(layer_params *lp)
{
    size_t n;
    tspec *t = model_specs(&n);
    if (!t) return -1;
    lp->total = prefix_params(t, n, "");
    lp->vision = prefix_params(t, n, "vision_model.encoder.layers.0.");
    lp->q_cross = prefix_params(t, n, "qformer.encoder.layer.0.");
    lp->q_plain = prefix_params(t, n, "qformer.encoder.layer.1.");
    lp->opt = prefix_params(t, n, "language_model.model.decoder.layers.0.");
    lp->head = (size_t)VOCAB * TW;
    free(t);
    return 0;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// The safetensors header of t[0..n) (BF16, data 8-byte aligned); *len its length, *data_bytes.
static char *st_header(const tspec *t, size_t n, size_t *len, size_t *data_bytes)
{
    size_t cap = n * 220 + 64, h = 0, off = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    h += (size_t)snprintf(s + h, cap - h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = spec_count(&t[i]) * 2;
        h += (size_t)snprintf(s + h, cap - h, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[", t[i].name);
        for (int k = 0; k < t[i].ndim; k++)
            h += (size_t)snprintf(s + h, cap - h, "%s%zu", k ? "," : "", t[i].shape[k]);
        h += (size_t)snprintf(s + h, cap - h, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    h += (size_t)snprintf(s + h, cap - h, "}");
    while (h % 8)
        s[h++] = ' ';
    *len = h;
    *data_bytes = off;
    return s;
}

// Writes one tensor's values (BF16) to fp; 0 or -1.
static int write_tensor(FILE *fp, const tspec *t, uint16_t *buf, size_t cap, uint32_t *rng)
{
    size_t cnt = spec_count(t), done = 0, third = cnt / 3;
    while (done < cnt) {
        size_t k = cnt - done < cap ? cnt - done : cap;
        for (size_t j = 0; j < k; j++) {
            *rng = *rng * 1664525u + 1013904223u;
            float v = 0.02f * ((float)(*rng >> 8) / 8388608.0f - 1.0f);
            size_t at = done + j;
            if (t->kind == ONE) v = 1.0f;
            if (t->kind == ZERO || (t->kind == QKVB && at >= third && at < 2 * third)) v = 0.0f;
            buf[j] = to_bf16(v);
        }
        if (fwrite(buf, 2, k, fp) != k) return -1;
        done += k;
    }
    return 0;
}

// dir/model.safetensors; its bytes, or 0 on failure (message on stderr).
static size_t write_weights(const char *dir)
{
    size_t n, hlen, data;
    tspec *t = model_specs(&n);
    char *h = t ? st_header(t, n, &hlen, &data) : NULL;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *fp = h ? fopen(path, "wb") : NULL;
    enum { CHUNK = 1 << 20 };
    uint16_t *buf = malloc(CHUNK * sizeof *buf);
    int ok = fp && buf;
    uint64_t hl = h ? hlen : 0;
    ok = ok && fwrite(&hl, 8, 1, fp) == 1 && fwrite(h, 1, hlen, fp) == hlen;
    uint32_t rng = 12345;
    for (size_t i = 0; ok && i < n; i++)
        ok = write_tensor(fp, &t[i], buf, CHUNK, &rng) == 0;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok) fprintf(stderr, "bench_blip2: cannot write %s: %s\n", path, strerror(errno));
    free(buf);
    free(h);
    free(t);
    return ok ? 8 + hlen + data : 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    int ok = fp && fputs(text, fp) >= 0;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok) fprintf(stderr, "bench_blip2: cannot write %s: %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

// config.json: the structure of the fixtures' tiny364 with the full sizes, 2 layers per tower.
static int write_config(const char *dir)
{
    char s[2048];
    snprintf(
        s, sizeof s,
        "{\n  \"architectures\": [\"Blip2ForConditionalGeneration\"],\n"
        "  \"initializer_factor\": 1.0,\n  \"initializer_range\": 0.02,\n"
        "  \"model_type\": \"blip-2\",\n  \"num_query_tokens\": %d,\n"
        "  \"qformer_config\": {\"cross_attention_frequency\": %d, \"encoder_hidden_size\": "
        "%d, \"hidden_size\": %d, \"intermediate_size\": %d, \"model_type\": "
        "\"blip_2_qformer\", \"num_attention_heads\": %d, \"num_hidden_layers\": %d},\n"
        "  \"text_config\": {\"eos_token_id\": %d, \"ffn_dim\": %d, \"hidden_size\": %d, "
        "\"max_position_embeddings\": %d, \"model_type\": \"opt\", \"num_attention_heads\": "
        "%d, \"num_hidden_layers\": %d, \"vocab_size\": %d, \"word_embed_proj_dim\": %d},\n"
        "  \"torch_dtype\": \"float32\",\n  \"transformers_version\": \"4.40.2\",\n"
        "  \"use_decoder_only_language_model\": true,\n"
        "  \"vision_config\": {\"hidden_size\": %d, \"image_size\": %d, \"intermediate_size\": "
        "%d, \"model_type\": \"blip_2_vision_model\", \"num_attention_heads\": %d, "
        "\"num_hidden_layers\": %d, \"patch_size\": %d}\n}\n",
        NQ, XFREQ, VW, QW, QMLP, QHEADS, LAYERS, EOS, TFFN, TW, MAXPOS, THEADS, LAYERS, VOCAB, TW,
        VW, IMG, VMLP, VHEADS, LAYERS, PATCH);
    return write_text(dir, "config.json", s);
}

// GPT-2's printable character for byte b (bytes_to_unicode), as UTF-8 into out (≤ 3 bytes).
static void byte_symbol(int b, char *out)
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    unsigned cp = (unsigned)b;
    if (!printable) { // the n-th unprintable byte becomes U+0100 + n
        int nth = 0;
        for (int c = 0; c < b; c++)
            nth +=
                !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
        cp = 256u + (unsigned)nth;
    }
    if (cp < 0x80)
        out[0] = (char)cp, out[1] = 0;
    else
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

// The merges that make "a photo of" three tokens (a, Ġphoto, Ġof) as OPT's tokenizer does.
static const char *const merges[][2] = {{"Ġ", "p"},     {"Ġp", "h"}, {"Ġph", "o"}, {"Ġpho", "t"},
                                        {"Ġphot", "o"}, {"Ġ", "o"},  {"Ġo", "f"}};
#define N_MERGES (sizeof merges / sizeof merges[0])

// vocab.json (OPT's layout: <s> 0, <pad> 1, </s> 2, <unk> 3, the 256 byte symbols from 4 with
// "Ċ" (newline) moved to the EOS id 50118, the merges' results, "fillNNNNN" for the rest) and
// merges.txt, special_tokens_map.json and tokenizer_config.json as the fixtures have them.
static int write_tokenizer(const char *dir)
{
    static char tok[VOCAB][24];
    for (int i = 0; i < VOCAB; i++)
        snprintf(tok[i], sizeof tok[i], "fill%05d", i);
    strcpy(tok[0], "<s>"), strcpy(tok[1], "<pad>"), strcpy(tok[2], "</s>"), strcpy(tok[3], "<unk>");
    for (int b = 0; b < 256; b++)
        byte_symbol(b, tok[b == '\n' ? EOS : 4 + b]);
    for (size_t i = 0; i < N_MERGES; i++)
        snprintf(tok[260 + i], sizeof tok[0], "%s%s", merges[i][0], merges[i][1]);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *fp = fopen(path, "w");
    int ok = fp != NULL;
    for (int i = 0; ok && i < VOCAB; i++) {
        const char *t = tok[i], *esc = (!strcmp(t, "\"") || !strcmp(t, "\\")) ? "\\" : "";
        ok = fprintf(fp, "%s\"%s%s\": %d", i ? ",\n " : "{", esc, t, i) > 0;
    }
    ok = ok && fputs("}\n", fp) >= 0;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok) fprintf(stderr, "bench_blip2: cannot write %s: %s\n", path, strerror(errno));
    char m[512] = "#version: 0.2\n";
    for (size_t i = 0; i < N_MERGES; i++)
        snprintf(m + strlen(m), sizeof m - strlen(m), "%s %s\n", merges[i][0], merges[i][1]);
    static const char *special =
        "{\"bos_token\": {\"content\": \"</s>\", \"lstrip\": false, \"normalized\": true, "
        "\"rstrip\": false, \"single_word\": false}, \"eos_token\": {\"content\": \"</s>\", "
        "\"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}, "
        "\"pad_token\": {\"content\": \"<pad>\", \"lstrip\": false, \"normalized\": true, "
        "\"rstrip\": false, \"single_word\": false}, \"unk_token\": {\"content\": \"</s>\", "
        "\"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}}\n";
    static const char *config =
        "{\"add_bos_token\": true, \"add_prefix_space\": false, \"added_tokens_decoder\": {"
        "\"1\": {\"content\": \"<pad>\", \"lstrip\": false, \"normalized\": true, \"rstrip\": "
        "false, \"single_word\": false, \"special\": true}, \"2\": {\"content\": \"</s>\", "
        "\"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false, "
        "\"special\": true}}, \"bos_token\": \"</s>\", \"clean_up_tokenization_spaces\": true, "
        "\"eos_token\": \"</s>\", \"errors\": \"replace\", \"pad_token\": \"<pad>\", "
        "\"processor_class\": \"Blip2Processor\", \"tokenizer_class\": \"GPT2Tokenizer\", "
        "\"unk_token\": \"</s>\"}\n";
    if (!ok || write_text(dir, "merges.txt", m) ||
        write_text(dir, "special_tokens_map.json", special))
        return -1;
    return write_text(dir, "tokenizer_config.json", config);
}

// --- the temporary folder, removed at exit and on SIGINT / SIGTERM / SIGHUP --------------------

static const char *const folder_files[] = {
    "config.json", "model.safetensors",       "vocab.json",
    "merges.txt",  "special_tokens_map.json", "tokenizer_config.json"};
#define N_FILES (sizeof folder_files / sizeof folder_files[0])
static char folder[PATH_MAX], folder_paths[N_FILES][PATH_MAX + 32];

static void remove_folder(void)
{
    if (!folder[0]) return;
    for (size_t i = 0; i < N_FILES; i++)
        unlink(folder_paths[i]); // async-signal-safe: the paths are made beforehand
    if (rmdir(folder) != 0 && errno != ENOENT)
        fprintf(stderr, "bench_blip2: could not remove %s\n", folder);
    folder[0] = 0;
}

static volatile pid_t child_pid; // the child process running, if any

static void on_signal(int sig)
{
    if (child_pid > 0) kill(child_pid, sig); // async-signal-safe, as unlink and rmdir are
    remove_folder();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int make_folder(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(folder, sizeof folder, "%s/seize-bench-blip2-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(folder)) {
        perror("bench_blip2: mkdtemp");
        folder[0] = 0;
        return -1;
    }
    for (size_t i = 0; i < N_FILES; i++)
        snprintf(folder_paths[i], sizeof folder_paths[i], "%s/%s", folder, folder_files[i]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    return 0;
}

// --- timing ------------------------------------------------------------------------------------

// Wall and process CPU seconds (all threads). On a loaded machine the wall time of a section
// grows while its CPU time stays near what it takes alone (the pool's threads block, never spin;
// oneDNN runs single-threaded in each): for compute-bound work (the towers and their products)
// the CPU-time ratio is a load-independent cross-check. Not for memory-bound work (the decode
// step, the streaming read): one core alone gets more than half the bandwidth.
typedef struct span {
    double wall, cpu;
} span;

#define SPAN_NONE ((span){1e30, 1e30})

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static span span_start(void)
{
    return (span){seize_now(), cpu_now()};
}

static span span_since(span t0)
{
    return (span){seize_now() - t0.wall, cpu_now() - t0.cpu};
}

// Keeps the smaller wall and CPU times (each on its own).
static void span_min(span *best, span d)
{
    if (d.wall < best->wall) best->wall = d.wall;
    if (d.cpu < best->cpu) best->cpu = d.cpu;
}

// --- memory bandwidth ----------------------------------------------------------------------------

// Sums n floats (n a multiple of 128, p 64-byte aligned) with independent accumulators: the loop
// is bound by the loads.
__attribute__((target("avx512f"))) static float read_zmm(const float *p, size_t n)
{
    __m512 a[8];
    for (int j = 0; j < 8; j++)
        a[j] = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 128)
        for (int j = 0; j < 8; j++)
            a[j] = _mm512_add_ps(a[j], _mm512_load_ps(p + i + 16 * j));
    for (int j = 1; j < 8; j++)
        a[0] = _mm512_add_ps(a[0], a[j]);
    return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2"))) static float read_ymm(const float *p, size_t n)
{
    __m256 a[8];
    for (int j = 0; j < 8; j++)
        a[j] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 64)
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_add_ps(a[j], _mm256_load_ps(p + i + 8 * j));
    for (int j = 1; j < 8; j++)
        a[0] = _mm256_add_ps(a[0], a[j]);
    float v[8];
    _mm256_storeu_ps(v, a[0]);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

typedef struct bw_job {
    const float *p;
    size_t n;
    float sum;
} bw_job;

static void *bw_thread(void *arg)
{
    bw_job *j = arg;
    j->sum = __builtin_cpu_supports("avx512f") ? read_zmm(j->p, j->n) : read_ymm(j->p, j->n);
    return NULL;
}

static volatile float bw_sink;

// A buffer ≫ the caches for the streaming read, its pages made: 1 GiB split between the threads.
typedef struct bw_buf {
    float *p;
    size_t per; // floats per thread, a multiple of 128
} bw_buf;

static int bw_init(bw_buf *b)
{
    b->per = ((size_t)1 << 30) / sizeof(float) / (size_t)n_threads / 128 * 128;
    b->p = seize_alloc_aligned(b->per * (size_t)n_threads, sizeof(float));
    if (b->p) memset(b->p, 0, b->per * (size_t)n_threads * sizeof(float));
    return b->p ? 0 : -1;
}

// One streaming read of the buffer on the threads: its time.
static span bw_pass(const bw_buf *b)
{
    bw_job j[16];
    pthread_t th[16];
    span t0 = span_start();
    for (int i = 0; i < n_threads; i++) {
        j[i] = (bw_job){b->p + (size_t)i * b->per, b->per, 0};
        if (i) pthread_create(&th[i], NULL, bw_thread, &j[i]);
    }
    bw_thread(&j[0]);
    for (int i = 1; i < n_threads; i++)
        pthread_join(th[i], NULL);
    span t = span_since(t0);
    for (int i = 0; i < n_threads; i++)
        bw_sink += j[i].sum;
    return t;
}

// --- the backend's products on the model's shapes ----------------------------------------------

typedef struct gjob {
    const nn_gemm_w *w;
    size_t m, lo, hi;
    int rows;
    const float *x, *bias;
    float *y;
    nn_gemm_scratch *s;
} gjob;

static void *gjob_run(void *arg)
{
    gjob *j = arg;
    size_t k = nn_gemm_cols(j->w), n = nn_gemm_rows(j->w);
    int rc = j->rows ? nn_gemm_run(j->w, j->hi - j->lo, 0, n, j->x + j->lo * k, k, j->bias, 0.0f,
                                   j->y + j->lo * n, n, j->s)
                     : nn_gemm_run(j->w, j->m, j->lo, j->hi, j->x, k, j->bias, 0.0f, j->y, n, j->s);
    if (rc) fprintf(stderr, "bench_blip2: %s\n", seize_errmsg());
    return NULL;
}

static nn_gemm_scratch *scratch[16];
static double prod_wall, prod_cpu; // every timed product: the share of the cores this process had

// A product y(m, n) = x · wᵀ + bias with a random BF16 w packed in a precision, and its best
// time so far.
typedef struct prod {
    nn_gemm_w *g;
    size_t m;
    float *x, *y, *bias;
    span best;
} prod;

static int prod_init(prod *p, size_t m, size_t n, size_t k, int prec, nn_gemm_impl impl)
{
    uint16_t *w = malloc(n * k * sizeof *w);
    memset(p, 0, sizeof *p);
    p->m = m, p->best = SPAN_NONE;
    p->x = seize_alloc_aligned(m * k, sizeof *p->x),
    p->y = seize_alloc_aligned(m * n, sizeof *p->y);
    p->bias = calloc(n, sizeof *p->bias);
    for (int i = 0; i < n_threads; i++)
        if (!scratch[i]) scratch[i] = nn_gemm_scratch_new();
    int ok = w && p->x && p->y && p->bias && scratch[n_threads - 1];
    for (size_t i = 0; ok && i < n * k; i++)
        w[i] = to_bf16(0.04f * bench_frand());
    for (size_t i = 0; ok && i < m * k; i++)
        p->x[i] = 2.0f * bench_frand();
    ok = ok && !nn_gemm_pack(w, SEIZE_ST_BF16, n, k, (seize_precision)prec, impl, &p->g);
    free(w);
    return ok ? 0 : -1;
}

static void prod_free(prod *p)
{
    nn_gemm_free(p->g);
    free(p->x), free(p->y), free(p->bias);
}

// One product, sliced between the threads as the CPU backend's linear slices it (rows when
// there are enough, else output columns in the packing's blocks); the first call is a warm-up
// (primitive creation, page faults). Keeps the best time.
static void prod_time(prod *p)
{
    size_t n = nn_gemm_rows(p->g), T = (size_t)n_threads, align = nn_gemm_col_align(p->g), m = p->m;
    int rows = T == 1 || m >= 32 * T || m >= n || n < 2 * align;
    size_t total = rows ? m : n, chunk = (total + T - 1) / T;
    chunk = rows ? (chunk + 15) & ~(size_t)15 : (chunk + align - 1) / align * align;
    size_t parts = (total + chunk - 1) / chunk;
    gjob j[16];
    for (size_t i = 0; i < parts; i++) {
        size_t hi = (i + 1) * chunk < total ? (i + 1) * chunk : total;
        j[i] = (gjob){p->g, m, i * chunk, hi, rows, p->x, p->bias, p->y, scratch[i]};
    }
    for (int r = p->best.wall == 1e30 ? 0 : 1; r < 2; r++) {
        pthread_t th[16];
        span t0 = span_start();
        for (size_t i = 1; i < parts; i++)
            pthread_create(&th[i], NULL, gjob_run, &j[i]);
        gjob_run(&j[0]);
        for (size_t i = 1; i < parts; i++)
            pthread_join(th[i], NULL);
        span dt = span_since(t0);
        if (r) span_min(&p->best, dt), prod_wall += dt.wall, prod_cpu += dt.cpu;
    }
}

// --- FLOPs (multiply-adds × 2) and bytes -------------------------------------------------------

// One vision layer for one image: its linear layers, and attention (q·kᵀ, p·v).
static double vision_linear_flops(void)
{
    return 2.0 * VT * ((3.0 * VW + VW + 2.0 * VMLP) * VW);
}

static double vision_layer_flops(void)
{
    return vision_linear_flops() + 4.0 * VT * VT * VW;
}

static double qformer_layer_flops(int cross)
{
    double f = 2.0 * NQ * 4 * QW * QW + 4.0 * NQ * NQ * QW + 2.0 * NQ * 2 * QW * QMLP;
    if (cross) f += 2.0 * NQ * 2 * QW * QW + 2.0 * VT * 2 * QW * VW + 4.0 * NQ * VT * QW;
    return f;
}

// Vision embeddings + lv layers, Q-Former of lq layers, language_projection: one image.
static double encode_flops(int lv, int lq)
{
    double f = 2.0 * NPATCH * VW * 3 * PATCH * PATCH + lv * vision_layer_flops();
    for (int l = 0; l < lq; l++)
        f += qformer_layer_flops(l % XFREQ == 0);
    return f + 2.0 * NQ * QW * TW;
}

// Bytes of the decoder's weights read by one step: lt OPT layers and the LM head, with `bytes`
// per parameter.
static double step_bytes(const layer_params *lp, int lt, double bytes)
{
    return ((double)lp->opt * lt + (double)lp->head) * bytes;
}

// FLOPs of one decode step of the 15 sequences (lt OPT layers' products and the LM head; the
// attention over the cache is < 1 %), and its time at `peak` GFLOP/s (1e30 when unknown).
static double step_flops(const layer_params *lp, int lt)
{
    return 2.0 * NSEQ * ((double)lp->opt * lt + (double)lp->head);
}

static double step_compute(const layer_params *lp, int lt, double peak)
{
    return peak > 0 ? step_flops(lp, lt) / (peak * 1e9) : 1e30;
}

// --- the child: one precision's engine -----------------------------------------------------------

typedef struct stamp {
    char name[40];
    double t;
} stamp;

typedef struct trace_log {
    stamp s[96];
    int n;
} trace_log;

// The time at which each traced tensor arrives (the forward pass calls it as it goes).
static void on_trace(void *user, size_t image, const char *name, const float *data, size_t rows,
                     size_t cols)
{
    trace_log *l = user;
    if (l->n < 96) {
        snprintf(l->s[l->n].name, sizeof l->s[0].name, "%s", name);
        l->s[l->n++].t = seize_now();
    }
}

// The arrival time of tensor `name` (printf format with one int), or -1.
static double stamp_at(const trace_log *l, const char *fmt, int i)
{
    char name[48];
    snprintf(name, sizeof name, fmt, i);
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->s[k].name, name)) return l->s[k].t;
    return -1;
}

// Segments between consecutive stamps fmt(0..n): seg[i] = t(i + 1) − t(i); 0 unless every stamp
// is there in increasing order.
static int segments(const trace_log *l, const char *fmt, int n, double *seg)
{
    double prev = stamp_at(l, fmt, 0);
    for (int i = 1; i <= n; i++) {
        double t = stamp_at(l, fmt, i);
        if (prev < 0 || t < prev) return 0;
        seg[i - 1] = t - prev, prev = t;
    }
    return 1;
}

typedef struct run {
    double load_s, open_s, rss_base, rss_open, rss_job, hwm;
    size_t wbytes;
    // the towers, and the products of the vision layer's shapes in the same rounds
    double enc_s, enc_cpu, v_layer[LAYERS], q_layer[LAYERS], vrate, vrate_cpu, vshape[4], peak;
    int enc_split; // per-layer times from the trace (else split by FLOPs)
    const char *gemm_desc;
    double pre_s, p_layer[LAYERS];
    int pre_split;
    // the decode step, the bandwidth and the LM head's product in the same rounds
    double bw, head_s, layer_prod_s, step_med, step_best;
    int n_steps, finite;
    double job_s;
    size_t job_tokens;
    double util; // CPU time ÷ (wall time × threads) over the measurements: 1 on a quiet machine
} run;

static int reps_of(int full)
{
    return quick ? 1 : full;
}

// The vision + Q-Former (+ projection) pass of one image, in rounds that each also run the
// vision layer's four products once (the same load on a shared machine): the best of each;
// then one traced pass for the per-layer times.
static int child_encode(seize_blip2 *s, const float *pix, int p, run *r)
{
    static const size_t sh[4][2] = {{3 * VW, VW}, {VW, VW}, {VMLP, VW}, {VW, VMLP}};
    prod vp[4];
    int rc = nn_blip2_encode(s, pix, 1, NULL, NULL); // warm-up
    for (int i = 0; i < 4; i++)
        if (prod_init(&vp[i], VT, sh[i][0], sh[i][1], p, NN_GEMM_AUTO)) rc = -1;
    span enc = SPAN_NONE;
    for (int k = 0; k < reps_of(4) && !rc; k++) {
        for (int i = 0; i < 4; i++)
            prod_time(&vp[i]);
        span t0 = span_start();
        rc = nn_blip2_encode(s, pix, 1, NULL, NULL);
        span_min(&enc, span_since(t0));
    }
    r->enc_s = enc.wall, r->enc_cpu = enc.cpu;
    double fl = 0, sec = 0, cpu = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        double f = 2.0 * VT * sh[i][0] * sh[i][1];
        r->vshape[i] = f / vp[i].best.wall / 1e9;
        fl += f, sec += vp[i].best.wall, cpu += vp[i].best.cpu;
        r->gemm_desc = nn_gemm_describe(vp[i].g);
    }
    r->vrate = fl / sec / 1e9, r->vrate_cpu = fl / (cpu / n_threads) / 1e9;
    for (int i = 0; i < 4; i++)
        prod_free(&vp[i]);
    static trace_log log;
    log.n = 0;
    if (rc || nn_blip2_encode(s, pix, 1, on_trace, &log)) return -1;
    r->enc_split = segments(&log, "vision.hidden_states.%d", LAYERS, r->v_layer) &&
                   segments(&log, "qformer.hidden_states.%d", LAYERS, r->q_layer);
    if (!r->enc_split) { // the trace does not say: by FLOPs
        double all = encode_flops(LAYERS, LAYERS);
        for (int i = 0; i < LAYERS; i++) {
            r->v_layer[i] = r->enc_s * vision_layer_flops() / all;
            r->q_layer[i] = r->enc_s * qformer_layer_flops(i % XFREQ == 0) / all;
        }
    }
    const char *name;
    r->peak = peak_measure(p, n_threads, &name);
    return 0;
}

// The prefill of BOS + prompt after the 32 query rows: best of reps, then one traced pass.
static int child_prefill(seize_blip2 *s, const int32_t *ids, size_t n_ids, float *logits, run *r)
{
    r->pre_s = 1e30;
    for (int i = 0; i <= reps_of(3); i++) {
        double t0 = seize_now();
        if (nn_blip2_prefill(s, 1, ids, n_ids, logits, NULL, NULL)) return -1;
        double dt = seize_now() - t0;
        if (i && dt < r->pre_s) r->pre_s = dt;
    }
    static trace_log log;
    log.n = 0;
    if (nn_blip2_prefill(s, 1, ids, n_ids, logits, on_trace, &log)) return -1;
    r->pre_split = segments(&log, "lm.hidden_states.%d", LAYERS, r->p_layer);
    if (!r->pre_split)
        for (int i = 0; i < LAYERS; i++)
            r->p_layer[i] = r->pre_s / LAYERS;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Prefill, share it among 15 sequences, then 30 steps (10 with --quick) of the 15 sequences
// with fixed tokens: the median and best step of this run into *med, *best.
static int steps_once(seize_blip2 *s, const int32_t *ids, size_t n_ids, float *logits, run *r,
                      span *med, double *best)
{
    double t[NEW_TOKENS], c[NEW_TOKENS];
    int32_t tok[NSEQ];
    r->n_steps = quick ? 10 : NEW_TOKENS;
    if (nn_blip2_prefill(s, 1, ids, n_ids, logits, NULL, NULL) || nn_blip2_expand(s, 1, NSEQ))
        return -1;
    for (int k = 0; k < r->n_steps; k++) {
        for (int j = 0; j < NSEQ; j++)
            tok[j] = 300 + 7 * j + k; // ordinary tokens, never EOS
        span t0 = span_start();
        if (nn_blip2_step(s, NSEQ, tok, logits)) return -1;
        span dt = span_since(t0);
        t[k] = dt.wall, c[k] = dt.cpu;
        for (size_t i = 0; i < (size_t)NSEQ * VOCAB; i += 997)
            r->finite &= isfinite(logits[i]) != 0;
    }
    qsort(t, (size_t)r->n_steps, sizeof t[0], cmp_double);
    qsort(c, (size_t)r->n_steps, sizeof c[0], cmp_double);
    *best = t[0], *med = (span){t[r->n_steps / 2], c[r->n_steps / 2]};
    return 0;
}

// Decode steps in rounds that each also read the bandwidth buffer and run the step's products
// once (an OPT layer's six and the LM head, at 15 rows): the best bandwidth, products and median
// step of the rounds.
static int child_decode(seize_blip2 *s, const int32_t *ids, size_t n_ids, float *logits, int p,
                        run *r)
{
    static const size_t sh[7][2] = {{TW, TW},   {TW, TW},   {TW, TW},   {TW, TW},
                                    {TFFN, TW}, {TW, TFFN}, {VOCAB, TW}};
    bw_buf b = {0};
    prod pr[7];
    int rc = bw_init(&b);
    for (int i = 0; i < 7; i++)
        if (prod_init(&pr[i], NSEQ, sh[i][0], sh[i][1], p, NN_GEMM_SMALL_M))
            rc = -1; // as the OPT weights
    span bw = SPAN_NONE, step = SPAN_NONE;
    r->finite = 1, r->step_best = 1e30;
    for (int k = 0; k < reps_of(2) && !rc; k++) {
        span med;
        double best;
        for (int i = 0; i < 4; i++) // the bandwidth a VM gets varies from pass to pass
            span_min(&bw, bw_pass(&b));
        for (int i = 0; i < 7; i++)
            prod_time(&pr[i]);
        rc = steps_once(s, ids, n_ids, logits, r, &med, &best);
        if (!rc) span_min(&step, med);
        if (!rc && best < r->step_best) r->step_best = best;
    }
    double bytes = (double)b.per * (size_t)n_threads * sizeof(float);
    r->bw = bytes / bw.wall / 1e9, r->step_med = step.wall;
    r->head_s = pr[6].best.wall, r->layer_prod_s = 0;
    for (int i = 0; i < 6; i++)
        r->layer_prod_s += pr[i].best.wall;
    for (int i = 0; i < 7; i++)
        prod_free(&pr[i]);
    free(b.p);
    return rc;
}

// The whole job with SEIZE's settings (15 samples, top-k 50, top-p 0.9, 30 new tokens): best
// of reps; the most tokens a sequence got.
static int child_job(seize_blip2 *s, const float *pix, run *r)
{
    seize_blip2_gen g = seize_blip2_gen_default();
    r->job_s = 1e30;
    for (int i = 0; i < reps_of(2); i++) {
        seize_blip2_caption cap[1];
        memset(cap, 0, sizeof cap);
        g.seed = (uint64_t)i;
        double t0 = seize_now();
        if (seize_blip2_generate(s, pix, 1, &g, cap)) return -1;
        double dt = seize_now() - t0;
        if (dt < r->job_s) r->job_s = dt;
        r->job_tokens = 0;
        for (size_t j = 0; j < cap[0].n; j++)
            if (cap[0].n_tokens[j] > r->job_tokens) r->job_tokens = cap[0].n_tokens[j];
        seize_blip2_caption_release(cap, 1);
    }
    return 0;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

// The limits measured in this child, then the towers and the decoder against them.
static void print_measured(int p, const run *r, const layer_params *lp, size_t n_ids)
{
    const char *pn = prec_name[p];
    char pk[64] = "";
    if (r->peak > 0)
        snprintf(pk, sizeof pk, ", %.2f of the peak %.0f", r->vrate / r->peak, r->peak);
    printf("blip2 limits %s, %d threads: streaming read %.1f GB/s (1 GiB); products of the vision "
           "layer at %d rows: qkv %.1f, proj %.1f, fc1 %.1f, fc2 %.1f GFLOP/s, per layer %.1f%s "
           "[%s]; this process had %.0f%% of %d cores in the products (100%% = a quiet machine)\n",
           pn, n_threads, r->bw, VT, r->vshape[0], r->vshape[1], r->vshape[2], r->vshape[3],
           r->vrate, pk, r->gemm_desc, 100 * prod_cpu / (prod_wall * n_threads), n_threads);
    double fl = encode_flops(LAYERS, LAYERS), rate = fl / r->enc_s / 1e9;
    double vl = mean(r->v_layer, LAYERS), vrate = vision_layer_flops() / vl / 1e9;
    printf("blip2 vision+qformer %s (%d+%d layers, %d tokens, 1 image): %.1f ms, %.1f GFLOP, "
           "%.1f GFLOP/s = %.2f of the products' rate (aim >= 0.8; by CPU time %.2f); vision "
           "layer %.1f ms (%.1f GFLOP/s = %.2f), Q-Former layers %.1f (cross) / %.1f ms (%s)\n",
           pn, LAYERS, LAYERS, VT, r->enc_s * 1e3, fl / 1e9, rate, rate / r->vrate,
           fl / (r->enc_cpu / n_threads) / 1e9 / r->vrate_cpu, vl * 1e3, vrate, vrate / r->vrate,
           r->q_layer[0] * 1e3, r->q_layer[1] * 1e3,
           r->enc_split ? "per layer from the trace's timestamps" : "per layer split by FLOPs");
    double bpp = p ? 2 : 4, bytes = step_bytes(lp, LAYERS, bpp), bound = bytes / (r->bw * 1e9);
    double layer = (r->step_med - r->head_s) / LAYERS, cb = step_compute(lp, LAYERS, r->peak);
    double prods = LAYERS * r->layer_prod_s + r->head_s;
    printf("blip2 decode step %s (%d sequences, %d OPT layers + LM head): median %.1f ms (best "
           "%.1f, %d steps); bound %.3f GB of weights / %.1f GB/s = %.1f ms: %.2fx (aim <= 1.3); "
           "compute bound (%.1f GFLOP at the peak %.0f) %.1f ms: %.2fx; its products alone "
           "%.1f ms: %.2fx; per OPT layer %.1f ms (%.2fx its bandwidth bound; products %.1f ms), "
           "LM head product %.1f ms (%.2fx)%s\n",
           pn, NSEQ, LAYERS, r->step_med * 1e3, r->step_best * 1e3, r->n_steps, bytes / 1e9, r->bw,
           bound * 1e3, r->step_med / bound, step_flops(lp, LAYERS) / 1e9, r->peak, cb * 1e3,
           r->step_med / cb, prods * 1e3, r->step_med / prods, layer * 1e3,
           layer / ((double)lp->opt * bpp / (r->bw * 1e9)), r->layer_prod_s * 1e3, r->head_s * 1e3,
           r->head_s / ((double)lp->head * bpp / (r->bw * 1e9)),
           r->finite ? "" : "; NON-FINITE LOGITS");
    int steps = r->job_tokens > 0 ? (int)r->job_tokens - 1 : 0;
    double rest = r->job_s - r->enc_s - r->pre_s - steps * r->step_med;
    printf("blip2 job %s (%d captions, prompt of %zu tokens, up to %d new, %d layers per tower): "
           "%.2f s per image = vision+qformer %.2f + prefill %.3f + %d steps x %.1f ms + the rest "
           "%.3f s (sampling, sharing the cache, text); longest caption %zu tokens\n",
           pn, NSEQ, n_ids, NEW_TOKENS, LAYERS, r->job_s, r->enc_s, r->pre_s, steps,
           r->step_med * 1e3, rest, r->job_tokens);
}

// The job, the decode step and the resident memory at the real depth (39 / 12 / 32 layers).
static void print_extrapolated(int p, const run *r, const layer_params *lp)
{
    const char *pn = prec_name[p];
    double vl = mean(r->v_layer, LAYERS), pl = mean(r->p_layer, LAYERS);
    double enc = r->enc_s + (REAL_V - LAYERS) * vl +
                 (REAL_Q - LAYERS) / (double)XFREQ * (r->q_layer[0] + r->q_layer[1]);
    double pre = r->pre_s + (REAL_T - LAYERS) * pl;
    double layer = (r->step_med - r->head_s) / LAYERS;
    if (layer <= 0) // by bytes when the head's product outran the step
        layer = r->step_med * lp->opt / ((double)lp->opt * LAYERS + lp->head);
    double step = r->step_med + (REAL_T - LAYERS) * layer;
    double bound = step_bytes(lp, REAL_T, p ? 2 : 4) / (r->bw * 1e9);
    double cb = step_compute(lp, REAL_T, r->peak);
    int steps = r->job_tokens > 0 ? (int)r->job_tokens - 1 : NEW_TOKENS - 1;
    double rest = r->job_s - r->enc_s - r->pre_s - steps * r->step_med;
    double job = enc + pre + steps * step + rest;
    printf("blip2 job %s extrapolated to %d/%d/%d layers (blip2-opt-6.7b-coco): %.1f s per image "
           "= vision+qformer %.2f s (%.1f GFLOP/s) + prefill %.2f s + %d steps x %.0f ms (bounds: "
           "bandwidth %.0f ms at %.1f GB/s, %.2fx; compute %.0f ms, %.2fx) + the rest %.2f s\n",
           pn, REAL_V, REAL_Q, REAL_T, job, enc, encode_flops(REAL_V, REAL_Q) / enc / 1e9, pre,
           steps, step * 1e3, bound * 1e3, r->bw, step / bound, cb * 1e3, step / cb, rest);
    double dp = (double)(REAL_V - LAYERS) * lp->vision +
                (REAL_Q - LAYERS) / (double)XFREQ * (lp->q_cross + lp->q_plain) +
                (double)(REAL_T - LAYERS) * lp->opt;
    double bpp = p ? 2 : 4; // a layer's products in the precision (its float32 vectors: ~0.1 %)
    double kv = (REAL_T - LAYERS) * 2.0 * NSEQ * (NQ + MAX_TOKENS) * TW * 4; // float32 K and V
    double full = r->rss_job * 1048576.0 + dp * bpp + kv;
    printf("blip2 memory %s extrapolated to %d/%d/%d layers: %.1f GB resident = measured %.0f MiB "
           "+ %.0f M more layer parameters x %.0f bytes + the KV cache of %d more layers %.2f GB "
           "(float32, %d sequences x %d rows); %.2f G parameters, load + open %.0f s (this "
           "run's per parameter)\n",
           pn, REAL_V, REAL_Q, REAL_T, full / 1e9, r->rss_job, dp / 1e6, bpp, REAL_T - LAYERS,
           kv / 1e9, NSEQ, NQ + MAX_TOKENS, (lp->total + dp) / 1e9,
           (r->load_s + r->open_s) * (lp->total + dp) / lp->total);
}

// BOS + the default prompt's tokens (heap); *n of them.
static int32_t *prompt_ids(const seize_blip2_model *m, size_t *n)
{
    const char *prompt = "a photo of";
    int32_t *p = NULL, *ids = NULL;
    size_t k = 0;
    if (seize_bpe_encode(seize_blip2_model_tokenizer(m), prompt, strlen(prompt), &p, &k))
        return NULL;
    ids = malloc((k + 1) * sizeof *ids);
    if (ids) {
        ids[0] = seize_blip2_model_get_config(m)->bos_id;
        memcpy(ids + 1, p, k * sizeof *p);
        *n = k + 1;
    }
    free(p);
    return ids;
}

// The job first (its memory is the engine's alone), then the parts against their limits.
static int child_measure(seize_blip2 *s, const seize_blip2_model *m, int p, run *r, size_t *n_ids)
{
    size_t per = 3 * (size_t)IMG * IMG;
    float *pix = malloc(per * sizeof *pix), *logits = malloc((size_t)NSEQ * VOCAB * sizeof *logits);
    int32_t *ids = prompt_ids(m, n_ids);
    int rc = -1;
    if (pix && logits && ids) {
        for (size_t i = 0; i < per; i++)
            pix[i] = 4.0f * bench_frand(); // [-2, 2): normalised pixels' range
        rc = child_job(s, pix, r);
        r->rss_job = bench_status_mib("VmRSS:"), r->hwm = bench_status_mib("VmHWM:");
        if (!rc)
            rc = child_encode(s, pix, p, r) || child_prefill(s, ids, *n_ids, logits, r) ||
                         child_decode(s, ids, *n_ids, logits, p, r)
                     ? -1
                     : 0;
    }
    free(pix), free(logits), free(ids);
    return rc;
}

// One precision: load, open, measure, print. 0 or 1.
static int child(const char *dir, int p)
{
    static run r;
    layer_params lp;
    seize_blip2_model *m = NULL;
    seize_blip2 *s = NULL;
    size_t n_ids = 0;
    int rc = 1;
    if (get_layer_params(&lp)) return 1;
    r.rss_base = bench_status_mib("VmRSS:");
    double t0 = seize_now();
    if (seize_blip2_model_load(dir, &m)) goto done;
    double t1 = seize_now();
    seize_blip2_params prm = {.threads = n_threads,
                              .precision = p ? SEIZE_PRECISION_BF16 : SEIZE_PRECISION_FP32,
                              .max_images = 1,
                              .max_samples = NSEQ,
                              .max_tokens = MAX_TOKENS};
    if (seize_blip2_open(m, prm, &s)) goto done;
    r.load_s = t1 - t0, r.open_s = seize_now() - t1;
    r.rss_open = bench_status_mib("VmRSS:");
    r.wbytes = seize_blip2_weight_bytes(s);
    if (child_measure(s, m, p, &r, &n_ids)) goto done;
    printf("blip2 engine %s: %s; load %.2f s + open %.2f s; resident after open %.0f MiB, after "
           "the job %.0f MiB, peak %.0f MiB (process before load %.0f); weights in the "
           "backend's form %.0f MiB for %.0f M parameters\n",
           prec_name[p], seize_blip2_describe(s), r.load_s, r.open_s, r.rss_open, r.rss_job, r.hwm,
           r.rss_base, r.wbytes / 1048576.0, lp.total / 1e6);
    print_measured(p, &r, &lp, n_ids);
    print_extrapolated(p, &r, &lp);
    rc = 0;
done:
    if (rc) printf("blip2 %s: FAILED (%s)\n", prec_name[p], seize_errmsg());
    seize_blip2_free(s);
    seize_blip2_model_free(m);
    for (int i = 0; i < 16; i++)
        nn_gemm_scratch_free(scratch[i]);
    return rc;
}

// --- the parent ----------------------------------------------------------------------------------

// The folder: weights, config, tokenizer; checks that the tokenizer loads and gives the ids it
// should. 0 or -1.
static int write_folder(void)
{
    double t0 = seize_now();
    size_t bytes = write_weights(folder);
    if (!bytes || write_config(folder) || write_tokenizer(folder)) return -1;
    layer_params lp;
    get_layer_params(&lp);
    seize_bpe *b = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    const char *prompt = "a photo of\n";
    if (seize_bpe_load(folder, &b) || seize_bpe_encode(b, prompt, strlen(prompt), &ids, &n)) {
        printf("blip2 tokenizer: FAILED (%s)\n", seize_errmsg());
        seize_bpe_free(b);
        return -1;
    }
    int ok = seize_bpe_vocab_size(b) == VOCAB && seize_bpe_token_id(b, "</s>") == 2 &&
             seize_bpe_is_special(b, 2) && n == 4 && ids[0] == 4 + 'a' && ids[1] == 260 + 4 &&
             ids[2] == 260 + 6 && ids[3] == EOS;
    printf("blip2 model: %.2f G parameters, %.2f GB of BF16 safetensors (%d layers per tower, full "
           "width) + config + tokenizer (%zu ids) written in %.1f s; tokenizer %s\n",
           lp.total / 1e9, bytes / 1e9, LAYERS, seize_bpe_vocab_size(b), seize_now() - t0,
           ok ? "ok (\"a photo of\\n\" = a, Ġphoto, Ġof, EOS)" : "gives unexpected ids");
    free(ids);
    seize_bpe_free(b);
    return ok ? 0 : -1;
}

// Runs `self --child DIR P QUICK` and waits; 0 when it succeeded.
static int run_child(const char *self, int p)
{
    char a[2][16];
    snprintf(a[0], sizeof a[0], "%d", p);
    snprintf(a[1], sizeof a[1], "%d", quick);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "--child", folder, a[0], a[1], (char *)NULL);
        _exit(127);
    }
    int st = 0;
    child_pid = pid;
    pid_t w = pid < 0 ? -1 : waitpid(pid, &st, 0);
    child_pid = 0;
    if (w < 0) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *th = getenv("SEIZE_BENCH_THREADS");
    n_threads = th && atoi(th) > 0 ? (atoi(th) < 16 ? atoi(th) : 16) : 2;
    seize_blas_threads_set(1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && !strcmp(argv[1], "--child")) {
        quick = atoi(argv[4]);
        return child(argv[2], atoi(argv[3]));
    }
    quick = argc > 1 && !strcmp(argv[1], "--quick");
    __builtin_cpu_init();
    int has_bf16 = __builtin_cpu_supports("avx512bf16");
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0 || make_folder()) return 1;
    self[k] = 0;
    int rc = 1;
    if (write_folder()) goto done;
    rc = run_child(self, 0) != 0;
    if (has_bf16)
        rc |= run_child(self, 1) != 0;
    else
        printf("blip2 bf16: n/a (this CPU has no AVX512_BF16)\n");
done:
    if (getenv("SEIZE_BENCH_KEEP") && atoi(getenv("SEIZE_BENCH_KEEP")))
        printf("blip2: kept %s\n", folder); // for inspection
    else
        remove_folder();
    return rc;
}
