/* cli_attack.h - the attack options shared by `eval`, `attack`, `train`
 * (adversarial training) and `sanity`: --eps 8/255, --alpha, --steps, ... */
#ifndef ADVCC_CLI_ATTACK_H
#define ADVCC_CLI_ATTACK_H

#include <getopt.h>
#include <stdio.h>
#include <jansson.h>
#include "infer.h"
#include "pgd.h"

/* Room for a command's options followed by the attack options. */
#define CLI_MAX_OPTIONS 64
/* Copies a command's own options (n of them, no closing entry) into opts,
 * then the attack options (codes >= 256) and the closing zero entry. */
void cli_attack_options(struct option *opts, const struct option *own, int n);
/* The attack a spec names (its eval or training attack), with the model's
 * input normalisation for clip=normalized. */
void cli_attack_defaults(const advcc_model *m, const advcc_attack_cfg *a,
                         pgd_cfg *cfg);
/* Applies option code with its argument to cfg; 0, or 1 for a bad value. */
int cli_attack_option(int code, const char *arg, pgd_cfg *cfg);
/* Adds to rec (cli.h's record) cfg's settings keyed by their options.  0,
 * or -1 when out of memory. */
int cli_attack_record(const pgd_cfg *cfg, json_t *rec);
/* The attack options' help, with a's settings as the defaults shown;
 * training attacks run BatchNorm on batch statistics by default. */
void cli_attack_usage(FILE *fp, const advcc_attack_cfg *a, int training);

/* --grad ste|bpda|both (enum infer_grad, docs/METHODS.md 11), an option of
 * the evaluation commands only (training never uses BPDA).  The model's
 * default: both where it has an activation quantiser or threshold and
 * strong is set (AutoAttack, sanity), else ste. */
int cli_grad_default(const advcc_model *m, int strong);
/* 0 when m can be attacked with grad; else prints why (BPDA needs a layer
 * to replace) and returns -1. */
int cli_grad_check(const advcc_model *m, const char *cmd, int grad);
/* The help text of --grad, with the default shown. */
void cli_grad_usage(FILE *fp, const char *dflt);

#endif
