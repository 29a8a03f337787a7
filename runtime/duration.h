/* duration.h - a time span as people read it, for progress lines: "45s",
 * "3m07s", "2h05m". */
#ifndef ADVCC_DURATION_H
#define ADVCC_DURATION_H

#include <stddef.h>

void format_duration(char *buf, size_t len, double seconds);

#endif
