// Network namespaces: create + pin, delete, and open sockets/files inside one.
//
// setns/unshare change only the calling thread. They therefore run on a
// dedicated pthread that dies right after the work: the namespace never leaks
// into Node's main thread or a libuv pool thread. What crosses back is a file
// descriptor, which keeps working from any thread.
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <string>

#include "common.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace flotilla {
namespace {

std::string ParentDir(const std::string& p) {
  auto pos = p.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return p.substr(0, pos);
}

// Like `ip netns`: make the pin directory a shared mount point so that pins
// created or removed later propagate to (and vanish from) mount namespaces
// cloned after this point; otherwise a copied pin keeps a deleted namespace alive.
int MakeShared(const std::string& dir, const char** syscall) {
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return 0;
  if (errno != EINVAL) {
    *syscall = "mount";
    return errno;
  }
  if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
    *syscall = "mount";
    return errno;
  }
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    *syscall = "mount";
    return errno;
  }
  return 0;
}

// Opens nsPath and checks that it is a network namespace. Returns the fd or -1
// with *err/*syscall set.
int OpenNetns(const std::string& nsPath, int* err, const char** syscall) {
  int fd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    *syscall = "open";
    return -1;
  }
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0 || type != CLONE_NEWNET) {
    *err = EINVAL;
    *syscall = "setns";  // what would have failed: not a network namespace
    close(fd);
    return -1;
  }
  return fd;
}

struct Result {
  int value = -1;
  int err = 0;
  const char* syscall = "";
};

// Runs work() inside the network namespace at nsPath (or in the caller's
// namespace when hasNs is false) on a dedicated thread.
template <typename Work>
Result InNetns(bool hasNs, const std::string& nsPath, Work work) {
  Result r;
  int nsfd = -1;
  if (hasNs) {
    nsfd = OpenNetns(nsPath, &r.err, &r.syscall);
    if (nsfd < 0) return r;
  }
  int rc = RunOnDedicatedThread([&]() {
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) != 0) {
      r.err = errno;
      r.syscall = "setns";
      return;
    }
    work(&r);
  });
  if (nsfd >= 0) close(nsfd);
  if (rc != 0) {
    r.err = rc;
    r.syscall = "pthread_create";
    r.value = -1;
  }
  return r;
}

Napi::Value NetnsCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pin;
  if (!ArgString(info, 0, "pinPath", &pin)) return env.Undefined();
  bool share = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (share) {
    const char* sc = "";
    int err = MakeShared(ParentDir(pin), &sc);
    if (err != 0) return ThrowErrno(env, err, sc, ParentDir(pin));
  }
  int fd = open(pin.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "open", pin);
  close(fd);
  Result r;
  int rc = RunOnDedicatedThread([&]() {
    if (unshare(CLONE_NEWNET) != 0) {
      r.err = errno;
      r.syscall = "unshare";
      return;
    }
    if (mount("/proc/thread-self/ns/net", pin.c_str(), "none", MS_BIND, nullptr) != 0) {
      r.err = errno;
      r.syscall = "mount";
      return;
    }
    r.value = 0;
  });
  if (rc != 0) {
    r.err = rc;
    r.syscall = "pthread_create";
  }
  if (r.err != 0) {
    unlink(pin.c_str());
    return ThrowErrno(env, r.err, r.syscall, pin);
  }
  return env.Undefined();
}

// 1 = a pinned network namespace, 0 = exists but is something else.
int CheckPin(const std::string& pin, int* err, const char** syscall) {
  struct statfs sfs;
  if (statfs(pin.c_str(), &sfs) != 0) {
    *err = errno;
    *syscall = "statfs";
    return -1;
  }
  if (static_cast<unsigned long>(sfs.f_type) != static_cast<unsigned long>(NSFS_MAGIC)) return 0;
  int fd = open(pin.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    *syscall = "open";
    return -1;
  }
  int type = ioctl(fd, NS_GET_NSTYPE);
  close(fd);
  return type == CLONE_NEWNET ? 1 : 0;
}

