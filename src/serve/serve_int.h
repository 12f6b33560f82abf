// seize serve's private header: the server, one request, the caption/edit cache, the metrics
// and the handlers shared by the files of src/serve/.
#ifndef SEIZE_SERVE_INT_H
#define SEIZE_SERVE_INT_H

#include "seize/core.h"
#include "seize/image.h"
#include "seize/index.h"
#include "seize/net.h"
#include "seize/pipeline.h"
#include "seize/retrieval.h"
#include "seize/serve.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

// --- routes and metrics (metrics.c) ----------------------------------------------------------

enum {
    RT_PAGE = 0,
    RT_HEALTHZ,
    RT_METRICS,
    RT_INFO,
    RT_GALLERY,
    RT_IMAGES,
    RT_SEARCH,
    RT_SEARCH_TEXT,
    RT_SEARCH_IMAGE,
    RT_OTHER,
    RT_COUNT
};
extern const char *const srv_route_names[RT_COUNT];

#define SRV_N_BUCKETS 14
#define SRV_N_STATUS 20
typedef struct srv_route_stats {
    int status[SRV_N_STATUS];
    unsigned long long count[SRV_N_STATUS];
    unsigned long long hist[SRV_N_BUCKETS]; // per bucket (not cumulative)
    unsigned long long n;
    double sum;
} srv_route_stats;
typedef struct srv_metrics {
    pthread_mutex_t mu;
    srv_route_stats rt[RT_COUNT];
    unsigned long long cache_hits, cache_misses;
    unsigned long long llm_requests[2], llm_failures[2]; // [0] caption, [1] edit
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, int route, int status, double seconds);
void srv_metrics_cache(srv_metrics *m, size_t hits, size_t misses);
void srv_metrics_llm(srv_metrics *m, int stage, size_t requests, size_t failures);

// --- the caption/edit cache (cache.c) --------------------------------------------------------

// An in-memory LRU map from a key to a list of texts, thread-safe; with `path` (may be NULL)
// persisted in that file (JSON Lines, read back by srv_cache_new).
typedef struct srv_cache srv_cache;
int srv_cache_new(size_t max_entries, const char *path, srv_cache **out);
void srv_cache_free(srv_cache *c);
// 1 with a copy of the texts in *texts (seize_strvec-like: the caller frees each and the array),
// 0 when absent.
int srv_cache_get(srv_cache *c, const char *key, char ***texts, size_t *n);
void srv_cache_put(srv_cache *c, const char *key, char *const *texts, size_t n);

// A request's view of the cache: a captioner and a reasoner that answer from the cache what
// it holds and ask the worker's own for the rest (storing their answers).
typedef struct srv_llm_wrap {
    srv_cache *cache;
    seize_captioner *cap; // the worker's
    seize_reasoner *rsn;
    const char *image_sha;           // the reference image's sha256 (hex)
    const char *cap_hash, *rsn_hash; // the settings hashes
    srv_metrics *m;
    size_t hits, misses;
    int asked; // 1 once a request went to a captioner or reasoner
    seize_captioner wcap;
    seize_reasoner wrsn;
} srv_llm_wrap;
void srv_llm_wrap_init(srv_llm_wrap *w);

// --- the server ------------------------------------------------------------------------------

typedef struct srv_slot {
    seize_engine_state *st;
    seize_captioner *cap;
    seize_reasoner *rsn;
    int busy;
} srv_slot;

// Requests worked on (busy, at most cap) and waiting (at most the queue parameter).
typedef struct srv_gate {
    int busy, waiting, cap;
    int peak; // the most busy at once so far
} srv_gate;

// A request being worked on, watched for its deadline.
typedef struct srv_active {
    double deadline; // monotonic seconds
    seize_cancel cancel;
    volatile int timed_out;
    struct srv_active *next;
} srv_active;

struct seize_server {
    seize_serve_params p; // with the defaults applied; strings are the copies below
    char *index_dir, *model_dir, *gallery_dir, *token, *cors, *cache_dir;
    int own_cache_dir;             // a private temporary folder, removed at stop
    seize_llm_params cap_p, llm_p; // copies (strings copied too)
    char *strs[8];
    int has_cap, has_llm;
    char cap_hash[65], rsn_hash[65];
    seize_captioner *native; // the native captioner every slot shares (its calls serialised)
    char *cap_name;          // its folder's name (/v1/info)
    seize_engine *e;
    const seize_index *idx;
    seize_batcher *b;
    srv_slot *slots;
    int n_slots;
    srv_cache *cache;
    srv_metrics m;
    pthread_mutex_t mu; // gate, active list
    pthread_cond_t cv;
    srv_gate workers;  // composed searches and searches by a gallery image's row: n_workers
    srv_gate searches; // text and uploaded-image searches (the batcher's): 4 x max_batch
    srv_gate decodes;  // whole images decoded and held at once (thumbnails being made, uploads
                       // until their search has them): n_threads, 1 to 4
    int stopping;
    int inflight; // requests between their headers and their end
    srv_active *active;
    pthread_t watchdog;
    int watchdog_on;
    struct MHD_Daemon *d;
    int port;
};

