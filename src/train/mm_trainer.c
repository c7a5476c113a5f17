/* mm_trainer.c — the training loop of `minimax train`: text → tokens, batches of random windows with key→value
 * retrieval documents mixed in, forward + backward (mm_tgrad), gradient clipping, AdamW with f32 master weights on
 * the warmup-stable-decay schedule, held-out evaluation, checkpoints with the optimizer state, and resume.
 * Every random choice is a function of (seed, step), so a run resumed from a checkpoint continues exactly as an
 * uninterrupted one would. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "train/mm_train.h"
#include "text/mm_needle.h"
#include "text/mm_tokenizer.h"

/* ---------------------------------------------------------------- schedule, optimizer */
double mm_wsd_lr(const mm_wsd *s, int64_t step) {
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    const int64_t decay_steps = (int64_t)(s->decay_frac * (double)s->steps), decay_at = s->steps - decay_steps;
    if (step < decay_at || decay_steps <= 0) return s->lr;
    const double f = (double)(step - decay_at + 1) / (double)decay_steps;
    return s->lr + (s->lr_min - s->lr) * (f > 1 ? 1 : f);
}

void mm_adamw_step(const mm_adamw *o, float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n,
                   double lr, int64_t t) {
    const double c1 = 1.0 - pow(o->beta1, (double)t), c2 = 1.0 - pow(o->beta2, (double)t);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const double upd = (m[i] / c1) / (sqrt(v[i] / c2) + o->eps) + (decay[i] ? o->weight_decay * p[i] : 0.0);
        p[i] = (float)(p[i] - lr * upd);
    }
}

double mm_clip_grad(float *g, size_t n, double max_norm) {
    enum { CH = 1 << 16 };
    const size_t nch = (n + CH - 1) / CH;
    double *part = mm_xcalloc(nch ? nch : 1, sizeof(double));
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nch; c++) {
        double s = 0;
        for (size_t i = c * CH; i < n && i < (c + 1) * CH; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double ss = 0;
    for (size_t c = 0; c < nch; c++) ss += part[c]; /* chunks in order: the norm never depends on the threads */
    free(part);
    const double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        const float k = (float)(max_norm / norm);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= k;
    }
    return norm;
}

double mm_train_flops_per_token(const mm_tdims *d, int seq_len) {
    const double H = d->H, NHD = (double)d->NH * d->D, NKVD = (double)d->NKV * d->D;
    double mm = (double)d->V * H, att = 0; /* multiply-adds per token */
    const double Beff = seq_len < d->B ? seq_len : d->B;
    for (int l = 0; l < d->L; l++) {
        if (d->layer_type[l] == MM_LAYER_LIGHTNING) {
            mm += 5 * NHD * H;
            att += NHD * (Beff + 2.0 * d->D); /* intra-block scores and values (half of B on average, twice), state */
        } else {
            mm += (2 * NHD + 2 * NKVD) * H;
            att += NHD * (double)seq_len; /* causal: S/2 keys on average, q·k and p·v */
        }
        mm += (double)d->E * H + (double)d->K * 3 * H * d->I;
    }
    return 6.0 * (mm + att); /* 2 FLOPs per multiply-add, forward + backward = 3 × forward */
}

void mm_train_defaults(mm_train_params *p) {
    memset(p, 0, sizeof *p);
    mm_tdims_preset(&p->dims, "demo", 4096);
    p->n_seq = 8;
    p->seq_len = 512;
    p->steps = 2000;
    p->lr = 2e-3;
    p->lr_min = 2e-4;
    p->warmup_frac = 0.02;
    p->decay_frac = 0.2;
    p->weight_decay = 0.1;
    p->clip = 1.0;
    p->niah_frac = 0.2;
    p->seed = 1;
    p->eval_every = 100;
    p->eval_windows = 32;
    p->save_every = 200;
}

/* ---------------------------------------------------------------- data */
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rnext(uint64_t *s) { return mix(*s += 0x9e3779b97f4a7c15ull); }

