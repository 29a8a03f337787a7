/* cells.h - the cells of a grid and their state on disk.
 *
 * A cell is one training run and the attacks on its checkpoint: for an
 * adversarially trained model (its spec says `train adversarial`) one
 * cell per (seed, eps), trained and attacked at that eps; for any other
 * model one cell per seed, attacked at every eps of the grid.  Cells are
 * numbered seed by seed, models in grid order, eps in grid order, so that
 * early seeds finish first and a partial grid already pairs models by
 * seed.
 *
 * Each cell owns the directory OUT/cells/<model>/seed<S>[-eps<E>]/, with
 *   lock         flock'ed by the process running the cell
 *   result.csv   the cell's rows of the results file; it exists iff the
 *                cell is finished (written last, atomically)
 *   error.txt    why the last attempt failed (the cell will run again)
 *   cell.log     the binaries' output
 *   train.done   the training's command line, once it finished
 *   model.json   the model's description (model_desc.h), written when
 *                the cell starts
 * and what the model binary writes (train.json, train_loss.csv, the
 * checkpoint, eval-eps<E>.json, certify.json, and for the strong
 * evaluation strong-eps<E>.json, its per-image strong-eps<E>.csv and the
 * command line that made them, strong-eps<E>.cmd). */
#ifndef ADVCC_STUDY_CELLS_H
#define ADVCC_STUDY_CELLS_H

#include "grid.h"

typedef struct cell {
    int index;
    int model;          /* into grid.models */
    int seed;
    int adversarial;
    double train_eps;   /* 1/255; the training budget when adversarial */
    int eps_first;      /* the eps attacked: grid.eps[eps_first .. +neps) */
    int neps;
} cell;

enum cell_state {
    CELL_PENDING,       /* never run, or interrupted */
    CELL_RUNNING,       /* some process holds its lock */
    CELL_DONE,          /* result.csv, status ok */
    CELL_DIVERGED,      /* result.csv, training diverged: finished, failed */
    CELL_FAILED         /* error.txt: the last attempt failed; runs again */
};

extern const char *const cell_state_names[];

#define CELL_LOCK   "lock"
#define CELL_RESULT "result.csv"
#define CELL_ERROR  "error.txt"
#define CELL_LOG    "cell.log"
#define CELL_TRAINED "train.done"
#define STRONG_PREFIX "strong-"

/* The cells of g; *n gets their count.  The array is the caller's. */
cell *cells_build(const grid *g, int *n);
/* "adv/seed3-eps8", relative to OUT/cells */
char *cell_name(const grid *g, const cell *c);
/* OUT/cells/<name> */
char *cell_dir(const grid *g, const cell *c);
char *cell_file(const grid *g, const cell *c, const char *file);

/* The state, and in *detail (if not NULL; the caller frees) the error,
 * the diverged step or who runs it. */
int cell_state(const grid *g, const cell *c, char **detail);

/* For a finished cell: NULL when its result.csv was made with the grid's
 * settings, else a description of the first difference ("epochs 2, the
 * grid says 10"; the caller frees). */
char *cell_settings_differ(const grid *g, const cell *c);

/* Work of a cell in arbitrary units, for time estimates: image passes of
 * training (with the attack when adversarial) and of the evaluations. */
double cell_cost(const grid *g, const cell *c);

#endif
