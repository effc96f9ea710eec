// Shared helpers of the flotilla addon: typed error objects and running a
// piece of work on a dedicated OS thread (the only place setns/unshare may
// happen: never Node's main thread, never a libuv pool thread).
#pragma once

#include <napi.h>

#include <functional>
#include <string>

namespace flotilla {

// Throws a JS Error carrying { errno, syscall, path, kernelMessage } as own
// properties. The TypeScript wrapper (native/errors.ts) turns it into a typed
// NativeError. Returns env.Undefined() so callers can `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path);

// Throws a TypeError-like error for bad arguments (errno EINVAL, syscall "args").
Napi::Value ThrowArg(Napi::Env env, const std::string& message);

// Reads a string argument; on failure throws and returns false.
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out);
// Reads an optional string argument (null/undefined → has=false).
bool ArgOptString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out, bool* has);
// Reads an integer argument (or default when absent and allowed).
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out, bool optional = false,
            int64_t def = 0);

// Runs fn on a fresh pthread and waits for it. Returns 0 or the errno of
// pthread_create. fn runs with all signals blocked.
int RunOnDedicatedThread(const std::function<void()>& fn);

// Opens a socket inside the network namespace at nsPath (hasNs) or in the
// caller's; returns the fd or -1 with *err/*syscall set.
int SocketIn(bool hasNs, const std::string& nsPath, int domain, int type, int protocol, int* err,
             const char** syscall);

void InitNetns(Napi::Env env, Napi::Object exports);
void InitMount(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);

}  // namespace flotilla
