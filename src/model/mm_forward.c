/* mm_forward.c — mm_decode / mm_decode_ex: validates a batch, splits it into chunks of at most n_ubatch tokens and
 * runs the layer stack (spec §3–§4) over each chunk, all sequences of a chunk together; the requested rows' final
 * hidden states and/or logits come out. A token may come with its input embedding (batch.embd: image features at
 * the image positions of a VL prompt), which then replaces the lookup: the image token is never embedded, as in the
 * original code. */
#include <stdlib.h>
#include "model/mm_pipeline.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"

/* Checks every token, sequence id and length before any state changes, and reserves the memory the
 * batch will need, so a failing call leaves every sequence as it was. */
static int validate(mm_context *c, const mm_batch *b) {
    const mm_config *cfg = &c->model->cfg;
    if (!b || b->n_tokens <= 0 || !b->token || !b->seq) {
        mm_set_error("decode: empty batch");
        return -1;
    }
    int *seen = mm_xcalloc((size_t)c->n_seq, sizeof(int));
    int rc = -1;
    for (int i = 0; i < b->n_tokens; i++) {
        const int32_t tok = b->token[i], s = b->seq[i];
        const int has_embd = b->embd && b->embd[i];
        if (!has_embd && cfg->vision && tok == cfg->image_token_index) {
            mm_set_error("decode: batch position %d holds the image token %d but no image features (embd): the images of "
                         "the prompt must be encoded and passed with it (mm_image_encode, mm_image_embd)", i, tok);
            goto done;
        }
        if (!has_embd && (tok < 0 || tok >= cfg->vocab_size)) {
            mm_set_error("decode: token id %d at batch position %d is out of range [0, %d)", tok, i, cfg->vocab_size);
            goto done;
        }
        if (s < 0 || s >= c->n_seq) {
            mm_set_error("decode: sequence id %d at batch position %d is out of range [0, %d)", s, i, c->n_seq);
            goto done;
        }
        if (i == 0 || b->seq[i - 1] != s) {
            if (seen[s]) {
                mm_set_error("decode: the tokens of sequence %d are not one contiguous run in the batch", s);
                goto done;
            }
            seen[s] = 1;
        }
    }
    for (int i = 0; i < b->n_tokens;) {
        int j = i;
        while (j < b->n_tokens && b->seq[j] == b->seq[i]) j++;
        mm_seq *s = &c->seqs[b->seq[i]];
        if ((int64_t)s->len + (j - i) > c->n_ctx) {
            mm_set_error("decode: sequence %d would hold %d tokens (%d + %d new), more than the context size %d",
                         b->seq[i], s->len + (j - i), s->len, j - i, c->n_ctx);
            goto done;
        }
        if (mm_seq_reserve(c, s, s->len + (j - i)) < 0 || mm_seq_alloc_lstate(c, s) < 0) goto done;
        i = j;
    }
    rc = 0;
done:
    free(seen);
    return rc;
}

/* One chunk of T ≤ n_ubatch tokens: rows [b0, b0+T) of the batch, through this process's layers (all, or a
 * pipeline stage's: its input then comes from the previous rank, its output goes to the next). Writes the requested
 * logits at out (if not NULL; when this process holds the head) and requested hidden states at hidden (if not NULL;
 * their count to *n_hid_out). Returns how many logits rows were requested (0 when out is NULL). */
