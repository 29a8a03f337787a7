/* cli_attack.h - the attack options shared by `eval`, `attack`, `train`
 * (adversarial training) and `sanity`: --eps 8/255, --alpha, --steps, ... */
#ifndef ADVCC_CLI_ATTACK_H
#define ADVCC_CLI_ATTACK_H

#include <getopt.h>
#include <stdio.h>
#include "pgd.h"

/* Appends the attack options (codes >= 256) and the closing zero entry;
 * room is the space left in opts. */
void cli_attack_options(struct option *opts, int room);
/* Applies option code with its argument to cfg; 0, or 1 for a bad value. */
int cli_attack_option(int code, const char *arg, pgd_cfg *cfg);
void cli_attack_usage(const advcc_model *m, FILE *fp);

#endif
