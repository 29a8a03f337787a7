/* train_state.c - epoch checkpoints for resuming training. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atomic_file.h"
#include "checkpoint.h"
#include "json_write.h"
#include "train_state.h"

static void state_path(char *buf, size_t len, const char *dir, int epoch,
                       const char *what)
{
    snprintf(buf, len, "%s/epoch-%d.%s.safetensors", dir, epoch, what);
}

/* The state directory (one level: its parent is the run's --out). */
static int state_dir_make(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int train_state_save(const char *dir, int epoch, const advcc_model *m,
                     const real_t *params, const real_t *velocity,
                     const real_t *second, char *err, size_t errlen)
{
    char path[4096];
    if (state_dir_make(dir, err, errlen) != 0)
        return -1;
    state_path(path, sizeof path, dir, epoch, "params");
    if (checkpoint_save_all(path, m, params, err, errlen) != 0)
        return -1;
    state_path(path, sizeof path, dir, epoch, "momentum");
    if (checkpoint_save_all(path, m, velocity, err, errlen) != 0)
        return -1;
    state_path(path, sizeof path, dir, epoch, "second");
    if (second && checkpoint_save_all(path, m, second, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/epoch", dir);
    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(af.fp, "%d\n", epoch);
    if (atomic_commit(&af) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* The previous epoch's files are no longer named by `epoch`. */
    if (epoch > 0) {
        state_path(path, sizeof path, dir, epoch - 1, "params");
        unlink(path);
        state_path(path, sizeof path, dir, epoch - 1, "momentum");
        unlink(path);
        state_path(path, sizeof path, dir, epoch - 1, "second");
        unlink(path);
    }
    return 0;
}

int train_state_load(const char *dir, const advcc_model *m, real_t *params,
                     real_t *velocity, real_t *second, int *epoch, char *err,
                     size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/epoch", dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    int k = -1;
    int ok = fscanf(fp, "%d", &k) == 1 && k >= 0;
    fclose(fp);
    if (!ok) {
        snprintf(err, errlen, "%s: offset 0: not an epoch number", path);
        return -1;
    }
    state_path(path, sizeof path, dir, k, "params");
    if (checkpoint_load_all(path, m, params, err, errlen) != 0)
        return -1;
    state_path(path, sizeof path, dir, k, "momentum");
    if (checkpoint_load_all(path, m, velocity, err, errlen) != 0)
        return -1;
    state_path(path, sizeof path, dir, k, "second");
    if (second && checkpoint_load_all(path, m, second, err, errlen) != 0)
        return -1;
    *epoch = k;
    return 1;
}

int train_state_save_settings(const char *dir, json_t *settings, char *err,
                              size_t errlen)
{
    char path[4096];
    if (state_dir_make(dir, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/settings.json", dir);
    if (jw_write(path, json_incref(settings)) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int train_state_load_settings(const char *dir, json_t **settings, char *err,
                              size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/settings.json", dir);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    json_error_t je;
    *settings = json_load_file(path, 0, &je);
    if (!*settings || !json_is_object(*settings)) {
        snprintf(err, errlen, "%s: %s", path, *settings ? "not a JSON object" : je.text);
        json_decref(*settings);
        *settings = NULL;
        return -1;
    }
    return 1;
}

int train_state_keep(const char *dir, const char *params_to,
                     const char *momentum_to, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/epoch", dir);
    FILE *fp = fopen(path, "r");
    int k = -1;
    if (!fp || fscanf(fp, "%d", &k) != 1 || k < 0) {
        if (fp)
            fclose(fp);
        snprintf(err, errlen, "%s: no finished epoch to keep", path);
        return -1;
    }
    fclose(fp);
    state_path(path, sizeof path, dir, k, "params");
    if (rename(path, params_to) != 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s", path, params_to, strerror(errno));
        return -1;
    }
    state_path(path, sizeof path, dir, k, "momentum");
    if (rename(path, momentum_to) != 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s", path, momentum_to, strerror(errno));
        return -1;
    }
    return 0;
}

void train_state_clear(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/epoch", dir);
    FILE *fp = fopen(path, "r");
    int k = -1;
    if (fp) {
        if (fscanf(fp, "%d", &k) != 1)
            k = -1;
        fclose(fp);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/settings.json", dir);
    unlink(path);
    if (k >= 0) {
        state_path(path, sizeof path, dir, k, "params");
        unlink(path);
        state_path(path, sizeof path, dir, k, "momentum");
        unlink(path);
        state_path(path, sizeof path, dir, k, "second");
        unlink(path);
    }
    rmdir(dir);
}
