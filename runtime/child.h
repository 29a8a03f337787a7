/* child.h - running another program, the one copy of fork, exec and wait:
 * the study's model binaries, sbatch and gnuplot, and `MODEL certify
 * --plot`'s gnuplot. */
#ifndef ADVCC_CHILD_H
#define ADVCC_CHILD_H

#include <sys/types.h>

typedef struct child_opts {
    const char *file;   /* the program to run, NULL: argv[0] */
    const char *dir;    /* working directory of the child, NULL: ours */
    int out_fd;         /* its stdout, -1: inherited */
    int err_fd;         /* its stderr, -1: inherited */
    int tie;            /* die with the parent (Linux: PR_SET_PDEATHSIG) */
    const char *who;    /* when exec fails the child says "WHO: cannot run
                           PROG: why" on its stderr; NULL: silent */
} child_opts;

/* Starts file or argv[0] (searched in PATH when it has no '/') with argv.  The pid,
 * or -1 when fork failed.  A child that cannot change to dir exits 126,
 * one that cannot run the program 127. */
pid_t child_start(char *const argv[], const child_opts *o);
/* Waits for pid, retrying on EINTR; the wait status or -1. */
int child_wait(pid_t pid);
/* child_start then child_wait: the wait status, or -1. */
int child_run(char *const argv[], const child_opts *o);
/* The exit code of a wait status, -1 for a failed start or a signal. */
int child_exit_code(int status);
/* In a fresh child: die with the parent.  -1 (the child should then
 * _exit) when the parent is already gone or the system cannot do it. */
int child_tie_to_parent(pid_t parent);

#endif
