/* cli.h - the command line of every model binary: `MODEL train|eval|attack|
 * info|sanity|features|certify ...`.  runtime/main.c passes the generated model in; each
 * command lives in its own cli_*.c file. */
#ifndef ADVCC_CLI_H
#define ADVCC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "dataset.h"
#include "json_write.h"
#include "model.h"
#include "numparse.h"

#include "vocab.h"

int cli_main(const advcc_model *m, int argc, char **argv);
/* The model's description as JSON (compiler/describe_json.h), embedded in
 * its generated C; main.c sets it, `info --json` prints it.  NULL when the
 * model was generated without one. */
extern const char *cli_model_json;
int cli_train(const advcc_model *m, int argc, char **argv);
int cli_eval(const advcc_model *m, int argc, char **argv, int attack);
int cli_info(const advcc_model *m, int argc, char **argv);
int cli_sanity(const advcc_model *m, int argc, char **argv);
int cli_features(const advcc_model *m, int argc, char **argv);
struct advcc_dataset;
/* eval --save-logits: the outputs on d's images in evaluation mode as .npy
 * (cli_logits.c); 0 or -1 (err filled). */
int cli_save_logits(advcc_ctx *ctx, const struct advcc_dataset *d, const char *path,
                    char *err, size_t errlen);
/* `attack --attack apgd-ce|apgd-dlr|apgd-t|fab-t|square|autoattack` */
int cli_autoattack(const advcc_model *m, int argc, char **argv);
int cli_certify(const advcc_model *m, int argc, char **argv);

/* Shared helpers. */
/* Strict numbers (numparse.h): "0.5", "1e-4", "8/255" in [lo, hi] (flags
 * NUM_INT, NUM_LO_OPEN); 0, or -1 with cli_why() saying why, a phrase that
 * follows the quoted value ("is not a decimal number"). */
int cli_number(const char *s, double lo, double hi, unsigned flags, double *out);
int cli_int(const char *s, long lo, long hi, long *out);
const char *cli_why(void);
/* Sets what cli_why() says, for a check of the caller's own. */
void cli_why_set(const char *why);
/* Prints "PROG CMD: --OPT 'VALUE' WHY" for a refused option value. */
void cli_bad_value(const char *prog, const char *cmd, const char *opt, const char *value);
/* The data set a model reads by default: fashion-mnist for 1x28x28 inputs,
 * cifar10 otherwise. */
const char *cli_default_dataset(const advcc_model *m);
/* Loads a split and checks it fits the model; prints the error itself. */
int cli_load_data(const advcc_model *m, const char *name, int train, int limit,
                  advcc_dataset *d);
/* How a result was made, one line: the command line (as cli_main got it,
 * shell-quoted), the model, its spec file and the spec's hash, and the
 * version.  cli_json_provenance gives it as a JSON string. */
void cli_provenance(const advcc_model *m, char *buf, size_t len);
json_t *cli_json_provenance(const advcc_model *m);
/* A result file's JSON object opens with {"model":NAME,"seed":N} (NULL
 * when out of memory); cli_json_write closes it with the wall time, host,
 * version, checkpoint and provenance, writes it to path atomically and
 * releases it: 0, or -1 with errno set. */
json_t *cli_json_head(const advcc_model *m, long seed);
int cli_json_write(json_t *o, const char *path, const advcc_model *m, double wall,
                   const char *ckpt);
/* x in the fewest digits that read back as x (a whole one as an integer):
 * 0.001, 100000, 0.031372549019607843.  len: 32 is enough. */
void cli_exact_text(double x, char *buf, size_t len);
/* A run's settings as a record (train's --resume compares two): each value
 * a string keyed by the option that sets it, as a command line would give
 * it, numbers by cli_exact_text, so records are equal exactly when the
 * settings are.  0, or -1 when out of memory. */
int cli_record_text(json_t *rec, const char *option, const char *value);
int cli_record_number(json_t *rec, const char *option, double x);

#endif
