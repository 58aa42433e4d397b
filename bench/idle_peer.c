/*
 * idle_peer: the far ends of bench_scale's idle connections, in a process of
 * their own.
 *
 * The open-file limit on the benchmark machine is 20,000 per process and
 * cannot be raised, so 10,000 idle connections cannot keep both of their ends
 * in one process. This program listens on 127.0.0.1 (port 0, the system picks
 * one), prints the port on stdout as one line, then accepts every connection
 * and holds it open without ever reading or writing, until its stdin reaches
 * end of file or it receives SIGTERM or SIGINT. Under Wine the Windows build of
 * bench_scale connects to it too, since Wine sockets are host sockets.
 *
 * A connection whose other end closes is closed here as well, so that a peer
 * kept for several runs does not collect dead descriptors. Closes are noticed
 * through epoll, which costs nothing while the connections are idle: this
 * process sleeps in epoll_wait() the whole time bench_scale measures.
 *
 * It is a Linux (POSIX) program only; scripts/bench starts it and passes its
 * port to bench_scale with --peer-port.
 *
 *   idle_peer [--max N]    exit with an error after holding N connections
 *                          (default 19000, below the open-file limit)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Set by the signal handler; the main loop checks it after every poll(). */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: poll() must return EINTR so that the loop sees the flag. */
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
    return -1;
  /* A write to a closed stdout (the script went away) must not kill the
   * process before it has cleaned up. */
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL) != 0)
    return -1;
  return 0;
}

static int open_listener(int *port_out) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("idle_peer: socket");
    return -1;
  }
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  /* SOMAXCONN is what the kernel caps the backlog to anyway; bench_scale
   * connects in batches far smaller than that. */
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    perror("idle_peer: bind/listen");
    close(fd);
    return -1;
  }
  *port_out = ntohs(addr.sin_port);
  return fd;
}

static int parse_args(int argc, char **argv, long *max_conns) {
  int i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
      char *end;
      *max_conns = strtol(argv[++i], &end, 10);
      if (*end || *max_conns < 1) {
        fprintf(stderr, "idle_peer: bad --max value '%s'\n", argv[i]);
        return -1;
      }
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      printf("usage: idle_peer [--max N]\n"
             "Prints its port, then holds every connection made to 127.0.0.1:PORT\n"
             "until stdin closes or SIGTERM arrives.\n");
      exit(0);
    } else {
      fprintf(stderr, "idle_peer: unknown argument '%s' (try --help)\n", argv[i]);
      return -1;
    }
  }
  return 0;
}

/* Accepts every connection waiting on the listener and adds it to the epoll
 * set. Returns 0, or -1 on a failure that ends the program. */
static int accept_all(int listener, int ep, long *held, long max_conns) {
  for (;;) {
    struct epoll_event ev;
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      /* A connection that was reset before it was accepted is not our
       * problem; anything else (EMFILE above all) is. */
      if (errno == ECONNABORTED || errno == EINTR)
        continue;
      perror("idle_peer: accept");
      return -1;
    }
    if (*held >= max_conns) {
      fprintf(stderr, "idle_peer: more than %ld connections (--max)\n", max_conns);
      close(fd);
      return -1;
    }
    /* Only closes matter: EPOLLRDHUP reports an orderly close by the other
     * end, EPOLLHUP and EPOLLERR (always reported) a reset. */
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      perror("idle_peer: epoll_ctl");
      close(fd);
      return -1;
    }
    (*held)++;
  }
}

int main(int argc, char **argv) {
  long max_conns = 19000, held = 0;
  struct epoll_event ev, events[256];
  int listener, port, ep, rc = 0, done = 0;

  if (parse_args(argc, argv, &max_conns) != 0 || install_signals() != 0)
    return 2;
  listener = open_listener(&port);
  if (listener < 0)
    return 1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    perror("idle_peer: epoll_create1");
    close(listener);
    return 1;
  }
  /* The listener and stdin are told apart from connections by their
   * descriptor numbers, which the connections can never have. */
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) {
    perror("idle_peer: epoll_ctl");
    close(ep);
    close(listener);
    return 1;
  }
  ev.data.fd = STDIN_FILENO;
  /* stdin may be /dev/null or a regular file, which epoll refuses; then only
   * a signal stops the program. */
  if (epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0 && errno != EPERM) {
    perror("idle_peer: epoll_ctl(stdin)");
    close(ep);
    close(listener);
    return 1;
  }

  printf("%d\n", port);
  fflush(stdout);

  while (!done && !stop_requested) {
    int i, n = epoll_wait(ep, events, (int)(sizeof events / sizeof events[0]), -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("idle_peer: epoll_wait");
      rc = 1;
      break;
    }
    for (i = 0; i < n && !done; i++) {
      int fd = events[i].data.fd;
      if (fd == STDIN_FILENO) {
        /* Any input or end of file means the script is done with us. */
        done = 1;
      } else if (fd == listener) {
        if (accept_all(listener, ep, &held, max_conns) != 0) {
          rc = 1;
          done = 1;
        }
      } else {
        /* The other end closed: closing also removes it from the set. */
        close(fd);
        held--;
      }
    }
  }

  /* Exiting closes the held connections; there is no list of them to walk,
   * and the kernel does it faster than a loop of close() calls would. */
  close(ep);
  close(listener);
  return rc;
}