double srv_now(void); // monotonic seconds

#define SRV_MAX_K 1000          // results per search at most
#define SRV_MAX_CAPTIONS 100    // num_captions at most
#define SRV_CACHE_ENTRIES 16384 // caption lists and edits kept

// One HTTP request.
typedef struct srv_req {
    seize_server *s;
    int route, status;
    double t0;
    char *body; // raw body (JSON), NUL-terminated
    size_t len, cap;
    int too_big, bad_form;
    struct MHD_PostProcessor *pp; // multipart/form-data
    json_t *form;                 // its fields
    uint8_t *file;                // its "image" file
    size_t file_len;
    srv_slot *slot; // while it holds a worker
    srv_active act;
    int responded;
} srv_req;

// The gates: with `slot`, a worker (its engine state, captioner and reasoner) for a composed
// search or a gallery image's search; without, a place among the batcher's searches (their
// work is the batcher's thread: many in flight make its batches). 0, or an HTTP status: 503
// (full, or stopping), 504 (waited past act->deadline). srv_gate_leave gives it back.
int srv_gate_enter(seize_server *s, srv_active *act, srv_slot **slot);
void srv_gate_leave(seize_server *s, srv_active *act, srv_slot *slot);

// --- responses (server.c) --------------------------------------------------------------------

enum MHD_Result srv_send(srv_req *r, struct MHD_Connection *c, int status,
                         struct MHD_Response *resp);
enum MHD_Result srv_send_json(srv_req *r, struct MHD_Connection *c, int status, json_t *obj);
enum MHD_Result srv_send_error(srv_req *r, struct MHD_Connection *c, int status, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));
json_t *srv_error_json(int status, const char *msg);
void srv_add_cors(const seize_server *s, struct MHD_Response *resp);

// --- handlers (routes.c, search.c) -----------------------------------------------------------

enum MHD_Result srv_info(srv_req *r, struct MHD_Connection *c);
enum MHD_Result srv_gallery(srv_req *r, struct MHD_Connection *c);
enum MHD_Result srv_image(srv_req *r, struct MHD_Connection *c, const char *name);
// "image/jpeg" or "image/png" from a file's first bytes, or NULL (routes.c).
const char *srv_image_type(const uint8_t *b, size_t n);
enum MHD_Result srv_metrics_page(srv_req *r, struct MHD_Connection *c);
enum MHD_Result srv_search_text(srv_req *r, struct MHD_Connection *c, json_t *body);
enum MHD_Result srv_search_image(srv_req *r, struct MHD_Connection *c, json_t *body);
enum MHD_Result srv_search(srv_req *r, struct MHD_Connection *c, json_t *body);

// The request's reference image: a gallery name (*row set, *name borrowed from the index) or
// an upload (*img decoded, *bytes the encoded bytes); 0 or an HTTP status with *msg set.
typedef struct srv_ref {
    const char *name; // gallery name, or NULL
    size_t row;       // its row, or SIZE_MAX
    uint8_t *bytes;   // the upload (owned), or NULL
    size_t len;
    seize_image *img;       // decoded upload (owned), or NULL
    char sha[65];           // sha256 of the image file's bytes
    char format[8];         // the upload's "JPEG" or "PNG"
    seize_server *decoding; // holds one of s->decodes while img is held, or NULL
} srv_ref;
// Takes (waiting) and gives back one of s->decodes: every decode of a whole image runs inside
// one, so at most n_threads (1 to 4) photos of up to max_pixels are in memory at once.
void srv_decode_enter(seize_server *s);
void srv_decode_leave(seize_server *s);
// Frees the decoded upload and gives back its place in s->decodes (kept: bytes, sha, format).
void srv_ref_drop_pixels(srv_ref *ref);
// Body members: an integer in [lo, hi] (def when absent) and a non-empty string (NULL when
// absent and optional): 0, or -1 with msg set.
int srv_get_int(json_t *body, const char *key, long lo, long hi, long def, long *out, char *msg,
                size_t cap);
int srv_get_text(json_t *body, const char *key, int required, const char **out, char *msg,
                 size_t cap);
int srv_ref_get(srv_req *r, json_t *body, srv_ref *ref, char *msg, size_t cap);
void srv_ref_release(srv_ref *ref);

// Web page assets (assets.c).
typedef struct srv_asset {
    const char *path, *type;
    const unsigned char *data;
    size_t len;
} srv_asset;
int srv_asset_find(const char *url, srv_asset *out); // 1 found, 0 not

#endif
