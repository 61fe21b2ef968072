/* The stable continuous-time consistency model (sCM, issue 4): the forward-
 * mode Jacobian-vector product against central differences of the network,
 * a trained sCM against the exact posterior of a 1-D Gaussian location model
 * at 1 and 2 steps (beside discrete consistency training on the same data),
 * and the save/load round trip with its sampling contract. */
#include "helpers.h"
#include "gen/diffusion.h"
#include <unistd.h>

/* ---------------------------------------------------------------- JVP */

/* F(z + h dz, x, tin + h dt) at one h into out (B x D) */
static void net_at(const dsbi_diffusion *dm, const float *p, dsbi_diff_ws *w, const float *z,
                   const float *x, const float *t, const float *dz, const float *dt, double h,
                   size_t B, float *out) {
    const dsbi_net *net = &dm->net;
    float *zi = dsbi_ws_act(&w->ws, net, dm->in_z, B), *ti = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    for (size_t k = 0; k < B * dm->D; k++) zi[k] = (float)(z[k] + h * dz[k]);
    for (size_t i = 0; i < B; i++) ti[i] = (float)(t[i] + h * dt[i]);
    memcpy(dsbi_ws_act(&w->ws, net, dm->in_x, B), x, B * dm->K * sizeof(float));
    dsbi_net_forward(net, p, &w->ws, B);
    memcpy(out, dsbi_ws_act(&w->ws, net, dm->out, B), B * dm->D * sizeof(float));
}

/* Every smooth activation, with and without layer norm, Fourier and fixed
 * sinusoidal time features, all parameters random (the output layer too):
 * the tangent pass equals the fourth-order central difference
 * (8 (F(h) - F(-h)) - (F(2h) - F(-2h))) / 12h along the same input direction.
 * The sinusoidal features turn at up to 30 rad per unit of time input, so the
 * plain two-point difference with h = 1e-2 was still 2-6 % off (truncation:
 * the gap fell with h as it should); with h = 2.5e-3 the measured gap is
 * 1e-5 to 4e-4 of the largest tangent, the float32 rounding of F divided by
 * h. The limit 2e-3 is 5x that, far below what a wrong rule gives (a dropped
 * or mis-signed term moves the result by O(1)). */
Test(scm, jvp_matches_central_differences) {
    const size_t D = 3, K = 2, B = 7;
    const dsbi_activation acts[4] = {DSBI_ACT_SILU, DSBI_ACT_GELU, DSBI_ACT_MISH, DSBI_ACT_TANH};
    for (int v = 0; v < 8; v++) {
        dsbi_model_config cfg = dsbi_model_config_default();
        cfg.schedule = DSBI_SCHEDULE_SCM;
        cfg.width = 24;
        cfg.depth = 3;
        cfg.activation = acts[v % 4];
        cfg.layer_norm = v % 2;
        cfg.time_embedding = v < 4 ? DSBI_TIME_FOURIER : DSBI_TIME_SINUSOIDAL;
        cfg.time_features = 8;
        dsbi_diffusion dm;
        cr_assert_eq(dsbi_diffusion_build(&dm, &cfg, D, K), 0);
        size_t P = dm.net.n_params;
        float *p = malloc(P * sizeof(float));
        fill_normal(p, P, 10 + (uint64_t)v, 0.3f);
        dsbi_diff_ws w;
        cr_assert_eq(dsbi_diff_ws_create(&w, &dm, B, 1), 0);
        float z[21], x[14], t[7], dz[21], dt[7], fp[21], fm[21], fp2[21], fm2[21], f0[21];
        fill_normal(z, B * D, 1, 1.0f);
        fill_normal(x, B * K, 2, 1.0f);
        fill_normal(dz, B * D, 3, 1.0f);
        fill_normal(dt, B, 4, 1.0f);
        for (size_t i = 0; i < B; i++) t[i] = -0.9f + 0.3f * (float)i;
        const double h = 2.5e-3;
        net_at(&dm, p, &w, z, x, t, dz, dt, h, B, fp);
        net_at(&dm, p, &w, z, x, t, dz, dt, -h, B, fm);
        net_at(&dm, p, &w, z, x, t, dz, dt, 2.0 * h, B, fp2);
        net_at(&dm, p, &w, z, x, t, dz, dt, -2.0 * h, B, fm2);
        net_at(&dm, p, &w, z, x, t, dz, dt, 0.0, B, f0); /* the primal pass the tangents follow */
        const dsbi_net *net = &dm.net;
        float *tan = w.ws.dact;
        memcpy(tan + B * net->nodes[dm.in_z].a_off, dz, B * D * sizeof(float));
        memcpy(tan + B * net->nodes[dm.in_t].a_off, dt, B * sizeof(float));
        memset(tan + B * net->nodes[dm.in_x].a_off, 0, B * K * sizeof(float));
        dsbi_scm_jvp(net, p, &w.ws, tan, B, dm.out);
        const float *jv = tan + B * net->nodes[dm.out].a_off;
        double big = 0.0, err = 0.0;
        for (size_t k = 0; k < B * D; k++) {
            double fd = (8.0 * ((double)fp[k] - fm[k]) - ((double)fp2[k] - fm2[k])) / (12.0 * h);
            if (fabs(jv[k]) > big) big = fabs(jv[k]);
            if (fabs(jv[k] - fd) > err) err = fabs(jv[k] - fd);
        }
        cr_log_info("jvp variant %d (%s, layer norm %d, %s): max |JVP| %.3g, max |JVP - FD| %.2g", v,
                    dsbi_activation_name(cfg.activation), cfg.layer_norm,
                    v < 4 ? "Fourier" : "sinusoidal", big, err);
        cr_assert(big > 0.1, "variant %d: degenerate test, max |JVP| %g", v, big);
        cr_expect(err < 2e-3 * big, "variant %d: JVP off by %g (max %g)", v, err, big);
        dsbi_diff_ws_free(&w);
        free(p);
        dsbi_diffusion_free(&dm);
    }
}

