/*
 * Sandbox ("pause") process for the rig's real node: holds the pod's namespaces open,
 * reaps zombies (it is PID 1 when the pod shares its PID namespace) and exits 0 on
 * SIGINT/SIGTERM. Built with `gcc -static` by node-up.sh and imported into containerd as
 * registry.k8s.io/pause:3.10, the CRI's sandbox_image, because nothing can be pulled here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static void install(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) {
    perror("sigaction");
    _exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("mesh-rig pause 3.10");
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "pause: not PID 1; zombies of others are not reaped\n");
  install(SIGINT, on_stop, 0);
  install(SIGTERM, on_stop, 0);
  install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART);
  for (;;) pause();
}