typedef struct {
    const mm_tokenizer *tok;
    const char *text;         /* the haystack source for retrieval documents */
    size_t text_len;
    const int32_t *ids;       /* the tokenized text */
    int64_t n_ids;
    double bytes_per_token;
} corpus;

/* One retrieval document as tokens (at most max_len), from doc seed; answer tokens [*a0, *a1). -1 if none fits. */
static int needle_tokens(const corpus *c, uint64_t seed, int max_len, int32_t **out, int *a0, int *a1) {
    uint64_t s = seed;
    double frac = 0.3 + 0.55 * (double)(rnext(&s) % 1000) / 1000.0;
    for (int attempt = 0; attempt < 8; attempt++, frac *= 0.75) {
        mm_needle_doc d;
        if (mm_needle_make(c->text, c->text_len, (size_t)(frac * max_len * c->bytes_per_token), seed, &d) < 0) return -1;
        int32_t *ids = NULL, *pre = NULL;
        int n = mm_tokenizer_encode(c->tok, d.text, d.len, 0, &ids);
        int np = mm_tokenizer_encode(c->tok, d.text, d.answer_at, 0, &pre);
        /* the value: " 12345" up to the final ".\n" */
        int32_t *val = NULL;
        const size_t vend = d.len - 2;
        int nv = mm_tokenizer_encode(c->tok, d.text, vend, 0, &val);
        mm_needle_free(&d);
        free(pre);
        free(val);
        if (n > 0 && n <= max_len && np > 0 && nv > np) {
            *out = ids;
            *a0 = np, *a1 = nv;
            return n;
        }
        free(ids);
    }
    return -1;
}

/* Fills tokens/targets [n_seq·S] for a step: random windows of the corpus; a niah_frac share of the sequences start
 * with a retrieval document. When ans != NULL (evaluation), every target but the answers' is -1 and ans[b] = 1 for
 * a sequence holding a document. */
static void make_batch(const corpus *c, uint64_t seed, int n_seq, int S, double niah_frac, int32_t *tok, int32_t *tgt,
                       int8_t *ans) {
    uint64_t s = mix(seed);
    for (int b = 0; b < n_seq; b++) {
        int32_t *tb = tok + (size_t)b * S, *yb = tgt + (size_t)b * S;
        int fill = 0;
        if (ans) ans[b] = 0;
        const int want_niah = (double)(rnext(&s) % 1000000) / 1e6 < niah_frac;
        const uint64_t doc_seed = rnext(&s), at_draw = rnext(&s);
        int32_t *doc = NULL;
        int a0 = 0, a1 = 0, nd = want_niah ? needle_tokens(c, doc_seed, S + 1, &doc, &a0, &a1) : -1;
        if (nd > 0) {
            for (int i = 0; i < nd && i < S; i++) tb[i] = doc[i];
            for (int i = 0; i + 1 < nd && i < S; i++) yb[i] = ans ? (i + 1 >= a0 && i + 1 < a1 ? doc[i + 1] : -1) : doc[i + 1];
            fill = nd < S ? nd : S;
            if (ans) ans[b] = 1;
        }
        /* the rest: a corpus window (the target of the document's last token is the window's first token) */
        const int64_t span = c->n_ids - (S + 1);
        const int64_t at = span > 0 ? (int64_t)(at_draw % (uint64_t)span) : 0;
        if (nd > 0 && nd <= S) yb[nd - 1] = ans ? -1 : c->ids[at];
        for (int i = fill, j = 0; i < S; i++, j++) {
            tb[i] = c->ids[at + j];
            yb[i] = ans ? -1 : c->ids[at + j + 1];
        }
        free(doc);
    }
}