/* ---------------------------------------------------------------- trained model */

static dsbi_model *fit(dsbi_schedule s, const dsbi_dataset *ds, size_t epochs) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.schedule = s;
    mc.width = 64;
    dsbi_model *m = dsbi_model_create(&mc, 1, 1);
    cr_assert_not_null(m);
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = epochs;
    cr_assert_eq(dsbi_model_fit(m, ds, &tc), 0, "%s", dsbi_last_error());
    return m;
}


/* Measured over six training seeds (120 epochs of 5000 simulations, width
 * 64, about 2000 optimizer steps): sCM one-step draws worst mean error
 * 0.05-0.11 posterior sds and sd 3-6 % off, two-step 0.05-0.09 sds and
 * 2-5 %; discrete consistency training on the same data and steps gives
 * one-step draws 65-69 % too narrow, two-step 0.04-0.09 sds and 6-9 %. The
 * limits are about twice the worst measured (and over 10x the Monte Carlo
 * error of the mean): 0.25 sd at one step, 0.2 sd at two, 12 % in sd; and
 * at one step the sd must be off by less than half of consistency
 * training's. */
Test(scm, trained_scm_matches_the_posterior, .timeout = 120) {
    dsbi_simulator sim = {"gauss1d", 1, 1, gauss1d_prior, gauss1d_sim, NULL, NULL, NULL, 0};
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 5000, 1, &ds, NULL), 0);
    dsbi_model *scm = fit(DSBI_SCHEDULE_SCM, ds, 120);
    dsbi_model *ct = fit(DSBI_SCHEDULE_CONSISTENCY, ds, 120);
    double sm[2], ss[2], cm[2], cs[2];
    gauss1d_cm_errors(scm, "sCM", sm, ss);
    gauss1d_cm_errors(ct, "discrete CT", cm, cs);
    for (int k = 0; k < 2; k++)
        cr_log_info("%d step%s worst: sCM %.3f sd / %.1f %%, discrete CT %.3f sd / %.1f %%", k + 1,
                    k ? "s" : "", sm[k], 100 * ss[k], cm[k], 100 * cs[k]);
    cr_expect(sm[0] < 0.25, "sCM, 1 step: mean off by %.3f sd", sm[0]);
    cr_expect(sm[1] < 0.2, "sCM, 2 steps: mean off by %.3f sd", sm[1]);
    cr_expect(ss[0] < 0.12 && ss[1] < 0.12, "sCM: sd off by %.1f %% (1 step), %.1f %% (2 steps)",
              100 * ss[0], 100 * ss[1]);
    cr_expect(ss[0] < 0.5 * cs[0], "sCM, 1 step: sd off by %.1f %%, consistency training %.1f %%",
              100 * ss[0], 100 * cs[0]);
    dsbi_model_free(scm);
    dsbi_model_free(ct);
    dsbi_dataset_free(ds);
}

