// libnftables for Node: runs nft JSON batches (what `nft -j -f` reads) inside a network
// namespace, off the main thread, through one long-lived nft context per namespace.
//
// Why not the nft CLI: each CLI run costs a process start, an nsenter exec, jansson reading the
// batch file one getc() at a time, and, at exit, the close of its netlink socket, which makes the
// kernel flush nf_tables' deferred-destroy work (nft_rcv_nl_event → __flush_work → an RCU grace
// period: 4–20 ms here after any element delete). A context kept open pays none of these per
// change. The transaction semantics are nft's own: the CLI is a thin wrapper of libnftables.
//
//   open(netnsPath | null) → handle   the context's netlink socket is created inside the
//                                     namespace (setns on the calling thread, then back), so it
//                                     stays bound there whatever thread later uses it.
//   run(handle, json) → Promise<{ rc, out, err }>   on the addon's nft thread; one at a time per
//                                     handle (the caller serialises; a second concurrent call
//                                     is refused, never interleaved).
//   close(handle) → Promise<void>     frees the context off the main thread (the socket close
//                                     waits for the kernel, see above). The socket pins the
//                                     namespace until then; a forgotten handle is freed by GC.
// N-API only, so the built object does not depend on the Node ABI version.
#define _GNU_SOURCE
#include <node_api.h>
#include <nftables/libnftables.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  struct nft_ctx *ctx;
  int busy;
} handle_t;

typedef struct job {
  struct job *next;
  int done;
  napi_async_work work;
  napi_deferred deferred;
  handle_t *h;
  int is_close;             // close(): free `closing` (may be NULL: closed twice)
  struct nft_ctx *closing;
  char *json;
  int rc;
  char *out;
  char *err;
} job_t;


static void free_ctx(struct nft_ctx *ctx) { if (ctx) nft_ctx_free(ctx); }

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  handle_t *h = data;
  // busy: a run still owns the context; its completion frees nothing, so leak rather than race.
  if (!h->busy) { free_ctx(h->ctx); free(h); }
}

static napi_value throw_errno(napi_env env, const char *what, const char *path) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static struct nft_ctx *new_ctx(void) {
  struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return NULL;
  // JSON output also selects the JSON parser for the input (libnftables 1.0.x). Numeric: listings
  // show ICMP types etc. as numbers, as the applier's element keys expect (`nft -j -n`).
  nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_NUMERIC_ALL);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  return ctx;
}

static napi_value open_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  if (argc == 1) napi_typeof(env, argv[0], &t);
  char path[4096] = "";
  if (t == napi_string) {
    size_t len;
    if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1) {
      napi_throw_type_error(env, NULL, "open(netnsPath): path too long or empty");
      return NULL;
    }
  } else if (t != napi_null && t != napi_undefined) {
    napi_throw_type_error(env, NULL, "open(netnsPath: string | null)");
    return NULL;
  }
  struct nft_ctx *ctx;
  if (path[0]) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return throw_errno(env, "open", "/proc/thread-self/ns/net");
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) { close(self); return throw_errno(env, "open", path); }
    if (setns(target, CLONE_NEWNET) != 0) { close(target); close(self); return throw_errno(env, "setns", path); }
    close(target);
    ctx = new_ctx();
    // Node's main thread left in a tenant's namespace would open every later socket there.
    if (setns(self, CLONE_NEWNET) != 0) abort();
    close(self);
  } else {
    ctx = new_ctx();
  }
  if (!ctx) { napi_throw_error(env, NULL, "nft_ctx_new failed"); return NULL; }
  handle_t *h = calloc(1, sizeof *h);
  if (!h) { free_ctx(ctx); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  h->ctx = ctx;
  napi_create_object(env, &result);
  napi_wrap(env, result, h, finalize_handle, NULL, NULL);
  return result;
}

static void do_job(job_t *j) {
  if (j->is_close) { free_ctx(j->closing); return; }
  j->rc = nft_run_cmd_from_buffer(j->h->ctx, j->json);
  const char *out = nft_ctx_get_output_buffer(j->h->ctx);
  const char *err = nft_ctx_get_error_buffer(j->h->ctx);
  j->out = strdup(out ? out : "");
  j->err = strdup(err ? err : "");
}

