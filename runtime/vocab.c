/* vocab.c - the name tables of vocab.h, made from its name lists. */
#include "vocab.h"

#include <string.h>

#define N(a) ((int)(sizeof a / sizeof a[0]))

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : NULL;
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

#define NAME_TABLE(fn, LIST)                                              \
    static const char *const fn##_names[] = { LIST(ADVCC_NAME_ELEM, ) }; \
    const char *advcc_##fn##_name(int v)                                  \
    {                                                                     \
        return name_of(fn##_names, N(fn##_names), v);                     \
    }                                                                     \
    int advcc_##fn##_by_name(const char *s)                               \
    {                                                                     \
        return index_of(fn##_names, N(fn##_names), s);                    \
    }

NAME_TABLE(optimizer, ADVCC_OPTIMIZER_NAMES)
NAME_TABLE(schedule, ADVCC_SCHEDULE_NAMES)
NAME_TABLE(init, ADVCC_INIT_NAMES)
NAME_TABLE(clip, ADVCC_CLIP_NAMES)
NAME_TABLE(norm, ADVCC_NORM_NAMES)
NAME_TABLE(method, ADVCC_METHOD_NAMES)
NAME_TABLE(loss, ADVCC_LOSS_NAMES)
NAME_TABLE(aa_version, ADVCC_AA_VERSION_NAMES)

const char *advcc_default_dataset(int c, int h, int w)
{
    return c == 1 && h == 28 && w == 28 ? "fashion-mnist" : "cifar10";
}
