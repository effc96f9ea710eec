// mount/umount2 (overlayfs for container root filesystems), mknod and
// extended attributes (OCI whiteouts → overlay whiteouts). These act on the
// process's mount namespace, so they run on the calling thread.
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <string>

#include "common.h"

namespace flotilla {
namespace {

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source, target, fstype, data;
  bool hasSource = false, hasFstype = false, hasData = false;
  int64_t flags;
  if (!ArgOptString(info, 0, "source", &source, &hasSource) || !ArgString(info, 1, "target", &target) ||
      !ArgOptString(info, 2, "fstype", &fstype, &hasFstype) || !ArgInt(info, 3, "flags", &flags, true, 0) ||
      !ArgOptString(info, 4, "data", &data, &hasData))
    return env.Undefined();
  if (mount(hasSource ? source.c_str() : nullptr, target.c_str(), hasFstype ? fstype.c_str() : nullptr,
            static_cast<unsigned long>(flags), hasData ? data.c_str() : nullptr) != 0)
    return ThrowErrno(env, errno, "mount", target);
  return env.Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target;
  int64_t flags;
  if (!ArgString(info, 0, "target", &target) || !ArgInt(info, 1, "flags", &flags, true, 0)) return env.Undefined();
  if (umount2(target.c_str(), static_cast<int>(flags)) != 0) return ThrowErrno(env, errno, "umount2", target);
  return env.Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t mode, major_, minor_;
  if (!ArgString(info, 0, "path", &path) || !ArgInt(info, 1, "mode", &mode) || !ArgInt(info, 2, "major", &major_) ||
      !ArgInt(info, 3, "minor", &minor_))
    return env.Undefined();
  dev_t dev = makedev(static_cast<unsigned>(major_), static_cast<unsigned>(minor_));
  if (mknod(path.c_str(), static_cast<mode_t>(mode), dev) != 0) return ThrowErrno(env, errno, "mknod", path);
  return env.Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ArgString(info, 0, "path", &path) || !ArgString(info, 1, "name", &name)) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsBuffer()) return ThrowArg(env, "value must be a Buffer");
  int64_t flags;
  if (!ArgInt(info, 3, "flags", &flags, true, 0)) return env.Undefined();
  auto value = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), static_cast<int>(flags)) != 0)
    return ThrowErrno(env, errno, "lsetxattr", path);
  return env.Undefined();
}

// Returns the attribute's value, or null when the file has no such attribute.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (!ArgString(info, 0, "path", &path) || !ArgString(info, 1, "name", &name)) return env.Undefined();
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return env.Null();
      return ThrowErrno(env, errno, "lgetxattr", path);
    }
    auto buf = Napi::Buffer<char>::New(env, static_cast<size_t>(n));
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), buf.Data(), static_cast<size_t>(n));
    if (m >= 0) return Napi::Buffer<char>::Copy(env, buf.Data(), static_cast<size_t>(m));
    if (errno == ENODATA) return env.Null();
    if (errno != ERANGE) return ThrowErrno(env, errno, "lgetxattr", path);
  }
  return ThrowErrno(env, ERANGE, "lgetxattr", path);
}

}  // namespace

void InitMount(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount", Napi::Function::New(env, Umount));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
  Napi::Object c = Napi::Object::New(env);
#define K(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  K(MS_RDONLY);
  K(MS_NOSUID);
  K(MS_NODEV);
  K(MS_NOEXEC);
  K(MS_SYNCHRONOUS);
  K(MS_REMOUNT);
  K(MS_MANDLOCK);
  K(MS_DIRSYNC);
  K(MS_NOATIME);
  K(MS_NODIRATIME);
  K(MS_BIND);
  K(MS_MOVE);
  K(MS_REC);
  K(MS_SILENT);
  K(MS_UNBINDABLE);
  K(MS_PRIVATE);
  K(MS_SLAVE);
  K(MS_SHARED);
  K(MS_RELATIME);
  K(MS_STRICTATIME);
  K(MS_LAZYTIME);
  K(MNT_FORCE);
  K(MNT_DETACH);
  K(MNT_EXPIRE);
  K(UMOUNT_NOFOLLOW);
  K(XATTR_CREATE);
  K(XATTR_REPLACE);
#undef K
  exports.Set("constants", c);
}

}  // namespace flotilla
