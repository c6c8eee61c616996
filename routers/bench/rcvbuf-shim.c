/* LD_PRELOAD shim for the load generator (perfdhcp), bench:dhcp only: its UDP sockets get an
 * 8 MiB receive buffer (SO_RCVBUFFORCE; root). perfdhcp answers for hundreds or thousands of
 * simulated clients through one socket; a server that releases a group of replies at once
 * (a batch of leases made durable by one fdatasync) overflows its default 208 KiB buffer while
 * perfdhcp is busy sending, and those replies count as the server's drops, though a real network
 * gives each client a socket of its own. Every server under test gets the same client. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol) {
  static int (*real)(int, int, int);
  if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  int fd = real(domain, type, protocol);
  if (fd >= 0 && (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_DGRAM) {
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  }
  return fd;
}
