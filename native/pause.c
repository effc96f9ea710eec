/* pause: PID 1 of a pod sandbox. Holds the sandbox's namespaces, reaps every
 * zombie it inherits, exits 0 on SIGTERM/SIGINT, otherwise sleeps forever.
 *
 * Signals are blocked and taken synchronously with sigwaitinfo(): a blocked
 * signal is queued even for a namespace's PID 1 (which the kernel would
 * otherwise drop for default-handled signals), and no work happens in a
 * signal handler. When not PID 1 it becomes a child subreaper, so orphans of
 * its descendants are reaped by it as well. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap(void) {
  for (;;) {
    pid_t p = waitpid(-1, NULL, WNOHANG);
    if (p > 0) continue;
    if (p < 0 && errno == EINTR) continue;
    return; /* 0: children remain, none exited; -1 ECHILD: no children */
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("flotilla-pause 2\n");
    return 0;
  }
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
    perror("pause: sigprocmask");
    return 1;
  }
  reap(); /* anything that exited before the mask was set */
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) continue; /* EINTR (e.g. SIGSTOP/SIGCONT) */
    if (sig == SIGTERM || sig == SIGINT) return 0;
    if (sig == SIGCHLD) reap();
  }
}
