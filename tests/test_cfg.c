/* Classifier-free guidance (issue 6): condition dropout with a learned null
 * condition at training, the guidance scale w at sampling. On a 2-D Gaussian
 * toy with a closed-form posterior: w = 0 reproduces the prior's moments,
 * w = 1 the posterior's, w = 2 is sharper than the posterior; NFE doubles
 * when both branches run; refusals; the null vector's gradient against
 * finite differences; save/load and checkpoint/resume bit-identical. */
#include "helpers.h"
#include "approx/model.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The toy: theta ~ N(M0, S0^2) per coordinate, x = theta + N(0, SN^2). The
 * posterior is N(V (M0/S0^2 + x/SN^2), V) with V = 1/(1/S0^2 + 1/SN^2). */
static const double M0[2] = {1.0, -0.5}, S0[2] = {1.0, 0.6}, SN = 0.5;

static void post_moments(const float *x, size_t d, double *mean, double *sd) {
    double v = 1.0 / (1.0 / (S0[d] * S0[d]) + 1.0 / (SN * SN));
    *mean = v * (M0[d] / (S0[d] * S0[d]) + x[d] / (SN * SN));
    *sd = sqrt(v);
}

static dsbi_dataset *toy_data(size_t n, uint64_t seed) {
    float *th = malloc(n * 2 * sizeof(float)), *x = malloc(n * 2 * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 9);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < 2; d++) {
            th[2 * i + d] = (float)(M0[d] + S0[d] * dsbi_rng_normal(&r));
            x[2 * i + d] = (float)(th[2 * i + d] + SN * dsbi_rng_normal(&r));
        }
    dsbi_dataset *ds = dsbi_dataset_from_arrays(th, x, n, 2, 2, NULL);
    cr_assert_not_null(ds, "%s", dsbi_last_error());
    free(th);
    free(x);
    return ds;
}

static dsbi_model_config small_config(float dropout) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 64;
    mc.depth = 3;
    mc.seed = 2;
    mc.cfg_dropout = dropout;
    return mc;
}

static dsbi_train_config small_training(size_t epochs) {
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = epochs;
    tc.batch_size = 128;
    tc.seed = 5;
    tc.patience = 0;
    return tc;
}

