/* mm_plan.c — the memory planner: what a model plus a context of given n_ctx, KV types and sequences needs at
 * its peak (every sequence full), what is available, and which flags make a plan that does not fit fit. */
#include <stdio.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_attn.h"
#include "base/mm_pool.h"

/* The process without model or context: code and data of the binary and its libraries (OpenBLAS, jansson,
 * libmicrohttpd, Open MPI, the image decoders, ...), the allocator's arenas and the touched parts of the thread
 * stacks. Measured: peak RSS of `minimax run` less the rest of the plan is 8.5-10.5 MiB on x86-64 Debian with
 * Open MPI linked (KV-dominated runs of 2000 tokens, tests/cli_longctx.sh; 1.2 MiB more than without MPI and the
 * image libraries). */
#define MM_PLAN_RUNTIME ((int64_t)21 << 19)

int mm_mem_plan_get(const mm_model *m, const mm_context_params *p, int n_threads, mm_mem_plan *pl) {
    const mm_config *cfg = &m->cfg;
    const mm_context_params d = {0};
    if (!p) p = &d;
    int tk, tv;
    mm_context_kv_types(p, &tk, &tv);
    const int64_t n_ctx = p->n_ctx > 0 ? p->n_ctx : 4096, n_seq = p->n_seq_max > 0 ? p->n_seq_max : 1;
    const int ub = p->n_ubatch > 0 ? p->n_ubatch : 512, T = ub < n_ctx ? ub : (int)n_ctx;
    /* the KV cache comes in whole pages: a full sequence holds n_ctx rounded up to the page */
    const int page = p->kv_page ? p->kv_page : MM_KV_PAGE_DEFAULT;
    if (page < 64 || page > 65536 || (page & (page - 1))) {
        mm_set_error("memory plan: KV page of %d positions is not a power of two in 64..65536", page);
        return -1;
    }
    const int64_t kv_pos = (n_ctx + page - 1) / page * page;
    const int64_t st0 = mm_state_bytes_kv(cfg, 0, tk, tv), st1 = mm_state_bytes_kv(cfg, kv_pos, tk, tv);
    if (st0 < 0 || st1 < 0) {
        mm_set_error("memory plan: KV cache type %d/%d is not one of f32, f16, bf16, q8_0, q4_0", tk, tv);
        return -1;
    }
    if (n_threads <= 0) n_threads = mm_pool_threads();
    memset(pl, 0, sizeof *pl);
    mm_model_stats st;
    mm_model_get_stats(m, &st);
    /* a pipeline stage holds its layers' share: its bound tensors, its lightning states and KV caches */
    pl->weights = (m->pp ? m->bytes_bound : st.bytes_total) - m->bytes_packed_src + m->bytes_packed;
    pl->lightning = st0 * n_seq;
    pl->kv = (st1 - st0) * n_seq;
    if (m->pp && cfg->n_lightning > 0) pl->lightning = pl->lightning * (m->lin_end - m->lin_begin) / cfg->n_lightning;
    if (m->pp && cfg->n_softmax > 0) pl->kv = pl->kv * (m->soft_end - m->soft_begin) / cfg->n_softmax;
    /* per thread: the attention tile scratch, the lightning block scratch, the matmul's quantized activations
     * (≤ 1.125 bytes per element) and output tile; the logits of one row per sequence */
    const int D = cfg->head_dim, G = cfg->n_kv_heads > 0 ? cfg->n_heads / cfg->n_kv_heads : 1;
    const int BQ = G >= MM_ATT_ROWS ? 1 : MM_ATT_ROWS / G;
    const int64_t wide = cfg->intermediate_size > cfg->hidden_size ? cfg->intermediate_size : cfg->hidden_size;
    const int64_t widest = (int64_t)cfg->n_heads * D > wide ? (int64_t)cfg->n_heads * D : wide;
    const int64_t per_thread = 4 * (int64_t)mm_attention_scratch(G, BQ, D) + 4 * (int64_t)mm_lightning_scratch(D, cfg->block_size) +
                               (int64_t)T * widest * 9 / 8 + ((int64_t)1 << 16);
    pl->scratch = (int64_t)mm_context_scratch_bytes(cfg, T) + per_thread * n_threads + 4 * (int64_t)cfg->vocab_size * n_seq;
    pl->runtime = MM_PLAN_RUNTIME;
    pl->total = pl->weights + pl->lightning + pl->kv + pl->scratch + pl->runtime;
    return 0;
}

int64_t mm_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

static double gib(int64_t b) { return (double)b / (1 << 30); }

int mm_mem_plan_check(const mm_model *m, const mm_context_params *p, const mm_mem_plan *pl, int64_t available) {
    if (available < 0 || pl->total <= available) return 0;
    const mm_context_params d = {0};
    if (!p) p = &d;
    const int64_t fixed = pl->total - pl->kv, n_ctx = p->n_ctx > 0 ? p->n_ctx : 4096, n_seq = p->n_seq_max > 0 ? p->n_seq_max : 1;
    char fix[768];
    int n = 0;
    if (fixed < available && pl->kv > 0) {
        const int64_t c = (int64_t)((double)(available - fixed) / (double)pl->kv * (double)n_ctx);
        n += snprintf(fix + n, sizeof fix - (size_t)n, " -c %lld fits;", (long long)c);
        if (n_seq > 1) {
            const int64_t s = (available - fixed) / (pl->kv / n_seq);
            if (s >= 1) n += snprintf(fix + n, sizeof fix - (size_t)n, " -np %lld fits;", (long long)s);
        }
    }
    static const int qt[] = {MM_KV_Q8_0, MM_KV_Q4_0};
    for (int i = 0; i < 2; i++) {
        mm_context_params q = *p;
        q.type_k = q.type_v = qt[i];
        mm_mem_plan pq;
        if (mm_mem_plan_get(m, &q, 0, &pq) == 0 && pq.total <= available) {
            n += snprintf(fix + n, sizeof fix - (size_t)n, " -ctk %s -ctv %s fits (%.2f GiB);", mm_kv_type_name(qt[i]),
                          mm_kv_type_name(qt[i]), gib(pq.total));
            break;
        }
    }
    if (!n) snprintf(fix, sizeof fix, " not even the weights and scratch (%.2f GiB) fit: use a smaller quantized model", gib(fixed));
    mm_set_error("a context of %lld tokens x %lld sequences needs %.2f GiB (weights %.2f + KV %.2f + lightning %.2f + scratch %.2f + "
                 "runtime %.2f) but %.2f GiB are available:%s",
                 (long long)n_ctx, (long long)n_seq, gib(pl->total), gib(pl->weights), gib(pl->kv), gib(pl->lightning), gib(pl->scratch),
                 gib(pl->runtime), gib(available), fix);
    return -1;
}