static int forward_chunk(mm_context *c, const mm_batch *b, int b0, int T, float *out, float *hidden, int *n_hid_out) {
    const mm_model *m = c->model;
    const mm_config *cfg = &m->cfg;
    const int H = cfg->hidden_size;
    const float eps = (float)cfg->rms_norm_eps;

    mm_run runs[64];
    mm_run *rp = runs;
    int n_runs = 0, cap = 64;
    for (int i = 0; i < T;) {
        int j = i;
        while (j < T && b->seq[b0 + j] == b->seq[b0 + i]) j++;
        if (n_runs == cap) {
            mm_run *g = mm_xmalloc(sizeof(mm_run) * (size_t)cap * 2);
            memcpy(g, rp, sizeof(mm_run) * (size_t)n_runs);
            if (rp != runs) free(rp);
            rp = g;
            cap *= 2;
        }
        rp[n_runs++] = (mm_run){.seq = b->seq[b0 + i], .t0 = i, .n = j - i, .pos0 = c->seqs[b->seq[b0 + i]].len};
        i = j;
    }

    mm_timings *tm = &c->timings;
    double t0 = mm_time(), t1;
    if (mm_model_has_embed(m)) {
        for (int t = 0; t < T; t++) {   /* token embeddings, or the caller's (image features at image positions) */
            const float *e = b->embd ? b->embd[b0 + t] : NULL;
            if (e) memcpy(c->x + (size_t)t * H, e, sizeof(float) * (size_t)H);
            else mm_tensor_row_f32(&m->embed, b->token[b0 + t], c->x + (size_t)t * H);
        }
        /* Each residual step is fused with the norm that follows it (the next half's input norm). */
        mm_rmsnorm(c->h, c->x, m->layers[0].in_norm, T, H, eps);
    } else {
        mm_pp_recv_act(c, T);
    }
    for (int l = m->layer_begin; l < m->layer_end; l++) {
        const mm_layer *ly = &m->layers[l];
        t1 = mm_time();
        tm->other += t1 - t0;
        if (ly->type == MM_LAYER_LIGHTNING) mm_lightning_forward(c, ly, rp, n_runs, T);
        else mm_attention_forward(c, ly, rp, n_runs, T);
        t0 = mm_time();
        *(ly->type == MM_LAYER_LIGHTNING ? &tm->lightning : &tm->softmax) += t0 - t1;
        /* DeepNorm: postnorm takes the normalised input as the residual, pre-norm the raw input */
        mm_residual_rmsnorm(c->x, ly->alpha_attn, cfg->postnorm ? c->h : c->x, ly->beta_attn, c->a, c->h, ly->post_norm, T, H, eps);
        t1 = mm_time();
        tm->other += t1 - t0;
        mm_moe_forward(c, ly, T);
        t0 = mm_time();
        tm->moe += t0 - t1;
        mm_residual_rmsnorm(c->x, (float)cfg->alpha_mlp, cfg->postnorm ? c->h : c->x, (float)cfg->beta_mlp, c->a, c->h,
                            l + 1 == cfg->n_layers ? NULL : l + 1 < m->layer_end ? m->layers[l + 1].in_norm : m->end_norm,
                            T, H, eps);
    }
    for (int r = 0; r < n_runs; r++) c->seqs[rp[r].seq].len += rp[r].n;
    if (m->layer_end < cfg->n_layers) mm_pp_send_act(c, T);

    /* Requested rows only: final norm, then the hidden states and/or the lm_head's logits (f32). */
    int n_sel = 0, n_out = 0, n_hid = 0;
    uint8_t *want = c->sel;
    const int head = mm_model_has_head(m);
    for (int t = 0; t < T; t++) {
        const int i = b0 + t;
        const int wl = out && (b->logits ? b->logits[i] != 0 : (i == b->n_tokens - 1 || b->seq[i + 1] != b->seq[i]));
        const int wh = hidden && b->hidden && b->hidden[i];
        if (!wl && !wh) continue;
        if (!head) {   /* a pipeline stage before the last: the last rank computes the rows (no hidden states here) */
            n_out += wl;
            continue;
        }
        want[n_sel] = (uint8_t)(wl | wh << 1);
        memcpy(c->moe_x + (size_t)n_sel++ * H, c->x + (size_t)t * H, sizeof(float) * (size_t)H);
    }
    t1 = mm_time();
    tm->other += t1 - t0;
    if (n_sel) {
        mm_rmsnorm(c->moe_x, c->moe_x, m->final_norm, n_sel, H, eps);
        for (int k = 0; k < n_sel; k++) {
            if (want[k] & 2) memcpy(hidden + (size_t)n_hid++ * H, c->moe_x + (size_t)k * H, sizeof(float) * (size_t)H);
            if (want[k] & 1) {   /* logits rows move to the front, in order (k >= n_out) */
                if (k != n_out) memcpy(c->moe_x + (size_t)n_out * H, c->moe_x + (size_t)k * H, sizeof(float) * (size_t)H);
                n_out++;
            }
        }
        if (n_out) mm_matmul(out, c->moe_x, &m->lm_head, n_out);
    }
    if (n_hid_out) *n_hid_out = n_hid;
    tm->head += mm_time() - t1;
    tm->tokens += T;
    tm->forwards++;
    if (rp != runs) free(rp);
    return n_out;
}

