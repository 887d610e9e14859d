/* The pod sandbox's process ("pause"), built statically by the tests that run
 * containerd (test/cni/containerd_test.sh, test/k8s/cluster.sh) so that no
 * image comes from a registry: holds the namespaces, reaps orphans, exits on
 * TERM/INT. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGTERM, &q, 0);
  sigaction(SIGINT, &q, 0);
  sigaction(SIGCHLD, &r, 0);
  for (;;) pause();
}
