// Strata's Node-API addon: the Linux system calls Node has no API for
// (extended attributes, mknod, mount, umount2). Every entry point runs
// either inline (the `*Sync` wrappers in TypeScript) or on libuv's thread
// pool returning a Promise; both share one request struct so the two paths
// cannot drift apart. Errors carry errno's name as `code`, like Node's own.
//
// Built by packages/sys/src/_native.ts with: g++ -O2 -shared -fPIC.
// Node-API is ABI-stable, so a build against any Node >= 18 headers loads
// into Node 24.
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <string>
#include <vector>

namespace {

enum Op { kGet, kSet, kList, kRemove, kGetAll, kMknod, kMount, kUmount };

struct Request {
  Op op;
  bool nofollow = false;
  std::string path, name, source, fstype, data;
  std::vector<unsigned char> value;
  int flags = 0;
  unsigned long mflags = 0;
  unsigned mode = 0;
  unsigned major = 0, minor = 0;
  // results
  int err = 0;
  const char* syscall = "";
  bool absent = false;
  std::vector<std::string> names;
  std::vector<std::vector<unsigned char>> values;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

ssize_t do_get(const Request& r, const std::string& name, void* buf, size_t n) {
  return r.nofollow ? lgetxattr(r.path.c_str(), name.c_str(), buf, n)
                    : getxattr(r.path.c_str(), name.c_str(), buf, n);
}

ssize_t do_list(const Request& r, char* buf, size_t n) {
  return r.nofollow ? llistxattr(r.path.c_str(), buf, n) : listxattr(r.path.c_str(), buf, n);
}

// Reads one attribute, growing the buffer when it changed between the
// size probe and the read (ERANGE). Returns 0, or -1 with errno set.
int read_one(const Request& r, const std::string& name, std::vector<unsigned char>& out) {
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = do_get(r, name, nullptr, 0);
    if (n < 0) return -1;
    out.resize(static_cast<size_t>(n) + 1);
    ssize_t m = do_get(r, name, out.data(), out.size());
    if (m >= 0) {
      out.resize(static_cast<size_t>(m));
      return 0;
    }
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

int read_names(const Request& r, std::vector<std::string>& names) {
  std::vector<char> buf;
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = do_list(r, nullptr, 0);
    if (n < 0) return -1;
    if (n == 0) return 0;
    buf.resize(static_cast<size_t>(n) + 1);
    ssize_t m = do_list(r, buf.data(), buf.size());
    if (m < 0) {
      if (errno == ERANGE) continue;
      return -1;
    }
    size_t start = 0;
    for (size_t i = 0; i < static_cast<size_t>(m); i++) {
      if (buf[i] == '\0') {
        if (i > start) names.emplace_back(buf.data() + start, i - start);
        start = i + 1;
      }
    }
    return 0;
  }
  errno = ERANGE;
  return -1;
}

void execute_request(Request& r) {
  errno = 0;
  int rc = 0;
  switch (r.op) {
    case kGet:
      r.syscall = r.nofollow ? "lgetxattr" : "getxattr";
      rc = read_one(r, r.name, r.value);
      if (rc < 0 && errno == ENODATA) {
        r.absent = true;
        rc = 0;
      }
      break;
    case kSet:
      r.syscall = r.nofollow ? "lsetxattr" : "setxattr";
      rc = r.nofollow
               ? lsetxattr(r.path.c_str(), r.name.c_str(), r.value.data(), r.value.size(), r.flags)
               : setxattr(r.path.c_str(), r.name.c_str(), r.value.data(), r.value.size(), r.flags);
      break;
    case kList:
      r.syscall = r.nofollow ? "llistxattr" : "listxattr";
      rc = read_names(r, r.names);
      break;
    case kRemove:
      r.syscall = r.nofollow ? "lremovexattr" : "removexattr";
      rc = r.nofollow ? lremovexattr(r.path.c_str(), r.name.c_str())
                      : removexattr(r.path.c_str(), r.name.c_str());
      break;
    case kGetAll: {
      r.syscall = r.nofollow ? "llistxattr" : "listxattr";
      std::vector<std::string> listed;
      rc = read_names(r, listed);
      if (rc < 0) break;
      r.syscall = r.nofollow ? "lgetxattr" : "getxattr";
      for (const std::string& name : listed) {
        std::vector<unsigned char> v;
        if (read_one(r, name, v) < 0) {
          if (errno == ENODATA) continue;  // removed since the listing
          rc = -1;
          break;
        }
        r.names.push_back(name);
        r.values.push_back(std::move(v));
      }
      break;
    }
    case kMknod:
      r.syscall = "mknod";
      rc = mknod(r.path.c_str(), static_cast<mode_t>(r.mode), makedev(r.major, r.minor));
      break;
    case kMount:
      r.syscall = "mount";
      rc = mount(r.source.c_str(), r.path.c_str(), r.fstype.empty() ? nullptr : r.fstype.c_str(),
                 r.mflags, r.data.empty() ? nullptr : r.data.c_str());
      break;
    case kUmount:
      r.syscall = "umount2";
      rc = umount2(r.path.c_str(), r.flags);
      break;
  }
  r.err = rc < 0 ? errno : 0;
}

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) return nullptr;            \
  } while (0)

