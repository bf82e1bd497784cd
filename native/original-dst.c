/*
 * Meltemi's one native binding: the original destination of a connection that iptables REDIRECTed
 * to a sidecar's capture listener (getsockopt SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST), which Node's
 * net module cannot read. Built at install with gcc against Node's own N-API headers; N-API is
 * ABI-stable, so a Node upgrade needs no rebuild.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> both define it as 80. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value code, msg, error;
  napi_create_string_utf8(env, err == ENOENT ? "ENOENT" : err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : "ESYSCALL", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_value errno_value;
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_throw(env, error);
  return NULL;
}

static int fd_argument(napi_env env, napi_callback_info info, int *fd) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, "EINVAL", "expected a socket file descriptor (a non-negative integer)");
    return 0;
  }
  return 1;
}

static napi_value address_object(napi_env env, const char *address, const char *family, int port) {
  napi_value result, value;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, result, "address", value);
  napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, result, "family", value);
  napi_create_int32(env, port, &value);
  napi_set_named_property(env, result, "port", value);
  return result;
}

/*
 * originalDst(fd) -> { address, family: 'IPv4' | 'IPv6', port }. The socket's own family decides
 * which table to ask; an IPv4 client on a dual-stack listener arrives v4-mapped and is asked at
 * SOL_IP. Throws an error with code ENOENT when the connection was not redirected (no NAT entry).
 */
static napi_value original_dst(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_argument(env, info, &fd)) return NULL;
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, "getsockname", errno);
  int v6 = local.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr);
  char text[INET6_ADDRSTRLEN];
  if (v6) {
    struct sockaddr_in6 dst;
    socklen_t dlen = sizeof dst;
    if (getsockopt(fd, SOL_IPV6, SO_ORIGINAL_DST, &dst, &dlen) != 0) return throw_errno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
    inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof text);
    return address_object(env, text, "IPv6", ntohs(dst.sin6_port));
  }
  struct sockaddr_in dst;
  socklen_t dlen = sizeof dst;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &dlen) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
  return address_object(env, text, "IPv4", ntohs(dst.sin_port));
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