/* Micro-batches on a pipeline: a stage reads its weights once per micro-batch, so a cut pays only where the tokens on
 * each side keep the products compute-bound (MM_MICRO_MIN or more each: prompt blocks, wide batches); a decode step
 * of a few sequences stays one micro-batch. A sequence boundary within MM_MICRO_SNAP rows of an even cut is taken
 * instead, so short sequences stay whole. */
#define MM_MICRO_MIN 64
#define MM_MICRO_SNAP 16
/* The end of the micro-batch that starts at m0 in the chunk [m0, ce) when `left` micro-batches remain for it. */
static int micro_end(const mm_batch *b, int m0, int ce, int left) {
    const int n = ce - m0;
    if (left > n / MM_MICRO_MIN) left = n / MM_MICRO_MIN;
    if (left <= 1) return ce;
    const int target = m0 + (n + left - 1) / left;
    int best = target;
    for (int i = target - MM_MICRO_SNAP; i <= target + MM_MICRO_SNAP; i++)
        if (i > m0 && i < ce && b->seq[i] != b->seq[i - 1] && (b->seq[best] == b->seq[best - 1] || abs(i - target) < abs(best - target)))
            best = i;
    return best;
}

int mm_decode_ex(mm_context *c, const mm_batch *b, float *logits, float *hidden) {
    const mm_model *m = c->model;
    if (logits && m->cfg.arch != MM_ARCH_CAUSAL_LM) {
        mm_set_error("decode: %s is a %s checkpoint: it has no lm_head, so no logits; ask for hidden states "
                     "(mm_decode_ex with logits NULL) and apply its head (mm_model_head_forward)",
                     m->path, mm_arch_name(m->cfg.arch));
        return -1;
    }
    for (int i = 0; hidden && b && b->hidden && m->pp && m->pp->n > 1 && i < b->n_tokens; i++)
        if (b->hidden[i]) {
            mm_set_error("decode: final hidden states (embeddings, task heads) are not available from a model split over "
                         "%d ranks: run it in one process", m->pp->n);
            return -1;
        }
    if (validate(c, b) < 0) return -1;
    const int driver = mm_pp_driver(c->model);
    if (driver) mm_pp_decode_begin(c, b, logits != NULL);
    int n_out = 0, n_hid = 0;
    const int V = c->model->cfg.vocab_size, H = c->model->cfg.hidden_size;
    /* micro-batches flow through a pipeline's stages one after another: cut the chunks there (every rank computes
     * the same cuts from the same batch) */
    const int parts = mm_pp_stages(c->model) > 1 ? c->n_micro : 1;
    for (int b0 = 0; b0 < b->n_tokens; b0 += c->n_ubatch) {
        const int ce = b->n_tokens - b0 < c->n_ubatch ? b->n_tokens : b0 + c->n_ubatch;
        for (int m0 = b0, left = parts; m0 < ce; left--) {
            const int me = micro_end(b, m0, ce, left), T = me - m0;
            int nh = 0;
            n_out += forward_chunk(c, b, m0, T, logits ? logits + (size_t)n_out * V : NULL,
                                   hidden ? hidden + (size_t)n_hid * H : NULL, &nh);
            n_hid += nh;
            m0 = me;
        }
    }
    if (driver) mm_pp_decode_end(c, logits, n_out);
    return n_out;
}

int mm_decode(mm_context *c, const mm_batch *b, float *logits) { return mm_decode_ex(c, b, logits, NULL); }