napi_value make_error(napi_env env, const Request& r) {
  const char* code = strerrorname_np(r.err);
  std::string msg = std::string(code ? code : "EUNKNOWN") + ": " + strerror(r.err) + ", " +
                    r.syscall + " '" + r.path + "'";
  napi_value js_code, js_msg, err, js_errno, js_syscall, js_path;
  napi_create_string_utf8(env, code ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &js_code);
  napi_create_string_utf8(env, msg.c_str(), msg.size(), &js_msg);
  napi_create_error(env, js_code, js_msg, &err);
  napi_create_int32(env, -r.err, &js_errno);
  napi_create_string_utf8(env, r.syscall, NAPI_AUTO_LENGTH, &js_syscall);
  napi_create_string_utf8(env, r.path.c_str(), r.path.size(), &js_path);
  napi_set_named_property(env, err, "errno", js_errno);
  napi_set_named_property(env, err, "syscall", js_syscall);
  napi_set_named_property(env, err, "path", js_path);
  return err;
}

// A plain Uint8Array (not a Buffer), so values compare equal to what callers build.
napi_value make_buffer(napi_env env, const std::vector<unsigned char>& v) {
  napi_value ab, out;
  void* data = nullptr;
  napi_create_arraybuffer(env, v.size(), &data, &ab);
  if (!v.empty()) memcpy(data, v.data(), v.size());
  napi_create_typedarray(env, napi_uint8_array, v.size(), ab, 0, &out);
  return out;
}

napi_value make_result(napi_env env, const Request& r) {
  napi_value out;
  switch (r.op) {
    case kGet:
      if (r.absent) {
        napi_get_undefined(env, &out);
        return out;
      }
      return make_buffer(env, r.value);
    case kList: {
      napi_create_array_with_length(env, r.names.size(), &out);
      for (size_t i = 0; i < r.names.size(); i++) {
        napi_value s;
        napi_create_string_utf8(env, r.names[i].c_str(), r.names[i].size(), &s);
        napi_set_element(env, out, static_cast<uint32_t>(i), s);
      }
      return out;
    }
    case kGetAll: {
      // A flat array [name0, value0, name1, value1, ...]: cheaper to build
      // here than a Map, which the TypeScript side makes.
      napi_create_array_with_length(env, r.names.size() * 2, &out);
      for (size_t i = 0; i < r.names.size(); i++) {
        napi_value s;
        napi_create_string_utf8(env, r.names[i].c_str(), r.names[i].size(), &s);
        napi_set_element(env, out, static_cast<uint32_t>(2 * i), s);
        napi_set_element(env, out, static_cast<uint32_t>(2 * i + 1), make_buffer(env, r.values[i]));
      }
      return out;
    }
    default:
      napi_get_undefined(env, &out);
      return out;
  }
}

void on_execute(napi_env, void* data) { execute_request(*static_cast<Request*>(data)); }

void on_complete(napi_env env, napi_status, void* data) {
  Request* r = static_cast<Request*>(data);
  if (r->err != 0) {
    napi_reject_deferred(env, r->deferred, make_error(env, *r));
  } else {
    napi_resolve_deferred(env, r->deferred, make_result(env, *r));
  }
  napi_delete_async_work(env, r->work);
  delete r;
}

// Runs the request now (sync) or queues it (async) and returns the result,
// or a Promise of it.
napi_value dispatch(napi_env env, Request* r, bool async) {
  if (!async) {
    execute_request(*r);
    napi_value out = nullptr;
    if (r->err != 0) {
      napi_throw(env, make_error(env, *r));
    } else {
      out = make_result(env, *r);
    }
    delete r;
    return out;
  }
  napi_value promise, name;
  if (napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "strata_sys", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, on_execute, on_complete, r, &r->work) != napi_ok ||
      napi_queue_async_work(env, r->work) != napi_ok) {
    delete r;
    napi_throw_error(env, "EINTERNAL", "strata_sys: cannot queue async work");
    return nullptr;
  }
  return promise;
}

