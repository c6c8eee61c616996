// SO_BINDTODEVICE for Node dgram sockets. Node cannot bind a UDP socket to a device, and a DHCP
// server on a router with several guest tiers must (1) know which interface a broadcast came in
// on and (2) send its reply out of that same interface even though 255.255.255.255 has no route.
// One socket per interface bound to 0.0.0.0:67 with SO_REUSEADDR + SO_BINDTODEVICE gives both:
// the kernel delivers a tier's packets only to that tier's socket and routes its sends out of it.
// N-API only, so the built object does not depend on the Node ABI version.
#include <node_api.h>
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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "bindToDevice", NAPI_AUTO_LENGTH, bind_to_device, NULL, &fn);
  napi_set_named_property(env, exports, "bindToDevice", fn);
  return exports;
}
