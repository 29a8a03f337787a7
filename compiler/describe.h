/* describe.h - a model's description as key/value text (spec file and its
 * hash, the patches it is made of, quantisers with their bits, activations,
 * noise, ensemble, regularisers, training recipe and attack defaults).
 * Checkpoints carry it in their safetensors metadata; `MODEL info`,
 * `advcc --shapes` and the PyTorch module show it. */
#ifndef ADVCC_DESCRIBE_H
#define ADVCC_DESCRIBE_H

#include <stddef.h>
#include "ir.h"

#define DESCRIBE_MAX 12

typedef struct describe_kv {
    const char *key;        /* "quantize" */
    char value[1024];       /* "conv1 8-bit minmax, fc1 8-bit minmax" */
} describe_kv;

/* Fills kv[0..DESCRIBE_MAX-1]; returns how many entries. */
int describe_model(const ir_model *m, describe_kv *kv);
/* "sgd lr=0.001 momentum=0.9 weight_decay=0 batch=100 epochs=10", with the
 * optimiser's keys, then the schedule and augmentation when there are any. */
void describe_train(const ir_train *t, char *buf, size_t len);
/* "pgd linf eps=0.0313725 alpha=... steps=4 ..." */
void describe_attack(const ir_attack *a, char *buf, size_t len);

#endif