static dsbi_model *train_toy(float dropout, size_t n, size_t epochs) {
    dsbi_dataset *ds = toy_data(n, 1);
    dsbi_model_config mc = small_config(dropout);
    dsbi_model *m = dsbi_model_create(&mc, 2, 2);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    dsbi_train_config tc = small_training(epochs);
    cr_assert_eq(dsbi_model_fit(m, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_dataset_free(ds);
    return m;
}

/* Measured (width 64, depth 3, 9,000 training rows, 100 epochs, 4,000
 * DDIM draws of 50 steps): w = 0 mean errors 0.009 / 0.050 prior sd, sd
 * ratios 0.940 / 0.946; w = 1 over 3 observations x 2 dims mean errors
 * 0.007-0.091 posterior sd, sd ratios 0.865-1.014. The same model trained
 * without dropout has sd ratios 0.86-0.94: the ~10 % under-dispersion is
 * this small model's, not the guidance's. Monte Carlo error with 4,000
 * draws: 0.016 sd for a mean, 1.1 % for an sd; the bounds (0.2 sd, 15 %)
 * are the model-error allowance, about twice the worst measured. */
Test(cfg, prior_and_posterior_moments, .timeout = 120) {
    dsbi_model *m = train_toy(0.2f, 10000, 100);
    const size_t n = 4000;
    float *a = malloc(n * 2 * sizeof(float)), *b = malloc(n * 2 * sizeof(float));
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 50;
    sc.seed = 3;
    const float obs[3][2] = {{1.2f, -0.9f}, {0.0f, 0.3f}, {2.5f, -1.4f}};
    /* w = 0: the prior, whatever the observation, and the same draws as
       dsbi_model_prior_sample */
    dsbi_sample_stats st0, st1, st2;
    sc.guidance_scale = 0.0f;
    cr_assert_eq(dsbi_model_sample(m, obs[0], n, &sc, a, &st0), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_prior_sample(m, n, &sc, b, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(memcmp(a, b, n * 2 * sizeof(float)), 0, "w = 0 and prior_sample differ");
    cr_assert_eq(dsbi_model_sample(m, obs[2], n, &sc, b, NULL), DSBI_STATUS_OK);
    cr_assert_eq(memcmp(a, b, n * 2 * sizeof(float)), 0, "w = 0 depends on the observation");
    for (size_t d = 0; d < 2; d++) {
        double mean, sd;
        col_moments(a, n, 2, d, &mean, &sd);
        cr_log_info("w=0 dim %zu: mean %.4f (prior %.4f), sd %.4f (prior %.4f)", d, mean, M0[d], sd, S0[d]);
        cr_expect(fabs(mean - M0[d]) <= 0.2 * S0[d], "w=0 dim %zu: mean %.4f, prior %.4f", d, mean, M0[d]);
        cr_expect(fabs(sd / S0[d] - 1.0) <= 0.15, "w=0 dim %zu: sd %.4f, prior %.4f", d, sd, S0[d]);
    }
    for (int o = 0; o < 3; o++) {
        sc.guidance_scale = 1.0f;
        cr_assert_eq(dsbi_model_sample(m, obs[o], n, &sc, a, &st1), DSBI_STATUS_OK, "%s", dsbi_last_error());
        /* w = 1 is the plain path: the default config gives the same bits */
        dsbi_sample_config plain = dsbi_sample_config_default();
        plain.steps = 50;
        plain.seed = 3;
        cr_assert_eq(dsbi_model_sample(m, obs[o], n, &plain, b, NULL), DSBI_STATUS_OK);
        cr_assert_eq(memcmp(a, b, n * 2 * sizeof(float)), 0, "w = 1 differs from plain sampling");
        double sd1[2];
        for (size_t d = 0; d < 2; d++) {
            double mean, sd, pm, ps;
            col_moments(a, n, 2, d, &mean, &sd);
            post_moments(obs[o], d, &pm, &ps);
            sd1[d] = sd;
            cr_log_info("obs %d w=1 dim %zu: mean %.4f (post %.4f), sd %.4f (post %.4f)", o, d, mean, pm, sd, ps);
            cr_expect(fabs(mean - pm) <= 0.2 * ps, "obs %d dim %zu: mean %.4f, posterior %.4f", o, d, mean, pm);
            cr_expect(fabs(sd / ps - 1.0) <= 0.15, "obs %d dim %zu: sd %.4f, posterior %.4f", o, d, sd, ps);
        }
        /* w = 2 weights the likelihood twice: narrower than the posterior.
           (Guided diffusion does not sample p(theta) p(x|theta)^2 exactly, so
           only the direction is asserted; measured sd ratios to w = 1: 0.37-0.60.) */
        sc.guidance_scale = 2.0f;
        cr_assert_eq(dsbi_model_sample(m, obs[o], n, &sc, a, &st2), DSBI_STATUS_OK, "%s", dsbi_last_error());
        for (size_t d = 0; d < 2; d++) {
            double mean, sd;
            col_moments(a, n, 2, d, &mean, &sd);
            cr_log_info("obs %d w=2 dim %zu: mean %.4f, sd %.4f", o, d, mean, sd);
            cr_expect(sd < 0.85 * sd1[d], "obs %d dim %zu: w=2 sd %.4f not below w=1 sd %.4f", o, d, sd, sd1[d]);
        }
    }
    /* NFE: one evaluation per DDIM step for w = 0 and 1, two for w = 2 */
    cr_expect_eq(st0.nfe, 50);
    cr_expect_eq(st1.nfe, 50);
    cr_expect_eq(st2.nfe, 100, "guided NFE %zu, expected 100", st2.nfe);
    free(a);
    free(b);
    dsbi_model_free(m);
}

/* NFE accounting and the budget, on an untrained model (no accuracy involved). */
Test(cfg, nfe_doubles_and_counts_against_the_budget) {
    dsbi_model_config mc = small_config(0.2f);
    dsbi_model *m = dsbi_model_create(&mc, 2, 2);
    float x[2] = {0.1f, 0.2f}, th[2 * 20];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 10;
    sc.sampler = DSBI_SAMPLER_HEUN;
    dsbi_sample_stats st;
    cr_assert_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    size_t plain = st.nfe;
    sc.guidance_scale = 1.5f;
    cr_assert_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_expect_eq(st.nfe, 2 * plain, "guided heun: %zu evaluations, plain %zu", st.nfe, plain);
    /* an adaptive sampler reports what it used, doubled */
    sc.sampler = DSBI_SAMPLER_RK45;
    sc.guidance_scale = 1.0f;
    cr_assert_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    size_t rk = st.nfe;
    sc.guidance_scale = 3.0f;
    cr_assert_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_expect_eq(st.nfe % 2, 0);
    cr_expect_gt(st.nfe, rk);
    /* the budget counts both branches */
    sc.sampler = DSBI_SAMPLER_DDIM;
    sc.max_nfe = 15; /* 10 steps: enough plain, not guided */
    sc.guidance_scale = 2.0f;
    cr_expect_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "20 network evaluations") != NULL, "%s", dsbi_last_error());
    sc.guidance_scale = 1.0f;
    cr_expect_eq(dsbi_model_sample(m, x, 20, &sc, th, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_model_free(m);
}

Test(cfg, refusals) {
    dsbi_model_config mc = small_config(0.0f);
    dsbi_model *m = dsbi_model_create(&mc, 2, 2);
    float x[2] = {0.1f, 0.2f}, th[2 * 8];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 5;
    sc.guidance_scale = 0.5f;
    cr_expect_eq(dsbi_model_sample(m, x, 8, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "--cfg-dropout") != NULL, "%s", dsbi_last_error());
    cr_expect_eq(dsbi_model_prior_sample(m, 8, NULL, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "condition dropout") != NULL, "%s", dsbi_last_error());
    cr_expect_eq(dsbi_model_has_null_condition(m), 0);
    dsbi_model_free(m);
    /* dropout probability out of range */
    mc.cfg_dropout = 1.0f;
    cr_expect_null(dsbi_model_create(&mc, 2, 2));
    cr_expect(strstr(dsbi_last_error(), "cfg_dropout") != NULL, "%s", dsbi_last_error());
    mc.cfg_dropout = -0.1f;
    cr_expect_null(dsbi_model_create(&mc, 2, 2));
    /* guidance scale out of range */
    mc.cfg_dropout = 0.2f;
    m = dsbi_model_create(&mc, 2, 2);
    sc.guidance_scale = -1.0f;
    cr_expect_eq(dsbi_model_sample(m, x, 8, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    sc.guidance_scale = NAN;
    cr_expect_eq(dsbi_model_sample(m, x, 8, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    dsbi_model_free(m);
    /* a consistency model: w = 0 (prior) and 1 work, other w are refused */
    mc.schedule = DSBI_SCHEDULE_CONSISTENCY;
    m = dsbi_model_create(&mc, 2, 2);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    sc.steps = 2;
    sc.guidance_scale = 2.0f;
    cr_expect_eq(dsbi_model_sample(m, x, 8, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "consistency") != NULL, "%s", dsbi_last_error());
    sc.guidance_scale = 0.0f;
    cr_expect_eq(dsbi_model_sample(m, x, 8, &sc, th, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_model_free(m);
}

/* Backward gradient of the null vector against central differences of the
 * loss; rows not dropped give it no gradient, dropped rows do not see x. */
Test(cfg, null_vector_gradient) {
    const size_t B = 16, D = 2, K = 3;
    dsbi_model_config mc = small_config(0.3f);
    mc.width = 16;
    mc.depth = 2;
    dsbi_model *m = dsbi_model_create(&mc, D, K);
    cr_assert_not_null(m);
    size_t P = dsbi_model_num_params(m), off = P - K;
    float th[16 * 2], x[16 * 3], eps[16 * 2], *g = calloc(P, sizeof(float));
    double u[16];
    fill_normal(th, B * D, 1, 1.0f);
    fill_normal(x, B * K, 2, 1.0f);
    fill_normal(eps, B * D, 3, 1.0f);
    for (size_t i = 0; i < B; i++) u[i] = (i + 0.5) / (double)B;
    unsigned char drop[16];
    for (size_t i = 0; i < B; i++) drop[i] = i % 3 == 0;
    /* the output layer starts at zero (no gradient reaches the inputs):
       perturb every weight, and move the null vector near the data */
    float *pn = malloc(P * sizeof(float));
    fill_normal(pn, P, 4, 0.3f);
    for (size_t i = 0; i < P; i++) m->params[i] += pn[i];
    free(pn);
    for (size_t k = 0; k < K; k++) m->params[off + k] = 0.3f * (float)k - 0.2f;
    dsbi_model_loss_eval_drop(m, m->params, g, th, x, eps, u, drop, B);
    double gmax = 0.0;
    for (size_t k = 0; k < K; k++) {
        const float h = 1e-2f, v = m->params[off + k];
        m->params[off + k] = v + h;
        double lp = dsbi_model_loss_eval_drop(m, m->params, NULL, th, x, eps, u, drop, B);
        m->params[off + k] = v - h;
        double lm = dsbi_model_loss_eval_drop(m, m->params, NULL, th, x, eps, u, drop, B);
        m->params[off + k] = v;
        double fd = (lp - lm) / (2.0 * h);
        cr_log_info("null %zu: backward %.6g, central difference %.6g", k, (double)g[off + k], fd);
        cr_expect(fabs(g[off + k] - fd) <= 0.02 * fabs(fd) + 1e-4, "null %zu: backward %g, difference %g", k,
                  (double)g[off + k], fd);
        if (fabs(fd) > gmax) gmax = fabs(fd);
    }
    cr_expect_gt(gmax, 1e-3, "the null vector's gradient is degenerate");
    /* no row dropped: no gradient to the null vector, same loss as without a mask */
    memset(g, 0, P * sizeof(float));
    unsigned char none[16] = {0};
    double l0 = dsbi_model_loss_eval_drop(m, m->params, g, th, x, eps, u, none, B);
    for (size_t k = 0; k < K; k++) cr_expect_eq(g[off + k], 0.0f);
    cr_expect_eq(l0, dsbi_model_loss_eval(m, m->params, NULL, th, x, eps, u, B));
    /* every row dropped: x does not matter */
    unsigned char all[16];
    memset(all, 1, sizeof all);
    double la = dsbi_model_loss_eval_drop(m, m->params, NULL, th, x, eps, u, all, B);
    fill_normal(x, B * K, 9, 3.0f);
    cr_expect_eq(la, dsbi_model_loss_eval_drop(m, m->params, NULL, th, x, eps, u, all, B));
    free(g);
    dsbi_model_free(m);
}

/* A summary model drops the summary: dropped rows give the summary net no
 * gradient, and the null vector lives in summary space. */
Test(cfg, summary_model_null_condition) {
    const size_t N = 4, F = 1, B = 8;
    dsbi_model_config mc = small_config(0.5f);
    mc.width = 16;
    mc.depth = 2;
    mc.summary_dim = 3;
    mc.summary_width = 8;
    mc.summary_depth = 1;
    dsbi_model *m = dsbi_model_create_set(&mc, 2, N, F);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    size_t P = dsbi_model_num_params(m), K = dsbi_model_dim_x(m);
    cr_assert_eq(P, m->dm.net.n_params + m->sn.net.n_params + mc.summary_dim);
    float th[8 * 2], x[8 * 5], eps[8 * 2], *g = calloc(P, sizeof(float));
    double u[8];
    fill_normal(th, B * 2, 1, 1.0f);
    fill_normal(x, B * K, 2, 1.0f);
    for (size_t i = 0; i < B; i++) x[i * K] = (float)(1 + i % N), u[i] = (i + 0.5) / (double)B;
    fill_normal(eps, B * 2, 3, 1.0f);
    float *pn = malloc(P * sizeof(float)); /* the output layer starts at zero */
    fill_normal(pn, P, 4, 0.3f);
    for (size_t i = 0; i < P; i++) m->params[i] += pn[i];
    free(pn);
    unsigned char all[8];
    memset(all, 1, sizeof all);
    dsbi_model_loss_eval_drop(m, m->params, g, th, x, eps, u, all, B);
    double gs = 0.0, gn = 0.0;
    for (size_t i = m->dm.net.n_params; i < P - mc.summary_dim; i++) gs += fabs(g[i]);
    for (size_t i = P - mc.summary_dim; i < P; i++) gn += fabs(g[i]);
    cr_expect_eq(gs, 0.0, "summary net got gradient %g from dropped rows", gs);
    cr_expect_gt(gn, 0.0);
    /* prior draws work without an observation */
    float d[2 * 10];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 5;
    cr_expect_eq(dsbi_model_prior_sample(m, 10, &sc, d, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    free(g);
    dsbi_model_free(m);
}

static int stop_after_2(void *user, size_t epoch, size_t epochs, double tl, double vl, double s) {
    (void)user, (void)epochs, (void)tl, (void)vl, (void)s;
    return epoch >= 2;
}

/* Save/load keeps cfg_dropout and the null vector (and old files load with
 * 0); a run stopped and resumed from its checkpoint ends bit-identical to an
 * uninterrupted one (the dropout flags come from the checkpointed stream). */
Test(cfg, save_load_and_resume) {
    char dir[] = "/tmp/dsbi_cfg_XXXXXX", ck[64], path[64], path0[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ck, sizeof ck, "%s/ck.dsbi", dir);
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    snprintf(path0, sizeof path0, "%s/m0.dsbi", dir);
    dsbi_dataset *ds = toy_data(1000, 4);
    dsbi_model_config mc = small_config(0.25f);
    mc.width = 32;
    dsbi_train_config tc = small_training(4);
    dsbi_model *full = dsbi_model_create(&mc, 2, 2);
    cr_assert_eq(dsbi_model_fit(full, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    size_t P = dsbi_model_num_params(full);
    /* the null vector was trained */
    cr_expect(full->params[P - 2] != 6.0f && full->params[P - 1] != -6.0f, "null vector unchanged");
    dsbi_model *part = dsbi_model_create(&mc, 2, 2);
    tc.checkpoint = ck;
    tc.checkpoint_every = 1;
    tc.progress = stop_after_2;
    cr_assert_eq(dsbi_model_fit(part, ds, &tc), DSBI_STATUS_ERR_INTERRUPTED);
    dsbi_model_free(part);
    dsbi_model *res = dsbi_model_create(&mc, 2, 2);
    tc.progress = NULL;
    tc.resume = 1;
    cr_assert_eq(dsbi_model_fit(res, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(memcmp(full->params, res->params, P * sizeof(float)), 0,
                 "resumed weights differ from the uninterrupted run");
    /* a checkpoint of another dropout probability is refused */
    dsbi_model_config mc2 = mc;
    mc2.cfg_dropout = 0.1f;
    dsbi_model *other = dsbi_model_create(&mc2, 2, 2);
    cr_expect_eq(dsbi_model_fit(other, ds, &tc), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "different model configuration") != NULL, "%s", dsbi_last_error());
    dsbi_model_free(other);
    /* save/load */
    cr_assert_eq(dsbi_model_save(full, path), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_model *ld = dsbi_model_load(path);
    cr_assert_not_null(ld, "%s", dsbi_last_error());
    cr_expect_eq(dsbi_model_get_config(ld).cfg_dropout, 0.25f);
    cr_expect_eq(memcmp(dsbi_model_null_condition(ld, ld->params), dsbi_model_null_condition(full, full->params),
                        2 * sizeof(float)), 0);
    float x[2] = {0.5f, -0.2f}, a[2 * 100], b[2 * 100];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 10;
    sc.guidance_scale = 2.0f;
    cr_assert_eq(dsbi_model_sample(full, x, 100, &sc, a, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_sample(ld, x, 100, &sc, b, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "guided draws differ after save/load");
    /* a model without dropout writes no cfg_dropout field and loads with 0 */
    dsbi_model_config m0c = small_config(0.0f);
    dsbi_model *m0 = dsbi_model_create(&m0c, 2, 2);
    cr_assert_eq(dsbi_model_save(m0, path0), DSBI_STATUS_OK);
    FILE *f = fopen(path0, "rb");
    char head[4096] = {0};
    cr_assert_gt(fread(head, 1, sizeof head - 1, f), 0);
    fclose(f);
    cr_expect_null(strstr(head, "cfg_dropout"), "a model without dropout wrote cfg_dropout");
    dsbi_model *l0 = dsbi_model_load(path0);
    cr_assert_not_null(l0, "%s", dsbi_last_error());
    cr_expect_eq(dsbi_model_get_config(l0).cfg_dropout, 0.0f);
    cr_expect_eq(dsbi_model_num_params(l0), dsbi_model_num_params(m0));
    dsbi_model_free(l0);
    dsbi_model_free(m0);
    dsbi_model_free(ld);
    dsbi_model_free(full);
    dsbi_model_free(res);
    dsbi_dataset_free(ds);
    unlink(ck);
    unlink(path);
    unlink(path0);
    rmdir(dir);
}