/* ---------------------------------------------------------------- checkpoints */
static int write_state(const char *dir, const mm_train_params *p, int64_t step, int64_t tokens, double train_loss,
                       double heldout, double niah) {
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "step", (json_int_t)step,
                          "tokens", (json_int_t)tokens, "seed", (json_int_t)p->seed, "steps", (json_int_t)p->steps,
                          "n_seq", p->n_seq, "seq_len", p->seq_len, "lr", p->lr, "lr_min", p->lr_min, "warmup_frac",
                          p->warmup_frac, "decay_frac", p->decay_frac, "weight_decay", p->weight_decay, "clip", p->clip,
                          "niah_frac", p->niah_frac, "train_loss", train_loss);
    json_object_set_new(o, "heldout_loss", isnan(heldout) ? json_null() : json_real(heldout));
    json_object_set_new(o, "niah_accuracy", isnan(niah) ? json_null() : json_real(niah));
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(o, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc || rename(tmp, path) != 0) {
        mm_set_error("%s: cannot write", path);
        return -1;
    }
    return 0;
}

static int save(const mm_train_params *p, const mm_tlayout *lo, const float *w, const float *m, const float *v,
                int64_t step, int64_t tokens, double tl, double hl, double na) {
    if (mm_tcheckpoint_write(p->out_dir, lo, w, MM_F32, p->tokenizer) < 0) return -1;
    if (mm_toptim_write(p->out_dir, lo, m, v) < 0) return -1;
    return write_state(p->out_dir, p, step, tokens, tl, hl, na);
}

/* ---------------------------------------------------------------- evaluation */
typedef struct {
    double loss, niah;
} evalres;

static evalres evaluate(const mm_tlayout *lo, const float *w, mm_tacts_f32 *a, const corpus *held, const mm_train_params *p,
                        int32_t *tok, int32_t *tgt, float *logits) {
    const int S = p->seq_len, B = p->n_seq, T = B * S, V = lo->d.V;
    evalres r = {NAN, NAN};
    double sum = 0;
    int64_t n = 0;
    int windows = 0;
    for (int64_t at = 0; windows < p->eval_windows && at + S + 1 <= held->n_ids;) { /* fixed windows, in order */
        int nb = 0;
        for (; nb < B && windows < p->eval_windows && at + S + 1 <= held->n_ids; nb++, windows++, at += S)
            for (int i = 0; i < S; i++) tok[nb * S + i] = held->ids[at + i], tgt[nb * S + i] = held->ids[at + i + 1];
        for (int i = nb * S; i < T; i++) tok[i] = 0, tgt[i] = -1;
        mm_tloss l = mm_tmodel_fwd_f32(lo, w, a, tok, tgt, NULL);
        sum += l.loss * l.n_scored;
        n += l.n_scored;
    }
    if (n) r.loss = sum / (double)n;
    /* retrieval: documents built from the held-out text, answers scored token by token (teacher forcing) */
    int8_t ans[256];
    int docs = 0, right = 0;
    for (int round = 0; round < 2 && B <= 256; round++) {
        make_batch(held, 0x5eed0000ull + (uint64_t)round, B, S, 1.0, tok, tgt, ans);
        mm_tmodel_fwd_f32(lo, w, a, tok, tgt, logits);
        for (int b = 0; b < B; b++) {
            if (!ans[b]) continue;
            int ok = 1, any = 0;
            for (int i = 0; i < S; i++) {
                const int y = tgt[b * S + i];
                if (y < 0) continue;
                any = 1;
                const float *lg = logits + ((size_t)b * S + i) * V;
                int best = 0;
                for (int k = 1; k < V; k++)
                    if (lg[k] > lg[best]) best = k;
                ok &= best == y;
            }
            docs += any;
            right += any && ok;
        }
    }
    if (docs) r.niah = (double)right / docs;
    return r;
}

/* ---------------------------------------------------------------- the loop */
static int tokenize_file(const mm_tokenizer *tk, const char *path, corpus *c, char **text) {
    size_t len;
    *text = mm_read_file(path, &len);
    if (!*text) return -1;
    int32_t *ids;
    int n = mm_tokenizer_encode_parallel(tk, *text, len, 0, &ids, 0);
    if (n < 0) {
        mm_error_prefix("%s", path);
        return -1;
    }
    c->tok = tk, c->text = *text, c->text_len = len, c->ids = ids, c->n_ids = n;
    c->bytes_per_token = n ? (double)len / n : 4;
    return 0;
}