Napi::Value NetnsDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pin;
  if (!ArgString(info, 0, "pinPath", &pin)) return env.Undefined();
  int err = 0;
  const char* sc = "";
  int k = CheckPin(pin, &err, &sc);
  if (k < 0) return ThrowErrno(env, err, sc, pin);
  if (k == 0) return ThrowErrno(env, EINVAL, "umount2", pin);
  if (umount2(pin.c_str(), MNT_DETACH) != 0) return ThrowErrno(env, errno, "umount2", pin);
  if (unlink(pin.c_str()) != 0 && errno != ENOENT) return ThrowErrno(env, errno, "unlink", pin);
  return env.Undefined();
}

Napi::Value NetnsIsPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pin;
  if (!ArgString(info, 0, "path", &pin)) return env.Undefined();
  int err = 0;
  const char* sc = "";
  int k = CheckPin(pin, &err, &sc);
  if (k < 0 && err != ENOENT && err != ENOTDIR) return ThrowErrno(env, err, sc, pin);
  return Napi::Boolean::New(env, k == 1);
}

Napi::Value SocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns;
  bool hasNs = false;
  int64_t domain, type, protocol;
  if (!ArgOptString(info, 0, "nsPath", &ns, &hasNs)) return env.Undefined();
  if (!ArgInt(info, 1, "domain", &domain) || !ArgInt(info, 2, "type", &type) ||
      !ArgInt(info, 3, "protocol", &protocol))
    return env.Undefined();
  auto work = [&](Result* r) {
    int fd = socket(static_cast<int>(domain), static_cast<int>(type) | SOCK_CLOEXEC, static_cast<int>(protocol));
    if (fd < 0) {
      r->err = errno;
      r->syscall = "socket";
      return;
    }
    r->value = fd;
  };
  Result r;
  if (hasNs) {
    r = InNetns(true, ns, work);
  } else {
    work(&r);  // the caller's own namespace: no setns needed, no thread needed
  }
  if (r.err != 0) return ThrowErrno(env, r.err, r.syscall, ns);
  return Napi::Number::New(env, r.value);
}

Napi::Value OpenInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns, path;
  bool hasNs = false;
  int64_t flags, mode;
  if (!ArgOptString(info, 0, "nsPath", &ns, &hasNs) || !ArgString(info, 1, "path", &path) ||
      !ArgInt(info, 2, "flags", &flags) || !ArgInt(info, 3, "mode", &mode, true, 0666))
    return env.Undefined();
  auto work = [&](Result* r) {
    int fd = open(path.c_str(), static_cast<int>(flags) | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) {
      r->err = errno;
      r->syscall = "open";
      return;
    }
    r->value = fd;
  };
  Result r;
  if (hasNs) {
    r = InNetns(true, ns, work);
  } else {
    work(&r);
  }
  if (r.err != 0) {
    std::string where = (r.syscall == std::string("open")) ? path : ns;
    return ThrowErrno(env, r.err, r.syscall, where);
  }
  return Napi::Number::New(env, r.value);
}

}  // namespace

int SocketIn(bool hasNs, const std::string& nsPath, int domain, int type, int protocol, int* err,
             const char** syscall) {
  auto work = [&](Result* r) {
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
      r->err = errno;
      r->syscall = "socket";
      return;
    }
    r->value = fd;
  };
  Result r;
  if (hasNs) {
    r = InNetns(true, nsPath, work);
  } else {
    work(&r);
  }
  *err = r.err;
  *syscall = r.syscall;
  return r.err != 0 ? -1 : r.value;
}

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCreate", Napi::Function::New(env, NetnsCreate));
  exports.Set("netnsDelete", Napi::Function::New(env, NetnsDelete));
  exports.Set("netnsIsPin", Napi::Function::New(env, NetnsIsPin));
  exports.Set("socketInNetns", Napi::Function::New(env, SocketInNetns));
  exports.Set("openInNetns", Napi::Function::New(env, OpenInNetns));
}

}  // namespace flotilla