// All nft work runs on ONE thread. Why: glibc gives each thread its own malloc arena, and a
// 10k-rule batch churns ~100 MB through it; on the libuv pool (4 threads) the first four big
// applies each paid for a cold arena (page faults: ~140 ms instead of ~112). The pool thread
// that executes the async work hands the job over and waits for it.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t has_job = PTHREAD_COND_INITIALIZER, job_done = PTHREAD_COND_INITIALIZER;
static job_t *head, *tail;
static int started;

static void *nft_thread(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (!head) pthread_cond_wait(&has_job, &mu);
    job_t *j = head;
    head = j->next;
    if (!head) tail = NULL;
    pthread_mutex_unlock(&mu);
    do_job(j);
    pthread_mutex_lock(&mu);
    j->done = 1;
    pthread_cond_broadcast(&job_done);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static void execute_run(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  pthread_mutex_lock(&mu);
  if (!started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&t, &attr, nft_thread, NULL) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!started) {  // no thread: run here rather than fail
    pthread_mutex_unlock(&mu);
    do_job(j);
    return;
  }
  j->next = NULL;
  if (tail) tail->next = j; else head = j;
  tail = j;
  pthread_cond_signal(&has_job);
  while (!j->done) pthread_cond_wait(&job_done, &mu);
  pthread_mutex_unlock(&mu);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result, v;
  if (j->is_close) {
    napi_get_undefined(env, &result);
  } else {
    j->h->busy = 0;
    napi_create_object(env, &result);
    napi_create_int32(env, status == napi_ok ? j->rc : -1, &v);
    napi_set_named_property(env, result, "rc", v);
    napi_create_string_utf8(env, j->out ? j->out : "", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, result, "out", v);
    napi_create_string_utf8(env, j->err ? j->err : "cancelled", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, result, "err", v);
  }
  napi_resolve_deferred(env, j->deferred, result);
  napi_delete_async_work(env, j->work);
  free(j->json); free(j->out); free(j->err); free(j);
}

static napi_value queue(napi_env env, job_t *j) {
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "flotilla-nft", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute_run, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static handle_t *get_handle(napi_env env, napi_value v) {
  handle_t *h = NULL;
  if (napi_unwrap(env, v, (void **)&h) != napi_ok || !h) return NULL;
  return h;
}

static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  handle_t *h = argc == 2 ? get_handle(env, argv[0]) : NULL;
  napi_valuetype t = napi_undefined;
  if (argc == 2) napi_typeof(env, argv[1], &t);
  if (!h || t != napi_string) { napi_throw_type_error(env, NULL, "run(handle, json: string)"); return NULL; }
  if (!h->ctx) { napi_throw_error(env, NULL, "nft handle is closed"); return NULL; }
  if (h->busy) { napi_throw_error(env, NULL, "nft handle is busy (calls must be serialised)"); return NULL; }
  job_t *j = calloc(1, sizeof *j);
  if (!j || napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok || !(j->json = malloc(len + 1))) {
    free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[1], j->json, len + 1, &len);
  j->h = h;
  h->busy = 1;
  return queue(env, j);
}

static napi_value close_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  handle_t *h = argc == 1 ? get_handle(env, argv[0]) : NULL;
  if (!h) { napi_throw_type_error(env, NULL, "close(handle)"); return NULL; }
  if (h->busy) { napi_throw_error(env, NULL, "nft handle is busy (calls must be serialised)"); return NULL; }
  job_t *j = calloc(1, sizeof *j);
  if (!j) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  j->is_close = 1;
  j->closing = h->ctx;
  h->ctx = NULL;
  return queue(env, j);
}

NAPI_MODULE_INIT() {
  // glibc fastbins off (the process-wide M_MXFAST tunable): a 10k-rule batch makes nft and
  // jansson free hundreds of thousands of small objects and then ask for large buffers, and with
  // fastbins each such request first consolidates them (malloc_consolidate was ~10% of a
  // profile). Measured in pairs, alternating: ~10–15% less CPU per large apply. Small requests
  // still go through the per-thread tcache. This only affects processes that load this binding
  // (appliances, tests, benchmarks).
  mallopt(M_MXFAST, 0);
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_handle, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "run", NAPI_AUTO_LENGTH, run, NULL, &fn);
  napi_set_named_property(env, exports, "run", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, close_handle, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  return exports;
}
