// A netlink socket for JavaScript: non-blocking, opened inside a network
// namespace, with send/recv of whole datagrams and a libuv poll watcher that
// tells JS when datagrams are queued. The message protocol is TypeScript's.
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "common.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace flotilla {
namespace {

constexpr size_t kRecvBuf = 1 << 16;

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSocket",
                       {
                           InstanceMethod("send", &NetlinkSocket::Send),
                           InstanceMethod("recv", &NetlinkSocket::Recv),
                           InstanceMethod("poll", &NetlinkSocket::Poll),
                           InstanceMethod("close", &NetlinkSocket::Close),
                           InstanceAccessor("fd", &NetlinkSocket::Fd, nullptr),
                           InstanceAccessor("portId", &NetlinkSocket::PortId, nullptr),
                       });
  }

  // new NetlinkSocket(nsPath: string | null, protocol: number, groups?: number)
  explicit NetlinkSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkSocket>(info) {
    Napi::Env env = info.Env();
    std::string ns;
    bool hasNs = false;
    int64_t protocol, groups;
    if (!ArgOptString(info, 0, "nsPath", &ns, &hasNs) || !ArgInt(info, 1, "protocol", &protocol) ||
        !ArgInt(info, 2, "groups", &groups, true, 0))
      return;
    int err = 0;
    const char* sc = "";
    int fd = SocketIn(hasNs, ns, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, static_cast<int>(protocol), &err, &sc);
    if (fd < 0) {
      ThrowErrno(env, err, sc, ns);
      return;
    }
    int one = 1;
    // Best effort: extended acks carry the kernel's text; capped acks keep error replies small.
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    int rcvbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = static_cast<uint32_t>(groups);
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
      int e = errno;
      close(fd);
      ThrowErrno(env, e, "bind", ns);
      return;
    }
    socklen_t len = sizeof sa;
    if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sa), &len) != 0) {
      int e = errno;
      close(fd);
      ThrowErrno(env, e, "getsockname", ns);
      return;
    }
    fd_ = fd;
    portId_ = sa.nl_pid;
    buf_.resize(kRecvBuf);
  }

  ~NetlinkSocket() override { Shutdown(); }

 private:
  void Shutdown() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value PortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portId_); }

  bool CheckOpen(Napi::Env env, const char* sc) {
    if (fd_ < 0) {
      ThrowErrno(env, EBADF, sc, "");
      return false;
    }
    return true;
  }

  // send(buf: Buffer): void — one datagram to the kernel.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "sendto")) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsBuffer()) return ThrowArg(env, "message must be a Buffer");
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    for (;;) {
      ssize_t n = sendto(fd_, b.Data(), b.Length(), 0, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa);
      if (n >= 0) break;
      if (errno == EINTR) continue;
      return ThrowErrno(env, errno, "sendto", "");
    }
    return env.Undefined();
  }

  // recv(): Buffer | null — one datagram from the kernel, null when none is queued.
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env, "recvfrom")) return env.Undefined();
    for (;;) {
      struct sockaddr_nl sa;
      socklen_t len = sizeof sa;
      ssize_t n = recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC,
                           reinterpret_cast<struct sockaddr*>(&sa), &len);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
        return ThrowErrno(env, errno, "recvfrom", "");
      }
      if (static_cast<size_t>(n) > buf_.size()) return ThrowErrno(env, EMSGSIZE, "recvfrom", "");
      if (sa.nl_pid != 0) continue;  // only the kernel talks to us
      return Napi::Buffer<uint8_t>::Copy(env, buf_.data(), static_cast<size_t>(n));
    }
  }

  // poll(cb: (() => void) | null): calls cb on the main thread whenever the
  // socket is readable; null stops watching. While watching, the socket keeps
  // the event loop alive and is not garbage-collected.
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      if (poll_ != nullptr && polling_) {
        uv_poll_stop(poll_);
        polling_ = false;
        Unref();
      }
      callback_.Reset();
      return env.Undefined();
    }
    if (!info[0].IsFunction()) return ThrowArg(env, "callback must be a function or null");
    if (!CheckOpen(env, "poll")) return env.Undefined();
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (poll_ == nullptr) {
      uv_loop_t* loop = nullptr;
      if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return ThrowErrno(env, EINVAL, "uv_loop", "");
      poll_ = new uv_poll_t;
      int rc = uv_poll_init(loop, poll_, fd_);
      if (rc != 0) {
        delete poll_;
        poll_ = nullptr;
        return ThrowErrno(env, -rc, "uv_poll_init", "");
      }
      poll_->data = this;
      if (!asyncContext_) asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "flotilla:netlink");
    }
    if (!polling_) {
      int rc = uv_poll_start(poll_, UV_READABLE, OnReadable);
      if (rc != 0) return ThrowErrno(env, -rc, "uv_poll_start", "");
      polling_ = true;
      Ref();
    }
    return env.Undefined();
  }

  static void OnReadable(uv_poll_t* handle, int /*status*/, int /*events*/) {
    auto* self = static_cast<NetlinkSocket*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // MakeCallback runs the microtask queue afterwards, so promises settle.
    self->callback_.MakeCallback(env.Global(), {}, *self->asyncContext_);
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (polling_) {
      polling_ = false;
      Unref();
    }
    callback_.Reset();
    Shutdown();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uint32_t portId_ = 0;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  std::vector<uint8_t> buf_;
};

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkSocket", NetlinkSocket::Define(env));
}

}  // namespace flotilla