bool get_string(napi_env env, napi_value v, std::string& out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "strata_sys: expected a string");
    return false;
  }
  out.resize(len + 1);
  napi_get_value_string_utf8(env, v, out.data(), len + 1, &len);
  out.resize(len);
  if (out.find('\0') != std::string::npos) {
    napi_throw_type_error(env, "EINVAL", "strata_sys: string contains a NUL byte");
    return false;
  }
  return true;
}

bool get_bool(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

uint32_t get_u32(napi_env env, napi_value v) {
  uint32_t n = 0;
  napi_get_value_uint32(env, v, &n);
  return n;
}

template <size_t N>
bool get_args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != N) {
    napi_throw_type_error(env, "EINVAL", "strata_sys: wrong number of arguments");
    return false;
  }
  return true;
}

// getxattr(path, name, nofollow, async)
napi_value js_get(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kGet;
  if (!get_string(env, a[0], r->path) || !get_string(env, a[1], r->name)) {
    delete r;
    return nullptr;
  }
  r->nofollow = get_bool(env, a[2]);
  return dispatch(env, r, get_bool(env, a[3]));
}

// setxattr(path, name, value, nofollow, flags, async)
napi_value js_set(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kSet;
  if (!get_string(env, a[0], r->path) || !get_string(env, a[1], r->name)) {
    delete r;
    return nullptr;
  }
  bool is_typed = false;
  napi_is_typedarray(env, a[2], &is_typed);
  if (!is_typed) {
    delete r;
    napi_throw_type_error(env, "EINVAL", "strata_sys: value must be a Uint8Array");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  napi_get_typedarray_info(env, a[2], &type, &length, &data, &ab, &offset);
  if (type != napi_uint8_array) {
    delete r;
    napi_throw_type_error(env, "EINVAL", "strata_sys: value must be a Uint8Array");
    return nullptr;
  }
  // Copied: the caller may reuse its buffer while the work runs.
  r->value.assign(static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + length);
  r->nofollow = get_bool(env, a[3]);
  r->flags = static_cast<int>(get_u32(env, a[4]));
  return dispatch(env, r, get_bool(env, a[5]));
}

// listxattr(path, nofollow, async) / getxattrs(path, nofollow, async)
napi_value list_like(napi_env env, napi_callback_info info, Op op) {
  napi_value a[3];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = op;
  if (!get_string(env, a[0], r->path)) {
    delete r;
    return nullptr;
  }
  r->nofollow = get_bool(env, a[1]);
  return dispatch(env, r, get_bool(env, a[2]));
}
napi_value js_list(napi_env env, napi_callback_info info) { return list_like(env, info, kList); }
napi_value js_getall(napi_env env, napi_callback_info info) {
  return list_like(env, info, kGetAll);
}

// removexattr(path, name, nofollow, async)
napi_value js_remove(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kRemove;
  if (!get_string(env, a[0], r->path) || !get_string(env, a[1], r->name)) {
    delete r;
    return nullptr;
  }
  r->nofollow = get_bool(env, a[2]);
  return dispatch(env, r, get_bool(env, a[3]));
}

// mknod(path, mode, major, minor, async); mode includes the S_IF* type bits.
napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value a[5];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kMknod;
  if (!get_string(env, a[0], r->path)) {
    delete r;
    return nullptr;
  }
  r->mode = get_u32(env, a[1]);
  r->major = get_u32(env, a[2]);
  r->minor = get_u32(env, a[3]);
  return dispatch(env, r, get_bool(env, a[4]));
}

// mount(source, target, fstype, flags, data, async)
napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kMount;
  if (!get_string(env, a[0], r->source) || !get_string(env, a[1], r->path) ||
      !get_string(env, a[2], r->fstype) || !get_string(env, a[4], r->data)) {
    delete r;
    return nullptr;
  }
  double flags = 0;
  napi_get_value_double(env, a[3], &flags);
  r->mflags = static_cast<unsigned long>(flags);
  return dispatch(env, r, get_bool(env, a[5]));
}

// umount2(target, flags, async)
napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value a[3];
  if (!get_args(env, info, a)) return nullptr;
  Request* r = new Request();
  r->op = kUmount;
  if (!get_string(env, a[0], r->path)) {
    delete r;
    return nullptr;
  }
  r->flags = static_cast<int>(get_u32(env, a[1]));
  return dispatch(env, r, get_bool(env, a[2]));
}

napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"getxattr", nullptr, js_get, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setxattr", nullptr, js_set, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"listxattr", nullptr, js_list, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"removexattr", nullptr, js_remove, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getxattrs", nullptr, js_getall, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"mknod", nullptr, js_mknod, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"mount", nullptr, js_mount, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"umount2", nullptr, js_umount, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
