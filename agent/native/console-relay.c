/* flt-console-relay SOCKET LINK
 *
 * The host end of a guest container's console. runc (`runc create --console-socket SOCKET`)
 * connects to SOCKET and passes the pty master of the container's terminal with SCM_RIGHTS
 * (Node cannot receive a file descriptor over a unix socket, hence this helper). The relay then
 * opens a pty of its own, links its slave (/dev/pts/N) at LINK — the path a console proxy opens,
 * as for every VM — and copies bytes both ways until the container's terminal closes (the
 * container is gone); then it removes LINK and exits. It runs nothing: the shell is the guest's.
 *
 * Client detaches are harmless (the relay holds its own slave open, so its master never sees a
 * hangup), and with no client attached the guest's console output is dropped rather than
 * blocking the guest once the pty buffer is full, as on a serial line nobody listens to.
 * Exit status 1 on any error before the relay starts (stderr goes to the VM's console.log). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static int fail(const char *what) { fprintf(stderr, "flt-console-relay: %s: %s\n", what, strerror(errno)); return 1; }

/* Receives one fd over a unix stream connection. The socket appears at `path` only once it
 * listens (bound under a temporary name, then renamed), so a caller that waits for the file
 * and then starts runc is never refused. */
static int receive_fd(const char *path) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) + 4 >= sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s.tmp", path);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return -1;
  unlink(addr.sun_path);
  unlink(path);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 1) < 0) return -1;
  if (rename(addr.sun_path, path) < 0) return -1;
  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char data[4096];
  char ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) { errno = EPROTO; return -1; }
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  close(c);
  close(ls);
  unlink(path);
  return fd;
}

/* Writes all of buf, or drops what would block (nobody reading the host pty). */
static int put(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    buf += w; n -= w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: flt-console-relay SOCKET LINK\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  int guest = receive_fd(argv[1]);
  if (guest < 0) return fail("receiving the console from runc");
  int host = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (host < 0 || grantpt(host) < 0 || unlockpt(host) < 0) return fail("posix_openpt");
  const char *slave = ptsname(host);
  if (!slave) return fail("ptsname");
  int hold = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC); /* keeps the host master from hanging up */
  if (hold < 0) return fail("open slave");
  struct termios tio;
  if (tcgetattr(hold, &tio) == 0) { cfmakeraw(&tio); tcsetattr(hold, TCSANOW, &tio); }
  fcntl(host, F_SETFL, fcntl(host, F_GETFL) | O_NONBLOCK);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
  unlink(tmp);
  if (symlink(slave, tmp) < 0 || rename(tmp, argv[2]) < 0) return fail("linking the console");
  char buf[8192];
  struct pollfd p[2] = { { .fd = guest, .events = POLLIN }, { .fd = host, .events = POLLIN } };
  for (;;) {
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
    if (p[0].revents) {
      ssize_t n = read(guest, buf, sizeof buf);
      if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN))) break; /* the container's terminal closed */
      if (n > 0 && put(host, buf, n) < 0) break;
    }
    if (p[1].revents & POLLIN) {
      ssize_t n = read(host, buf, sizeof buf);
      if (n > 0 && put(guest, buf, n) < 0) break;
    }
  }
  /* Only our own link: a newer relay (after a reboot) may have replaced it already. */
  char target[4200];
  ssize_t len = readlink(argv[2], target, sizeof target - 1);
  if (len > 0) { target[len] = 0; if (strcmp(target, slave) == 0) unlink(argv[2]); }
  return 0;
}
