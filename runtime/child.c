/* child.c - fork, exec and wait (child.h). */
#include "child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int child_tie_to_parent(pid_t parent)
{
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return -1;
    /* the parent may have died before prctl took effect */
    return getppid() == parent ? 0 : -1;
#else
    (void)parent;
    return -1;
#endif
}

int child_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

pid_t child_start(char *const argv[], const child_opts *o)
{
    static const child_opts none = { NULL, NULL, -1, -1, 0, NULL };
    if (!o)
        o = &none;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (o->tie && child_tie_to_parent(parent) != 0)
        _exit(127);
    if (o->dir && chdir(o->dir) != 0)
        _exit(126);
    if (o->out_fd >= 0)
        dup2(o->out_fd, STDOUT_FILENO);
    if (o->err_fd >= 0)
        dup2(o->err_fd, STDERR_FILENO);
    execvp(o->file ? o->file : argv[0], argv);
    if (o->who)
        fprintf(stderr, "%s: cannot run %s: %s\n", o->who, argv[0], strerror(errno));
    _exit(127);
}

int child_run(char *const argv[], const child_opts *o)
{
    pid_t pid = child_start(argv, o);
    return pid < 0 ? -1 : child_wait(pid);
}

int child_exit_code(int status)
{
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
