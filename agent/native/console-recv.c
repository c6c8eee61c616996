/* flt-console-recv SOCKET PROGRAM [ARGS...]
 *
 * Receives the pty master of a container from runc (`runc create --console-socket SOCKET`: runc
 * connects and passes the fd with SCM_RIGHTS), then execs PROGRAM with that fd as fd 3. The
 * agent runs `socat FD:3 PTY,link=<vm>/console,...` with it, so the container's own terminal is
 * reachable at a host pty path that a console proxy opens, and it survives agent restarts
 * (Node cannot receive a file descriptor over a unix socket, hence this helper).
 * Exits 1 on any error before the exec (its stderr goes to the VM's console.log). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char *what) { fprintf(stderr, "flt-console-recv: %s: %s\n", what, strerror(errno)); return 1; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: flt-console-recv SOCKET PROGRAM [ARGS...]\n"); return 2; }
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(argv[1]) >= sizeof addr.sun_path) { fprintf(stderr, "flt-console-recv: socket path too long\n"); return 2; }
  strcpy(addr.sun_path, argv[1]);
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return fail("socket");
  unlink(argv[1]);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) return fail("bind");
  if (listen(ls, 1) < 0) return fail("listen");
  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return fail("accept");
  char data[4096];
  char ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) < 0) return fail("recvmsg");
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "flt-console-recv: no fd received\n"); return 1; }
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  close(c);
  close(ls);
  unlink(argv[1]);
  if (dup2(fd, 3) < 0) return fail("dup2"); /* dup2 clears FD_CLOEXEC on the copy */
  if (fd != 3) close(fd);
  execvp(argv[2], argv + 2);
  return fail("exec");
}