/* ---------------------------------------------------------------- contract */

/* A briefly trained sCM: the family survives save and load (bit-identical
 * draws for 1, 2 and 5 steps), is described as an sCM, defaults to two
 * steps, reports nfe = steps and refuses more than 64 steps and guidance. */
Test(scm, save_load_and_sampling_contract) {
    dsbi_simulator sim = {"gauss1d", 1, 1, gauss1d_prior, gauss1d_sim, NULL, NULL, NULL, 0};
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 1000, 3, &ds, NULL), 0);
    dsbi_model *m = fit(DSBI_SCHEDULE_SCM, ds, 3);
    cr_assert_eq(dsbi_model_default_steps(m), 2);
    char *desc = dsbi_model_describe(m);
    cr_assert(desc && strstr(desc, "sCM") && strstr(desc, "schedule scm"), "%s", desc);
    free(desc);
    char path[] = "/tmp/dsbi_scm_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(dsbi_model_save(m, path), 0, "%s", dsbi_last_error());
    dsbi_model *l = dsbi_model_load(path);
    cr_assert_not_null(l, "%s", dsbi_last_error());
    unlink(path);
    cr_assert_eq(dsbi_model_get_config(l).schedule, DSBI_SCHEDULE_SCM);
    cr_assert_eq(dsbi_model_num_params(l), dsbi_model_num_params(m));
    const size_t steps[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++) {
        float xo = 0.7f, a[300], b[300];
        dsbi_sample_config sc = dsbi_sample_config_default();
        sc.steps = steps[k];
        sc.seed = 11;
        dsbi_sample_stats st;
        cr_assert_eq(dsbi_model_sample(m, &xo, 300, &sc, a, &st), 0, "%s", dsbi_last_error());
        cr_assert_eq(st.nfe, steps[k]);
        cr_assert_eq(dsbi_model_sample(l, &xo, 300, &sc, b, NULL), 0, "%s", dsbi_last_error());
        cr_assert_eq(memcmp(a, b, sizeof a), 0, "%zu steps: draws differ after save/load", steps[k]);
        for (int i = 0; i < 300; i++) cr_assert(isfinite(a[i]));
    }
    float xo = 0.0f, th[1];
    dsbi_sample_config sc = dsbi_sample_config_default(); /* 100 steps */
    cr_assert_eq(dsbi_model_sample(l, &xo, 1, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    sc.steps = 2;
    sc.guidance_scale = 2.0f;
    cr_assert_eq(dsbi_model_sample(l, &xo, 1, &sc, th, NULL), DSBI_STATUS_ERR_INVALID);
    /* the sampling times: t_max = arctan(80 / sd), the paper's 1.1 for two
       steps, decreasing Karras points beyond */
    cr_assert_float_eq(dsbi_scm_step_time(0, 1, 1.0), atan(80.0), 1e-12);
    cr_assert_float_eq(dsbi_scm_step_time(1, 2, 1.0), 1.1, 1e-12);
    for (size_t k = 1; k < 5; k++)
        cr_assert(dsbi_scm_step_time(k, 5, 1.0) < dsbi_scm_step_time(k - 1, 5, 1.0));
    dsbi_model_free(l);
    dsbi_model_free(m);
    dsbi_dataset_free(ds);
}

/* train --model scm, info and sample --steps 1 through the CLI. */
Test(scm, cli_model_scm, .timeout = 60) {
    char dir[] = "/tmp/dsbi_scm_cli_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(cli_run_in(dir, "train --task two_moons --sims 1000 --epochs 2 --width 32 --threads 1 "
                             "--quiet --model scm --out s.dsbi"), 0);
    cr_assert_eq(cli_run_in(dir, "info --model s.dsbi"), 0);
    cr_assert(file_contains(dir, "out", "sCM"), "info does not name the sCM");
    cr_assert_eq(cli_run_in(dir, "sample --model s.dsbi --obs 0.1,-0.2 -n 20 --steps 1 --threads 1 --out d.csv"), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
