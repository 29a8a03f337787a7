/* describe_json.h - a model's machine-readable description: one JSON
 * object (Jansson) with what the spec says of the model, for programs
 * that run it (advcc-study) to read instead of restating it.
 *
 * One writer, two copies.  advcc writes it as DIR/<model>.json beside the
 * generated C, and embeds the same text in DIR/<model>.c as
 * `const char advcc_model_<name>_json[]`, which `MODEL info --json`
 * prints verbatim (runtime/main.c hands it to the command line).  So a
 * program holding a model binary asks the binary itself, with no guess
 * of where its generated files are, and the runtime needs no JSON
 * library: the text is made here, once.
 *
 * The object (format_version 1):
 *   format, format_version, name, source, spec_fnv1a64, version
 *   base, patches       "baseline", ["adv", "reg"] for baseline + adv + reg;
 *                       a model not made of patches is its own base, []
 *   adversarial         the spec's `train adversarial`
 *   input {c, h, w}, classes, dataset (what the binary trains on by default)
 *   train {optimizer, lr, momentum and nesterov (sgd) or beta1, beta2, eps
 *       (adam, adamw), weight_decay, batch, epochs, adversarial, schedule
 *       {kind, warmup, and its own keys}, augment {crop, flip}}
 *   attack, train_attack (null unless adversarial): {method, norm, eps,
 *       eps_255, alpha, alpha_255, steps, restarts, init, eot, clip,
 *       present, and the method's own: loss, iters, targets, queries,
 *       version, quick}
 *   ensemble {passes, average}
 *   quantize [{layer, bits, range[, lo, hi]}], noise [{layer, sigma}],
 *   regularize [{layer, kind, weight, form | iters, persistent}]
 *   parameters, state   trained reals, and running statistics
 *   layers [{name, kind, src, in [c,h,w], out [c,h,w], parameters, and the
 *       kind's settings}]  src: the layer it reads ("input": the model's);
 *       an add (a residual block's sum) also src2, the shortcut's end
 * Names are those of runtime/vocab.h. */
#ifndef ADVCC_DESCRIBE_JSON_H
#define ADVCC_DESCRIBE_JSON_H

#include <stdio.h>
#include "ir.h"

#define DESCRIBE_JSON_FORMAT "advcc-model-description"
#define DESCRIBE_JSON_VERSION 1

/* The description as indented JSON text ending in a newline; malloc'ed. */
char *describe_json(const ir_model *m);

/* Writes `const char advcc_model_<name>_json[] = "...";` holding text.
 * 0, or -1 on a write error. */
int describe_json_emit_c(const ir_model *m, const char *text, FILE *out);

#endif
