// The flotilla native addon: only the syscalls Node lacks. All protocol logic
// (rtnetlink messages, sysctl names, overlay options) lives in TypeScript.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "common.h"

namespace flotilla {

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  char buf[256];
  // GNU strerror_r returns the message pointer (maybe not buf).
  const char* msg = strerror_r(err, buf, sizeof buf);
  std::string text = std::string(syscall);
  if (!path.empty()) text += " " + path;
  text += ": ";
  text += msg;
  Napi::Error e = Napi::Error::New(env, text);
  Napi::Object o = e.Value();
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("syscall", Napi::String::New(env, syscall));
  o.Set("path", path.empty() ? env.Null() : Napi::String::New(env, path));
  o.Set("kernelMessage", Napi::String::New(env, msg));
  o.Set("native", Napi::Boolean::New(env, true));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowArg(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  Napi::Object o = e.Value();
  o.Set("errno", Napi::Number::New(env, EINVAL));
  o.Set("syscall", Napi::String::New(env, "args"));
  o.Set("path", env.Null());
  o.Set("kernelMessage", Napi::String::New(env, message));
  o.Set("native", Napi::Boolean::New(env, true));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowArg(info.Env(), std::string(name) + " must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowArg(info.Env(), std::string(name) + " must not contain NUL");
    return false;
  }
  return true;
}

bool ArgOptString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out, bool* has) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) {
    *has = false;
    return true;
  }
  *has = true;
  return ArgString(info, i, name, out);
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out, bool optional, int64_t def) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) {
    if (optional) {
      *out = def;
      return true;
    }
    ThrowArg(info.Env(), std::string(name) + " must be an integer");
    return false;
  }
  if (!info[i].IsNumber()) {
    ThrowArg(info.Env(), std::string(name) + " must be an integer");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) {
    ThrowArg(info.Env(), std::string(name) + " must be an integer");
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

namespace {
struct ThreadArg {
  const std::function<void()>* fn;
};
void* ThreadMain(void* p) {
  auto* a = static_cast<ThreadArg*>(p);
  (*a->fn)();
  return nullptr;
}
}  // namespace

int RunOnDedicatedThread(const std::function<void()>& fn) {
  ThreadArg arg{&fn};
  pthread_t t;
  // Block every signal in the helper: signal delivery stays on Node's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&t, nullptr, ThreadMain, &arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return rc;
  pthread_join(t, nullptr);
  return 0;
}

static Napi::Value AbiVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), 2);
}

static Napi::Value StrError(const Napi::CallbackInfo& info) {
  int64_t n;
  if (!ArgInt(info, 0, "errno", &n)) return info.Env().Undefined();
  char buf[256];
  return Napi::String::New(info.Env(), strerror_r(static_cast<int>(n), buf, sizeof buf));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Function::New(env, AbiVersion));
  exports.Set("strerror", Napi::Function::New(env, StrError));
  InitNetns(env, exports);
  InitMount(env, exports);
  InitNetlink(env, exports);
  return exports;
}

}  // namespace flotilla

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return flotilla::Init(env, exports); }

NODE_API_MODULE(flotilla_native, InitModule)
