// SO_BINDTODEVICE for Node dgram sockets. Node cannot bind a UDP socket to a device, and a DHCP
// server on a router with several guest tiers must (1) know which interface a broadcast came in
// on and (2) send its reply out of that same interface even though 255.255.255.255 has no route.
// One socket per interface bound to 0.0.0.0:67 with SO_REUSEADDR + SO_BINDTODEVICE gives both:
// the kernel delivers a tier's packets only to that tier's socket and routes its sends out of it.
// sendBatch: the replies of one group commit (the leases one fdatasync made durable) leave in one
// sendmmsg(2) instead of one send per reply.
// N-API only, so the built object does not depend on the Node ABI version.
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <net/if.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>

static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
    napi_throw_type_error(env, NULL, "bindToDevice(fd, ifname)");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fd must be a non-negative integer");
    return NULL;
  }
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "ifname must be 1..15 characters");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)len) != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "SO_BINDTODEVICE %s: %s", name, strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  return NULL;
}

#define BATCH_MAX 256

// sendBatch(fd, [[buffer, port, ipv4], …]) → how many left (the first ones; fewer when the socket's
// buffer is full: the caller sends the rest its own way), or -errno when the first failed.
// Non-blocking, whatever the socket's mode.
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  uint32_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0
      || napi_get_array_length(env, argv[1], &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, [[buffer, port, ipv4], ...])");
    return NULL;
  }
  if (n > BATCH_MAX) n = BATCH_MAX;
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  struct sockaddr_in to[BATCH_MAX];
  memset(msgs, 0, sizeof(struct mmsghdr) * n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item, buf, port, addr;
    void *data; size_t len; int32_t p; char ip[INET_ADDRSTRLEN]; size_t iplen;
    if (napi_get_element(env, argv[1], i, &item) != napi_ok || napi_get_element(env, item, 0, &buf) != napi_ok
        || napi_get_element(env, item, 1, &port) != napi_ok || napi_get_element(env, item, 2, &addr) != napi_ok
        || napi_get_buffer_info(env, buf, &data, &len) != napi_ok || napi_get_value_int32(env, port, &p) != napi_ok || p < 1 || p > 65535
        || napi_get_value_string_utf8(env, addr, ip, sizeof ip, &iplen) != napi_ok) {
      napi_throw_type_error(env, NULL, "each reply is [buffer, port, ipv4]");
      return NULL;
    }
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_port = htons((uint16_t)p);
    if (inet_pton(AF_INET, ip, &to[i].sin_addr) != 1) {
      napi_throw_type_error(env, NULL, "not an IPv4 address");
      return NULL;
    }
    iov[i].iov_base = data; iov[i].iov_len = len;
    msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to[i]; msgs[i].msg_hdr.msg_namelen = sizeof to[i];
  }
  int sent = n ? sendmmsg(fd, msgs, n, MSG_DONTWAIT) : 0;
  napi_value out;
  napi_create_int32(env, sent < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno) : sent, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "bindToDevice", NAPI_AUTO_LENGTH, bind_to_device, NULL, &fn);
  napi_set_named_property(env, exports, "bindToDevice", fn);
  napi_create_function(env, "sendBatch", NAPI_AUTO_LENGTH, send_batch, NULL, &fn);
  napi_set_named_property(env, exports, "sendBatch", fn);
  return exports;
}
