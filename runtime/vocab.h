/* vocab.h - the words and numbers the compiler, the runtime and the study
 * runner share: the version, the exit status of a model binary, and the
 * names of the attack settings with their enums.  Each name list is
 * written once here; the enum's order is the list's order, the spec's
 * `a|b|c` choices and the tables of vocab.c are made from it. */
#ifndef ADVCC_VOCAB_H
#define ADVCC_VOCAB_H

/* The one definition of the version; the Makefile reads it from here. */
#define ADVCC_VERSION_NUMBER "0.1.0"
#define ADVCC_VERSION "advcc " ADVCC_VERSION_NUMBER

/* Exit status of a model binary (README, `MODEL train --help`); the study
 * runner (runtime/study/cellrun.c) reads them by these names. */
enum advcc_exit {
    ADVCC_EXIT_OK = 0,
    ADVCC_EXIT_ERROR = 1,       /* bad data, unreadable file, failed run */
    ADVCC_EXIT_USAGE = 2,       /* bad option; certify: a model it refuses */
    ADVCC_EXIT_DIVERGED = 3,    /* train: the loss became NaN or Inf (train.json
                                   says "status":"diverged" and the step) */
    ADVCC_EXIT_SANITY = 4       /* sanity: a check failed or warned */
};

/* Name lists: LIST(X, SEP) is X("a") SEP X("b") ...  ADVCC_CHOICES(LIST)
 * is the string "a|b|..." (the spec's choices, compiler/params.h). */
#define ADVCC_NAME_STR(s) s
#define ADVCC_NAME_ELEM(s) s,
#define ADVCC_CHOICES(LIST) LIST(ADVCC_NAME_STR, "|")

/* PGD's random start (docs/METHODS.md 4). */
#define ADVCC_INIT_NAMES(X, SEP) X("none") SEP X("gaussian") SEP X("uniform")
enum advcc_init { ADVCC_INIT_NONE = 0, ADVCC_INIT_GAUSSIAN, ADVCC_INIT_UNIFORM };
/* Where attack images are clipped: [0,1] pixels or the normalised range. */
#define ADVCC_CLIP_NAMES(X, SEP) X("pixel") SEP X("normalized")
enum advcc_clip { ADVCC_CLIP_PIXEL = 0, ADVCC_CLIP_NORMALIZED };
/* The attack budget's norm. */
#define ADVCC_NORM_NAMES(X, SEP) X("linf") SEP X("l2")
enum advcc_norm { ADVCC_LINF = 0, ADVCC_L2 };
/* The spec's `attack pgd|apgd|square|autoattack|fab`. */
#define ADVCC_METHOD_NAMES(X, SEP) \
    X("pgd") SEP X("apgd") SEP X("square") SEP X("autoattack") SEP X("fab")
enum advcc_attack_method {
    ADVCC_ATTACK_PGD = 0, ADVCC_ATTACK_APGD, ADVCC_ATTACK_SQUARE,
    ADVCC_ATTACK_AUTOATTACK, ADVCC_ATTACK_FAB
};
/* APGD's loss (the spec's `attack apgd loss=`; 2 is DLR, targeted). */
#define ADVCC_LOSS_NAMES(X, SEP) X("ce") SEP X("dlr") SEP X("targeted")
/* AutoAttack's version (`attack autoattack version=`): 0 by the model. */
#define ADVCC_AA_VERSION_NAMES(X, SEP) X("auto") SEP X("standard") SEP X("rand")
/* The training optimiser (`train sgd|adam|adamw`, docs/METHODS.md 1). */
#define ADVCC_OPTIMIZER_NAMES(X, SEP) X("sgd") SEP X("adam") SEP X("adamw")
enum advcc_optimizer { ADVCC_OPT_SGD = 0, ADVCC_OPT_ADAM, ADVCC_OPT_ADAMW };
/* The learning-rate schedule (`train ... schedule=`). */
#define ADVCC_SCHEDULE_NAMES(X, SEP) \
    X("constant") SEP X("multistep") SEP X("cosine") SEP X("onecycle") SEP X("piecewise")
enum advcc_schedule {
    ADVCC_SCHED_CONSTANT = 0, ADVCC_SCHED_MULTISTEP, ADVCC_SCHED_COSINE,
    ADVCC_SCHED_ONECYCLE, ADVCC_SCHED_PIECEWISE
};
/* The optimisers' and schedules' keys where a spec leaves them out
 * (compiler/settings.c); `train --optimizer/--schedule` starts from them
 * when it names another optimiser or schedule than the spec's. */
#define ADVCC_DEFAULT_BETA1 0.9
#define ADVCC_DEFAULT_BETA2 0.999
#define ADVCC_DEFAULT_ADAM_EPS 1e-8
#define ADVCC_DEFAULT_GAMMA 0.1
#define ADVCC_DEFAULT_PCT 0.3
#define ADVCC_DEFAULT_DIV 25
#define ADVCC_DEFAULT_FINAL_DIV 1e4

/* The data set a model of this input shape trains on unless told
 * otherwise: "fashion-mnist" for 1x28x28, "cifar10" for anything else
 * (the model binaries' --dataset default, the model description's
 * `dataset`). */
const char *advcc_default_dataset(int c, int h, int w);

/* NAME_name(v): the name of value v, NULL when v is out of range;
 * NAME_by_name(s): the value named s, -1 for an unknown name. */
const char *advcc_init_name(int v);
int advcc_init_by_name(const char *s);
const char *advcc_clip_name(int v);
int advcc_clip_by_name(const char *s);
const char *advcc_norm_name(int v);
int advcc_norm_by_name(const char *s);
const char *advcc_method_name(int v);
int advcc_method_by_name(const char *s);
const char *advcc_loss_name(int v);
int advcc_loss_by_name(const char *s);
const char *advcc_aa_version_name(int v);
int advcc_aa_version_by_name(const char *s);
const char *advcc_optimizer_name(int v);
int advcc_optimizer_by_name(const char *s);
const char *advcc_schedule_name(int v);
int advcc_schedule_by_name(const char *s);

#endif
