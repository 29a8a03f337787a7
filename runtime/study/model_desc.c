/* model_desc.c - model descriptions (Jansson) and the relations between
 * models. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "child.h"
#include "fsutil.h"
#include "grid.h"
#include "json.h"
#include "model_desc.h"

static int field_error(const char *name, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: the model description has no %s", name, what);
    return -1;
}

static int get_int(const json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static int count(const json_t *o, const char *key)
{
    return (int)json_array_size(json_object_get(o, key));
}

int model_desc_parse(model_desc *d, const char *text, const char *name,
                     char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    json_t *o = jobj_parse(text, name, err, errlen);
    if (!o)
        return -1;
    json_t *train = json_object_get(o, "train");
    json_t *attack = json_object_get(o, "attack");
    json_t *patches = json_object_get(o, "patches");
    json_t *alpha = json_object_get(attack, "alpha_255");
    int rc = -1;
    if (!jobj_is(o, "format", "advcc-model-description"))
        field_error(name, "\"format\": \"advcc-model-description\"", err, errlen);
    else if (!json_is_string(json_object_get(o, "name")) ||
             !json_is_string(json_object_get(o, "base")) || !json_is_array(patches))
        field_error(name, "name, base or patches", err, errlen);
    else if (!json_is_boolean(json_object_get(o, "adversarial")))
        field_error(name, "adversarial", err, errlen);
    else if (!json_is_string(json_object_get(o, "dataset")) ||
             get_int(train, "epochs", &d->epochs) != 0)
        field_error(name, "dataset or train.epochs", err, errlen);
    else if (!json_is_number(alpha) || get_int(attack, "steps", &d->steps) != 0 ||
             get_int(attack, "restarts", &d->restarts) != 0 ||
             get_int(attack, "eot", &d->eot) != 0 ||
             !json_is_string(json_object_get(attack, "init")))
        field_error(name, "attack alpha_255, steps, restarts, eot or init", err, errlen);
    else
        rc = 0;
    if (rc == 0) {
        d->text = xstrdup(text);
        d->name = jobj_text(o, "name");
        d->base = jobj_text(o, "base");
        for (size_t i = 0; i < json_array_size(patches); i++) {
            const char *p = json_string_value(json_array_get(patches, i));
            strvec_push(&d->patches, p ? p : "?");
        }
        d->adversarial = json_is_true(json_object_get(o, "adversarial"));
        d->dataset = jobj_text(o, "dataset");
        d->alpha_255 = json_number_value(alpha);
        d->init = jobj_text(attack, "init");
        d->quantize = count(o, "quantize");
        d->noise = count(o, "noise");
        d->regularize = count(o, "regularize");
        if (get_int(json_object_get(o, "ensemble"), "passes", &d->ensemble) != 0)
            d->ensemble = 1;
    }
    json_decref(o);
    return rc;
}

int model_desc_run(model_desc *d, const char *binary, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    char *argv[] = { (char *)binary, "info", "--json", NULL };
    child_opts o = { .out_fd = fds[1], .err_fd = -1, .tie = 1, .who = "advcc-study" };
    pid_t pid = child_start(argv, &o);
    close(fds[1]);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char buf[4096];
    ssize_t n;
    while (pid > 0 && ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    close(fds[0]);
    int code = pid > 0 ? child_exit_code(child_wait(pid)) : -1;
    int rc = -1;
    if (code != 0)
        snprintf(err, errlen, "%s info --json: %s (a binary advcc built "
                 "before models had descriptions? build it again with make)",
                 binary, code < 0 ? "did not run" : "failed");
    else {
        char *name = xasprintf("%s info --json", binary);
        rc = model_desc_parse(d, text, name, err, errlen);
        free(name);
    }
    free(text);
    return rc;
}

void model_desc_free(model_desc *d)
{
    free(d->text);
    free(d->name);
    free(d->base);
    strvec_free(&d->patches);
    free(d->dataset);
    free(d->init);
    memset(d, 0, sizeof *d);
}

/* 1 when list holds p, taking it out of the marks */
static int take(const strvec *list, unsigned char *used, const char *p)
{
    for (int i = 0; i < list->n; i++)
        if (!used[i] && !strcmp(list->v[i], p)) {
            used[i] = 1;
            return 1;
        }
    return 0;
}

const char *model_desc_adds(const model_desc *m, const model_desc *u)
{
    if (!m->base || !u->base)
        return NULL;
    if (!strcmp(m->base, u->name) && m->patches.n == 1)
        return m->patches.v[0];
    if (strcmp(m->base, u->base) || m->patches.n != u->patches.n + 1)
        return NULL;
    unsigned char *used = xcalloc((size_t)m->patches.n + 1, 1);
    int all = 1;
    for (int i = 0; i < u->patches.n && all; i++)
        all = take(&m->patches, used, u->patches.v[i]);
    const char *extra = NULL;
    for (int i = 0; i < m->patches.n && all; i++)
        if (!used[i])
            extra = m->patches.v[i];
    free(used);
    return all ? extra : NULL;
}

/* A cell's copy of model's description, for a binary that is gone. */
static int from_cells(const grid *g, const char *model, model_desc *d)
{
    char *dir = xasprintf("%s/cells/%s", g->out, model);
    DIR *dp = opendir(dir);
    int rc = -1;
    for (struct dirent *e; dp && rc != 0 && (e = readdir(dp));) {
        if (e->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s/%s", dir, e->d_name, MODEL_DESC_FILE);
        char *text = file_read(path, NULL);
        char err[256];
        if (text)
            rc = model_desc_parse(d, text, path, err, sizeof err);
        free(text);
        free(path);
    }
    if (dp)
        closedir(dp);
    free(dir);
    return rc;
}

int grid_describe(grid *g, int strict, char *err, size_t errlen)
{
    g->desc = xcalloc((size_t)g->models.n + 1, sizeof *g->desc);
    for (int m = 0; m < g->models.n; m++) {
        char *binary = path_join(g->bin, g->models.v[m]);
        int rc;
        if (access(binary, X_OK) == 0)
            rc = model_desc_run(&g->desc[m], binary, err, errlen);
        else if ((rc = from_cells(g, g->models.v[m], &g->desc[m])) != 0)
            snprintf(err, errlen, "%s: no model binary %s (build it with make, "
                     "or set 'bin' in the grid): its description says what "
                     "the model is", g->path, binary);
        free(binary);
        if (rc != 0 && strict)
            return -1;
        g->adversarial[m] = (unsigned char)g->desc[m].adversarial;
    }
    return 0;
}
