/* proc.h - child processes of the study tool (fork and exec: child.h).
 * Every child is tied to its parent's life (PR_SET_PDEATHSIG): when a
 * runner or a cell is killed, even by SIGKILL, the processes under it die
 * too, so no orphan keeps writing into a cell that another run is about to
 * redo. */
#ifndef ADVCC_STUDY_PROC_H
#define ADVCC_STUDY_PROC_H

/* Runs argv[0] with argv, stdout and stderr to log_fd (-1: inherited).
 * Returns the wait status, or -1 when the process could not start. */
int proc_run(char *const argv[], int log_fd);

/* "exit 3", "killed by signal 9 (Killed)" */
char *proc_describe(int status);

#endif
