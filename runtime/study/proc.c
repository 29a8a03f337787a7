/* proc.c - fork, exec and wait with the children tied to their parent. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "proc.h"
#include "text.h"

int proc_tie_to_parent(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return -1;
    /* the parent may have died before prctl took effect */
    return getppid() == parent ? 0 : -1;
}

int proc_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

int proc_run(char *const argv[], int log_fd)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (proc_tie_to_parent(parent) != 0)
            _exit(127);
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "advcc-study: cannot run %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    return proc_wait(pid);
}

char *proc_describe(int status)
{
    if (status < 0)
        return xstrdup("could not start");
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) == 127)
            return xstrdup("exit 127 (the binary could not be run)");
        return xasprintf("exit %d", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status))
        return xasprintf("killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
    return xasprintf("wait status %d", status);
}
