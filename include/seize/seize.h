/*
 * seize/seize.h — the whole public API in one include, for applications (the CLI, a server,
 * tests, bindings). Library code includes the module headers it needs instead
 * (scripts/check-layering.sh refuses this header in src/).
 *
 *     #include "seize/seize.h"
 *
 *     seize_index *idx = NULL;
 *     if (seize_index_open("index/circo-test", &idx) < 0) {
 *         fprintf(stderr, "error: %s\n", seize_errmsg());
 *         return 1;
 *     }
 *     ...
 *     seize_index_free(idx);
 *
 * Modules, in the order their dependencies point (ARCHITECTURE.md §9): core <- image <- text <-
 * nn (model, clip) <- net (net, hub) <- data <- index <- retrieval <- eval. Each header also
 * works on its own.
 */
#ifndef SEIZE_SEIZE_H
#define SEIZE_SEIZE_H

#include "seize/core.h"

#include "seize/image.h"

#include "seize/text.h"

#include "seize/clip.h"
#include "seize/blip2.h"
#include "seize/model.h"

#include "seize/hub.h"
#include "seize/net.h"

#include "seize/data.h"

#include "seize/index.h"

#include "seize/retrieval.h"

#include "seize/cluster.h"

#include "seize/eval.h"

#include "seize/pipeline.h"

#include "seize/serve.h"

#endif