static void fmt_time(char *b, size_t n, double s) {
    if (s < 90) snprintf(b, n, "%.0fs", s);
    else if (s < 5400) snprintf(b, n, "%.0fm", s / 60);
    else snprintf(b, n, "%.1fh", s / 3600);
}

int mm_train_run(const mm_train_params *pin, mm_train_result *res) {
    mm_train_params p = *pin;
    int rc = -1;
    mm_tlayout lo = {0};
    mm_tokenizer *tk = NULL;
    char *train_text = NULL, *held_text = NULL;
    corpus tr = {0}, held = {0};
    float *w = NULL, *g = NULL, *m = NULL, *v = NULL, *logits = NULL;
    uint8_t *decay = NULL;
    int32_t *tok = NULL, *tgt = NULL;
    mm_tacts_f32 *a = NULL;
    FILE *log = NULL;
    int64_t step0 = 0, tokens = 0;
    memset(res, 0, sizeof *res);
    res->heldout_loss = res->niah_acc = NAN;

    if (p.resume) { /* the schedule, batch and model come from the checkpoint */
        char path[4096];
        snprintf(path, sizeof path, "%s/trainer_state.json", p.out_dir);
        json_error_t je;
        json_t *st = json_load_file(path, 0, &je);
        if (!st) {
            mm_set_error("resume: %s: %s", path, je.text);
            goto out;
        }
        json_int_t s0 = 0, tk0 = 0, seed = 0, steps = 0;
        int ns = 0, sl = 0;
        if (json_unpack(st, "{s:I, s:I, s:I, s:I, s:i, s:i, s:F, s:F, s:F, s:F, s:F, s:F, s:F}", "step", &s0, "tokens", &tk0,
                        "seed", &seed, "steps", &steps, "n_seq", &ns, "seq_len", &sl, "lr", &p.lr, "lr_min", &p.lr_min,
                        "warmup_frac", &p.warmup_frac, "decay_frac", &p.decay_frac, "weight_decay", &p.weight_decay,
                        "clip", &p.clip, "niah_frac", &p.niah_frac) != 0) {
            mm_set_error("resume: %s lacks a field of the training state", path);
            json_decref(st);
            goto out;
        }
        json_decref(st);
        step0 = s0, tokens = tk0, p.seed = (uint64_t)seed, p.n_seq = ns, p.seq_len = sl;
        /* a schedule given again replaces the saved one (to lengthen it, or to decay now: WSD can start its decay
         * at any step); it cannot end before the step reached */
        if (pin->steps > 0) {
            if (pin->steps < s0) {
                mm_set_error("resume: the checkpoint is at step %lld, beyond --steps %lld", (long long)s0, (long long)pin->steps);
                goto out;
            }
            steps = pin->steps;
        }
        if (pin->decay_frac >= 0) p.decay_frac = pin->decay_frac;
        if (pin->warmup_frac >= 0) p.warmup_frac = pin->warmup_frac;
        p.steps = steps;
        mm_config cfg;
        snprintf(path, sizeof path, "%s/config.json", p.out_dir);
        if (mm_config_load(&cfg, path) < 0 || mm_tdims_from_config(&p.dims, &cfg) < 0) goto out;
        p.dims.aux_coef = pin->dims.aux_coef;
    }
    if (p.n_seq < 1 || p.seq_len < 2 || p.steps < 1) {
        mm_set_error("train: batch %d, sequence length %d and steps %lld must be positive", p.n_seq, p.seq_len,
                     (long long)p.steps);
        goto out;
    }
    if (mm_tlayout_init(&lo, &p.dims) < 0) goto out;
    if (!(tk = mm_tokenizer_load(p.tokenizer))) goto out;
    if (mm_tokenizer_n_ids(tk) > p.dims.V) {
        mm_set_error("train: the tokenizer has ids up to %d, more than the model's vocabulary %d", mm_tokenizer_n_ids(tk) - 1,
                     p.dims.V);
        goto out;
    }
    if (tokenize_file(tk, p.train_file, &tr, &train_text) < 0) goto out;
    if (tr.n_ids < p.seq_len + 2) {
        mm_set_error("train: %s has %lld tokens, fewer than one sequence of %d", p.train_file, (long long)tr.n_ids, p.seq_len);
        goto out;
    }
    if (p.heldout_file && tokenize_file(tk, p.heldout_file, &held, &held_text) < 0) goto out;

    const size_t N = lo.n_params;
    w = malloc(sizeof(float) * N), g = malloc(sizeof(float) * N), m = calloc(N, sizeof(float)), v = calloc(N, sizeof(float));
    decay = malloc(N);
    const int T = p.n_seq * p.seq_len;
    tok = malloc(sizeof(int32_t) * (size_t)T), tgt = malloc(sizeof(int32_t) * (size_t)T);
    logits = malloc(sizeof(float) * (size_t)T * p.dims.V);
    if (!w || !g || !m || !v || !decay || !tok || !tgt || !logits) {
        mm_set_error("train: out of memory for %zu parameters", N);
        goto out;
    }
    mm_tparam *tab;
    const int nt = mm_tparams_table(&lo, &tab);
    for (int i = 0; i < nt; i++) memset(decay + tab[i].off, tab[i].is_norm ? 0 : 1, (size_t)tab[i].n);
    free(tab);
    if (p.resume) {
        if (mm_tcheckpoint_read(p.out_dir, &lo, w) < 0 || mm_toptim_read(p.out_dir, &lo, m, v) < 0) goto out;
    } else {
        mm_tparams_init(&lo, w, p.seed);
    }
    if (!(a = mm_tacts_new_f32(&lo, p.n_seq, p.seq_len))) goto out;
    if (p.log_file && !(log = fopen(p.log_file, "a"))) {
        mm_set_error("%s: cannot open: %s", p.log_file, strerror(errno));
        goto out;
    }

    /* warmup: a share of the steps, or (≥ 1) a number of steps, which a time-budgeted run needs */
    mm_wsd sched = {.lr = p.lr, .lr_min = p.lr_min,
                    .warmup = p.warmup_frac >= 1 ? (int64_t)p.warmup_frac : (int64_t)(p.warmup_frac * p.steps) + 1,
                          .steps = p.steps, .decay_frac = p.decay_frac};
    const mm_adamw opt = {.beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = p.weight_decay};
    const double fpt = mm_train_flops_per_token(&p.dims, p.seq_len);
    const int tty = p.progress && isatty(2);
    fprintf(stderr, "train: %zu parameters, %d layers, %lld training tokens%s; %d × %d tokens per step, steps %lld → %lld\n", N,
            p.dims.L, (long long)tr.n_ids, held.n_ids ? "" : " (no held-out text)", p.n_seq, p.seq_len, (long long)step0,
            (long long)p.steps);
    double t_start = mm_time(), t_eval = 0, loss_ema = NAN, last_print = 0, hl = NAN, na = NAN;
    int64_t step = step0, tok_run = 0;
    int decay_fixed = !(p.time_limit > 0);
    while (step < p.steps) {
        /* With a time limit the decay phase starts when (1 − decay_frac) of the time is spent: the schedule's length
         * becomes the steps done so far / (1 − decay_frac), so the run ends decayed at about the limit. */
        if (!decay_fixed && mm_time() - t_start >= (1 - p.decay_frac) * p.time_limit) {
            const int64_t total = (int64_t)ceil((double)step / (1 - p.decay_frac));
            if (total < p.steps && total > step) p.steps = sched.steps = total;
            decay_fixed = 1;
            fprintf(stderr, "%strain: decay phase from step %lld to %lld\n", tty ? "\n" : "", (long long)step, (long long)p.steps);
        }
        make_batch(&tr, p.seed * 0x100000001b3ull + (uint64_t)step, p.n_seq, p.seq_len, p.niah_frac, tok, tgt, NULL);
        mm_tloss l = mm_tmodel_fwd_f32(&lo, w, a, tok, tgt, NULL);
        memset(g, 0, sizeof(float) * N);
        mm_tmodel_bwd_f32(&lo, w, a, g);
        const double gnorm = mm_clip_grad(g, N, p.clip);
        const double lr = mm_wsd_lr(&sched, step);
        step++;
        mm_adamw_step(&opt, w, g, m, v, decay, N, lr, step);
        tokens += T, tok_run += T;
        if (!isfinite(l.loss) || !isfinite(gnorm)) {
            mm_set_error("train: the loss diverged at step %lld (loss %g, gradient norm %g)", (long long)step, l.loss, gnorm);
            goto out;
        }
        loss_ema = isnan(loss_ema) ? l.loss : 0.95 * loss_ema + 0.05 * l.loss;
        const double el = mm_time() - t_start, tps = tok_run / (el - t_eval), gf = tps * fpt / 1e9; /* training only */
        res->tokens_per_s = tps, res->gflops = gf;
        if (tty && (mm_time() - last_print > 0.5 || step == p.steps)) {
            char eta[32];
            fmt_time(eta, sizeof eta, (double)(p.steps - step) * (el - t_eval) / (double)(step - step0));
            fprintf(stderr, "\rstep %lld/%lld  loss %.4f  aux %.4f  lr %.2e  |g| %.2f  %.0f tok/s  %.1f GFLOP/s", (long long)step,
                    (long long)p.steps, loss_ema, l.aux, lr, gnorm, tps, gf);
            if (p.gemm_ceiling > 0) fprintf(stderr, " = %.0f%% of GEMM", 100 * gf / p.gemm_ceiling);
            fprintf(stderr, "  ETA %s   ", eta);
            last_print = mm_time();
        }
        const int stop = (p.time_limit > 0 && el > p.time_limit * (p.decay_frac > 0 ? 1.1 : 1.0)) || /* the decay may run a little over */
                         (p.run_steps > 0 && step - step0 >= p.run_steps);
        if (held.n_ids && (step % p.eval_every == 0 || step == p.steps || stop)) {
            const double te = mm_time();
            evalres e = evaluate(&lo, w, a, &held, &p, tok, tgt, logits);
            t_eval += mm_time() - te;
            hl = e.loss, na = e.niah;
            if (tty) fprintf(stderr, "\r%150s\r", "");
            fprintf(stderr, "step %lld: train loss %.4f, held-out loss %.4f (perplexity %.2f), retrieval %.0f%%, %.0f tok/s, %.1f GFLOP/s",
                    (long long)step, loss_ema, hl, exp(hl), 100 * na, tps, gf);
            if (p.gemm_ceiling > 0) fprintf(stderr, " (%.0f%% of the %.0f GFLOP/s GEMM ceiling)", 100 * gf / p.gemm_ceiling, p.gemm_ceiling);
            fprintf(stderr, "\n");
            if (log) {
                fprintf(log, "%lld\t%lld\t%.5f\t%.5f\t%.4f\t%.1f\t%.2f\t%.1f\n", (long long)step, (long long)tokens, loss_ema, hl, na,
                        tps, gf, el);
                fflush(log);
            }
        }
        if (p.out_dir && (step % p.save_every == 0 || step == p.steps || stop)) {
            if (save(&p, &lo, w, m, v, step, tokens, loss_ema, hl, na) < 0) goto out;
        }
        if (stop) {
            fprintf(stderr, "train: stopping at step %lld (%s); continue with --resume\n", (long long)step,
                    p.run_steps > 0 && step - step0 >= p.run_steps ? "--run-steps" : "time limit");
            break;
        }
    }
    if (tty) fprintf(stderr, "\n");
    if (p.export_dir && mm_tcheckpoint_write(p.export_dir, &lo, w, MM_BF16, p.tokenizer) < 0) goto out;
    res->step = step;
    res->train_loss = loss_ema;
    res->heldout_loss = hl;
    res->niah_acc = na;
    res->tokens = tokens;
    rc = 0;
out:
    if (log) fclose(log);
    mm_tacts_free_f32(a);
    free(w), free(g), free(m), free(v), free(decay), free(tok), free(tgt), free(logits);
    free((void *)tr.ids), free((void *)held.ids), free(train_text), free(held_text);
    mm_tokenizer_free(tk);
    mm_tlayout_free(&lo);
    return rc;
}
