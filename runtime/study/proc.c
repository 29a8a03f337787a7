/* proc.c - the study's children, tied to their parent, and what their
 * wait status means. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include "child.h"
#include "proc.h"
#include "text.h"

int proc_run(char *const argv[], int log_fd)
{
    child_opts o = { NULL, NULL, log_fd, log_fd, 1, "advcc-study" };
    return child_run(argv, &o);
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
