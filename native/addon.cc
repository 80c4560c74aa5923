// mpl_torch: the project's thin N-API binding over libtorch.
//
// Design (see docs/ARCHITECTURE.md):
//  * A tensor crosses into JavaScript as an External holding an at::Tensor. JavaScript frees it
//    deterministically with dispose() (src/torch/scope.ts does that for whole scopes); the GC finalizer
//    only releases the small holder struct, and releases the storage too if JS forgot (a safety net that
//    the live-tensor counter makes visible in tests).
//  * Every exported function is an op: no model logic lives here.
//  * Any C++ exception (c10::Error: shape, dtype, index errors) becomes a JavaScript Error whose message
//    names the op and the shapes/dtypes of its tensor arguments. The process never aborts on a bad op.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/api/include/torch/cuda.h>

// The device-generic allocator statistics (at::accelerator::getDeviceStats) exist from libtorch 2.9 and need no
// CUDA headers; before, the benchmarks report no device peak for mpl.
#if defined(MPL_WITH_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9)) && \
    __has_include(<ATen/DeviceAccelerator.h>)
#include <ATen/DeviceAccelerator.h>
#define MPL_DEVICE_MEMORY_STATS 1
#endif

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Holder {
  at::Tensor t;
  bool alive;
};

struct GenHolder {
  at::Generator g;
};

std::atomic<int64_t> g_live{0};
const napi_type_tag kTensorTag = {0x6d706c5f74656e73ULL, 0x6f725f686f6c6472ULL};
const napi_type_tag kGenTag = {0x6d706c5f67656e65ULL, 0x7261746f725f6867ULL};

void finalizeHolder(Napi::Env, Holder* h) {
  if (h->alive) g_live--;
  delete h;
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  auto* h = new Holder{std::move(t), true};
  g_live++;
  auto ext = Napi::External<Holder>::New(env, h, finalizeHolder);
  ext.TypeTag(&kTensorTag);
  return ext;
}

bool isTensor(const Napi::Value& v) {
  return v.IsExternal() && v.As<Napi::External<Holder>>().CheckTypeTag(&kTensorTag);
}

Holder* holderOf(const Napi::Value& v) {
  if (!isTensor(v)) throw std::invalid_argument("expected a tensor handle");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->alive) throw std::invalid_argument("tensor was already disposed");
  return h;
}

std::string dtypeName(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return std::string(c10::toString(s));
  }
}

at::ScalarType dtypeFrom(const std::string& s) {
  if (s == "float32") return at::kFloat;
  if (s == "float16") return at::kHalf;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float64") return at::kDouble;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "uint8") return at::kByte;
  if (s == "bool") return at::kBool;
  throw std::invalid_argument("unknown dtype '" + s + "'");
}

std::string describe(const at::Tensor& t) {
  std::ostringstream os;
  os << "[";
  for (int64_t i = 0; i < t.dim(); i++) os << (i ? ", " : "") << t.size(i);
  os << "] " << dtypeName(t.scalar_type());
  if (!t.device().is_cpu()) os << " " << t.device().str();
  return os.str();
}

std::string describeArgs(const Napi::CallbackInfo& info) {
  std::ostringstream os;
  bool first = true;
  for (size_t i = 0; i < info.Length(); i++) {
    Napi::Value v = info[i];
    std::string d;
    if (isTensor(v)) {
      Holder* h = v.As<Napi::External<Holder>>().Data();
      d = h->alive ? describe(h->t) : "<disposed>";
    } else if (v.IsArray()) {
      auto a = v.As<Napi::Array>();
      if (a.Length() > 0 && isTensor(a.Get(uint32_t(0)))) {
        d = "(";
        for (uint32_t j = 0; j < a.Length(); j++) {
          Napi::Value e = a.Get(j);
          if (j) d += ", ";
          d += isTensor(e) ? describe(e.As<Napi::External<Holder>>().Data()->t) : "?";
        }
        d += ")";
      }
    }
    if (!d.empty()) {
      os << (first ? "" : "; ") << d;
      first = false;
    }
  }
  return os.str();
}

std::string firstLines(const std::string& s) {
  // c10 messages can carry a C++ backtrace after the first lines; keep the human part.
  std::string out;
  std::istringstream in(s);
  std::string line;
  int n = 0;
  while (std::getline(in, line) && n < 3) {
    if (line.rfind("Exception raised from", 0) == 0 || line.rfind("frame #", 0) == 0) break;
    if (line.empty()) continue;
    out += (n ? " " : "") + line;
    n++;
  }
  return out.empty() ? s : out;
}

[[noreturn]] void throwOp(const Napi::CallbackInfo& info, const char* op, const std::string& what) {
  std::string args = describeArgs(info);
  std::string msg = std::string(op) + (args.empty() ? "" : " (" + args + ")") + ": " + firstLines(what);
  throw Napi::Error::New(info.Env(), msg);
}

// ---- argument helpers -------------------------------------------------------------------------
at::Tensor& T(const Napi::CallbackInfo& info, size_t i) { return holderOf(info[i])->t; }

bool has(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull();
}

c10::optional<at::Tensor> OT(const Napi::CallbackInfo& info, size_t i) {
  if (!has(info, i)) return c10::nullopt;
  return T(info, i);
}

int64_t I(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw std::invalid_argument("argument " + std::to_string(i) + " must be an integer");
  return info[i].As<Napi::Number>().Int64Value();
}

double D(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw std::invalid_argument("argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool B(const Napi::CallbackInfo& info, size_t i, bool dflt = false) {
  if (!has(info, i)) return dflt;
  return info[i].ToBoolean().Value();
}

std::string S(const Napi::CallbackInfo& info, size_t i) { return info[i].ToString().Utf8Value(); }

std::vector<int64_t> IL(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw std::invalid_argument("argument " + std::to_string(i) + " must be an array of integers");
  auto a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t j = 0; j < a.Length(); j++) out[j] = a.Get(j).As<Napi::Number>().Int64Value();
  return out;
}

std::vector<at::Tensor> TL(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw std::invalid_argument("argument " + std::to_string(i) + " must be an array of tensors");
  auto a = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t j = 0; j < a.Length(); j++) out.push_back(holderOf(a.Get(j))->t);
  return out;
}

at::Scalar SC(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsBoolean()) return at::Scalar(info[i].As<Napi::Boolean>().Value());
  return at::Scalar(D(info, i));
}

// alpha of add/sub: an integer-valued number is an integral scalar, so integer tensors accept it
at::Scalar alphaOf(const Napi::CallbackInfo& info, size_t i) {
  if (!has(info, i)) return at::Scalar(int64_t(1));
  double a = D(info, i);
  if (a == double(int64_t(a))) return at::Scalar(int64_t(a));
  return at::Scalar(a);
}

c10::optional<at::Generator> G(const Napi::CallbackInfo& info, size_t i) {
  if (!has(info, i)) return c10::nullopt;
  auto ext = info[i].As<Napi::External<GenHolder>>();
  if (!ext.CheckTypeTag(&kGenTag)) throw std::invalid_argument("expected a generator handle");
  return ext.Data()->g;
}

at::TensorOptions opts(const Napi::CallbackInfo& info, size_t dtypeIdx, size_t deviceIdx) {
  at::TensorOptions o = at::TensorOptions().dtype(has(info, dtypeIdx) ? dtypeFrom(S(info, dtypeIdx)) : at::kFloat);
  if (has(info, deviceIdx)) o = o.device(at::Device(S(info, deviceIdx)));
  return o;
}

// Binary op where the right operand may be a tensor or a JS number.
template <typename FT, typename FS>
at::Tensor binary(const Napi::CallbackInfo& info, FT ft, FS fs) {
  if (isTensor(info[1])) return ft(T(info, 0), T(info, 1));
  return fs(T(info, 0), SC(info, 1));
}

at::Reduction::Reduction reductionFrom(const std::string& r) {
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throw std::invalid_argument("unknown reduction '" + r + "' (mean, sum or none)");
}

Napi::Value pair(Napi::Env env, const at::Tensor& a, const at::Tensor& b) {
  auto arr = Napi::Array::New(env, 2);
  arr.Set(uint32_t(0), wrap(env, a));
  arr.Set(uint32_t(1), wrap(env, b));
  return arr;
}

Napi::Value list(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(uint32_t(i), wrap(env, ts[i]));
  return arr;
}

c10::optional<at::IntArrayRef> optDims(const Napi::CallbackInfo& info, size_t i, std::vector<int64_t>& storage) {
  if (!has(info, i)) return c10::nullopt;
  storage = IL(info, i);
  return at::IntArrayRef(storage);
}

// ---- CUDA device facts through the driver API ---------------------------------------------------
// Names and memory sizes of the GPUs come from libcuda.so.1 (always installed with the NVIDIA driver),
// opened at run time: the addon then needs no CUDA headers to build, and the driver API's ordinals honour
// CUDA_VISIBLE_DEVICES exactly as libtorch's do.
struct CudaDriver {
  using InitFn = int (*)(unsigned int);
  using NameFn = int (*)(char*, int, int);
  using MemFn = int (*)(size_t*, int);
  using AttrFn = int (*)(int*, int, int);
  using VersionFn = int (*)(int*);
  InitFn init = nullptr;
  NameFn name = nullptr;
  MemFn totalMem = nullptr;
  AttrFn attribute = nullptr;
  VersionFn driverVersion = nullptr;
  bool ok = false;
};

const CudaDriver& cudaDriver() {
  static CudaDriver d = [] {
    CudaDriver r;
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return r;
    r.init = reinterpret_cast<CudaDriver::InitFn>(dlsym(lib, "cuInit"));
    r.name = reinterpret_cast<CudaDriver::NameFn>(dlsym(lib, "cuDeviceGetName"));
    r.totalMem = reinterpret_cast<CudaDriver::MemFn>(dlsym(lib, "cuDeviceTotalMem_v2"));
    r.attribute = reinterpret_cast<CudaDriver::AttrFn>(dlsym(lib, "cuDeviceGetAttribute"));
    r.driverVersion = reinterpret_cast<CudaDriver::VersionFn>(dlsym(lib, "cuDriverGetVersion"));
    r.ok = r.init && r.name && r.totalMem && r.attribute && r.init(0) == 0;
    return r;
  }();
  return d;
}

int64_t cudaDevices() {
#ifdef MPL_WITH_CUDA
  return static_cast<int64_t>(torch::cuda::device_count());
#else
  return 0;
#endif
}

}  // namespace

#define DEF(name, ...)                                                                         \
  exports.Set(#name, Napi::Function::New(                                                      \
                         env,                                                                  \
                         [](const Napi::CallbackInfo& info) -> Napi::Value {                   \
                           Napi::Env env = info.Env();                                         \
                           (void)env;                                                          \
                           try {                                                               \
                             __VA_ARGS__                                                       \
                           } catch (const Napi::Error&) {                                      \
                             throw;                                                            \
                           } catch (const c10::Error& e) {                                     \
                             throwOp(info, #name, e.what_without_backtrace());                 \
                           } catch (const std::exception& e) {                                 \
                             throwOp(info, #name, e.what());                                   \
                           }                                                                   \
                         },                                                                    \
                         #name))

#define RET(expr) return wrap(env, (expr));

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // ---- runtime ----------------------------------------------------------------------------------
  DEF(version, return Napi::String::New(env, TORCH_VERSION););
  DEF(cudaAvailable, {
#ifdef MPL_WITH_CUDA
    return Napi::Boolean::New(env, at::hasCUDA());
#else
    return Napi::Boolean::New(env, false);
#endif
  });
  DEF(builtWithCuda, {
#ifdef MPL_WITH_CUDA
    return Napi::Boolean::New(env, true);
#else
    return Napi::Boolean::New(env, false);
#endif
  });
  DEF(cudaDeviceCount, return Napi::Number::New(env, double(cudaDevices())););
  DEF(cudaSynchronize, {
#ifdef MPL_WITH_CUDA
    if (cudaDevices() > 0) torch::cuda::synchronize(has(info, 0) ? I(info, 0) : -1);
#endif
    return env.Undefined();
  });
  // {name, memory_bytes, capability: [major, minor]} of CUDA device i, or null when the driver cannot tell
  DEF(cudaDeviceInfo, {
    const CudaDriver& d = cudaDriver();
    if (!d.ok) return env.Null();
    int idx = int(I(info, 0));
    char name[256] = {0};
    size_t bytes = 0;
    int major = 0, minor = 0;
    if (d.name(name, sizeof(name) - 1, idx) != 0 || d.totalMem(&bytes, idx) != 0) return env.Null();
    d.attribute(&major, 75, idx);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    d.attribute(&minor, 76, idx);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    auto o = Napi::Object::New(env);
    o.Set("name", Napi::String::New(env, name));
    o.Set("memory_bytes", Napi::Number::New(env, double(bytes)));
    auto cap = Napi::Array::New(env, 2);
    cap.Set(uint32_t(0), Napi::Number::New(env, major));
    cap.Set(uint32_t(1), Napi::Number::New(env, minor));
    o.Set("capability", cap);
    return o;
  });
  DEF(cudaDriverVersion, {
    const CudaDriver& d = cudaDriver();
    int v = 0;
    if (!d.ok || !d.driverVersion || d.driverVersion(&v) != 0) return env.Null();
    return Napi::Number::New(env, v);
  });
  // Fused scaled-dot-product attention exists from libtorch 2.0 (explicit scale from 2.1).
  DEF(hasSdpa, {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    return Napi::Boolean::New(env, true);
#else
    return Napi::Boolean::New(env, false);
#endif
  });
  // Returns the heap pages glibc keeps after frees to the system (malloc_trim): without it the resident size
  // of a long run drifts up by tens of MB of freed-but-kept memory. A no-op elsewhere.
  DEF(mallocTrim, {
#if defined(__GLIBC__)
    return Napi::Boolean::New(env, malloc_trim(0) != 0);
#else
    return Napi::Boolean::New(env, false);
#endif
  });
  // The peak of bytes the GPU's caching allocator handed out since the last reset (torch.cuda.max_memory_allocated),
  // restarting the count when asked; null without device statistics (a CPU build, libtorch < 2.9).
  DEF(devicePeakBytes, {
#ifdef MPL_DEVICE_MEMORY_STATS
    if (cudaDevices() == 0) return env.Null();
    const auto index = static_cast<c10::DeviceIndex>(I(info, 0));
    const double peak = double(at::accelerator::getDeviceStats(index).allocated_bytes[0].peak);
    if (B(info, 1)) at::accelerator::resetPeakStats(index);
    return Napi::Number::New(env, peak);
#else
    return env.Null();
#endif
  });
  DEF(liveCount, return Napi::Number::New(env, double(g_live.load())););
  DEF(setNumThreads, at::set_num_threads(int(I(info, 0))); return env.Undefined(););
  DEF(getNumThreads, return Napi::Number::New(env, at::get_num_threads()););
  DEF(setGradEnabled, {
    bool prev = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(B(info, 0));
    return Napi::Boolean::New(env, prev);
  });
  DEF(isGradEnabled, return Napi::Boolean::New(env, c10::GradMode::is_enabled()););
  DEF(manualSeed, at::manual_seed(uint64_t(I(info, 0))); return env.Undefined(););
  DEF(parallelInfo, return Napi::String::New(env, at::get_parallel_info()););
  DEF(showConfig, return Napi::String::New(env, at::show_config()););
  // The shared library that provides the BLAS entry point libtorch calls (sgemm_), as the dynamic loader
  // resolves it in this process (LD_PRELOAD and alternatives included); null when it cannot be told.
  DEF(blasLibrary, {
    void* sym = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info dl;
    if (sym && dladdr(sym, &dl) && dl.dli_fname) return Napi::String::New(env, dl.dli_fname);
    return env.Null();
  });

  // ---- lifetime ---------------------------------------------------------------------------------
  DEF(dispose, {
    if (!isTensor(info[0])) throw std::invalid_argument("expected a tensor handle");
    Holder* h = info[0].As<Napi::External<Holder>>().Data();
    if (h->alive) {
      h->t = at::Tensor();
      h->alive = false;
      g_live--;
    }
    return env.Undefined();
  });
  DEF(isAlive, {
    if (!isTensor(info[0])) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, info[0].As<Napi::External<Holder>>().Data()->alive);
  });

  // ---- creation and export ----------------------------------------------------------------------
  DEF(fromBuffer, {
    // (typedArray | ArrayBuffer, shape, dtype, device?) -> tensor (a copy; JS memory is not aliased)
    auto shape = IL(info, 1);
    auto dtype = dtypeFrom(S(info, 2));
    void* data;
    size_t bytes;
    if (info[0].IsTypedArray()) {
      auto ta = info[0].As<Napi::TypedArray>();
      data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      bytes = ta.ByteLength();
    } else if (info[0].IsArrayBuffer()) {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      data = ab.Data();
      bytes = ab.ByteLength();
    } else if (info[0].IsBuffer()) {
      auto b = info[0].As<Napi::Buffer<uint8_t>>();
      data = b.Data();
      bytes = b.Length();
    } else {
      throw std::invalid_argument("data must be a typed array or ArrayBuffer");
    }
    int64_t numel = 1;
    for (auto s : shape) numel *= s;
    size_t need = size_t(numel) * at::elementSize(dtype);
    if (need != bytes)
      throw std::invalid_argument("buffer holds " + std::to_string(bytes) + " bytes but shape and dtype need " +
                                  std::to_string(need));
    // For a CUDA destination the bytes go through page-locked host memory, and the copy to the device is
    // queued without blocking (libtorch records the copy on the pinned block, so freeing it here is safe).
    c10::optional<at::Device> device;
    if (has(info, 3)) device = at::Device(S(info, 3));
    bool pin = device && device->is_cuda();
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype).pinned_memory(pin));
    if (bytes) std::memcpy(t.data_ptr(), data, bytes);
    if (device && *device != t.device()) t = t.to(*device, /*non_blocking=*/pin);
    RET(t);
  });
  DEF(toBuffer, {
    at::Tensor c = T(info, 0).detach().to(at::kCPU).contiguous();
    auto ab = Napi::ArrayBuffer::New(env, c.nbytes());
    if (c.nbytes()) std::memcpy(ab.Data(), c.data_ptr(), c.nbytes());
    return ab;
  });
  DEF(item, {
    const at::Tensor& t = T(info, 0);
    if (t.numel() != 1) throw std::invalid_argument("item() needs a tensor with one element");
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(env, t.item<bool>());
    return Napi::Number::New(env, t.item<double>());
  });
  DEF(zeros, RET(at::zeros(IL(info, 0), opts(info, 1, 2))));
  DEF(ones, RET(at::ones(IL(info, 0), opts(info, 1, 2))));
  DEF(full, RET(at::full(IL(info, 0), SC(info, 1), opts(info, 2, 3))));
  DEF(empty, RET(at::empty(IL(info, 0), opts(info, 1, 2))));
  DEF(arange, RET(at::arange(SC(info, 0), SC(info, 1), SC(info, 2), opts(info, 3, 4))));
  DEF(eye, RET(at::eye(I(info, 0), opts(info, 1, 2))));

  // ---- random -----------------------------------------------------------------------------------
  DEF(generator, {
    auto* gh = new GenHolder{at::make_generator<at::CPUGeneratorImpl>(uint64_t(I(info, 0)))};
    auto ext = Napi::External<GenHolder>::New(env, gh, [](Napi::Env, GenHolder* p) { delete p; });
    ext.TypeTag(&kGenTag);
    return ext;
  });
  DEF(generatorGetState, RET(G(info, 0)->get_state()));
  DEF(generatorSetState, G(info, 0)->set_state(T(info, 1)); return env.Undefined(););
  DEF(randn, RET(at::randn(IL(info, 0), G(info, 1), opts(info, 2, 3))));
  DEF(rand, RET(at::rand(IL(info, 0), G(info, 1), opts(info, 2, 3))));
  DEF(randperm, RET(at::randperm(I(info, 0), G(info, 1), at::TensorOptions().dtype(at::kLong))));
  DEF(normal_, T(info, 0).normal_(D(info, 1), D(info, 2), G(info, 3)); return info[0];);
  DEF(uniform_, T(info, 0).uniform_(D(info, 1), D(info, 2), G(info, 3)); return info[0];);

  // ---- metadata and autograd --------------------------------------------------------------------
  DEF(shape, {
    const at::Tensor& t = T(info, 0);
    auto arr = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); i++) arr.Set(uint32_t(i), Napi::Number::New(env, double(t.size(i))));
    return arr;
  });
  DEF(dtype, return Napi::String::New(env, dtypeName(T(info, 0).scalar_type())););
  DEF(device, return Napi::String::New(env, T(info, 0).device().str()););
  DEF(requiresGrad, return Napi::Boolean::New(env, T(info, 0).requires_grad()););
  DEF(setRequiresGrad, T(info, 0).set_requires_grad(B(info, 1)); return info[0];);
  DEF(isLeaf, return Napi::Boolean::New(env, T(info, 0).is_leaf()););
  DEF(grad, {
    const at::Tensor& g = T(info, 0).grad();
    if (!g.defined()) return env.Null();
    RET(g);
  });
  DEF(zeroGrad, T(info, 0).mutable_grad().reset(); return env.Undefined(););
  DEF(backward, {
    at::Tensor g = has(info, 1) ? T(info, 1) : at::Tensor();
    T(info, 0).backward(g, B(info, 2) ? c10::optional<bool>(true) : c10::nullopt);
    return env.Undefined();
  });
  DEF(detach, RET(T(info, 0).detach()));
  DEF(clone, RET(T(info, 0).clone()));
  DEF(contiguous, RET(T(info, 0).contiguous()));
  DEF(to, {
    // (tensor, dtype?, device?, nonBlocking?) -- one conversion when both change
    at::Tensor t = T(info, 0);
    bool nonBlocking = B(info, 3);
    if (has(info, 2) && has(info, 1)) RET(t.to(at::Device(S(info, 2)), dtypeFrom(S(info, 1)), nonBlocking));
    if (has(info, 2)) RET(t.to(at::Device(S(info, 2)), nonBlocking));
    if (has(info, 1)) RET(t.to(dtypeFrom(S(info, 1))));
    RET(t);
  });
  DEF(pinMemory, RET(T(info, 0).pin_memory()));
  DEF(isPinned, return Napi::Boolean::New(env, T(info, 0).is_pinned()););

  // ---- elementwise ------------------------------------------------------------------------------
  DEF(add, {
    at::Scalar alpha = alphaOf(info, 2);
    RET(binary(info, [&](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b, alpha); },
               [&](const at::Tensor& a, const at::Scalar& b) { return at::add(a, b, alpha); }));
  });
  DEF(sub, {
    at::Scalar alpha = alphaOf(info, 2);
    RET(binary(info, [&](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b, alpha); },
               [&](const at::Tensor& a, const at::Scalar& b) { return at::sub(a, b, alpha); }));
  });
  DEF(rsub, RET(at::rsub(T(info, 0), SC(info, 1))));
  DEF(mul, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); },
                      [](const at::Tensor& a, const at::Scalar& b) { return at::mul(a, b); })));
  DEF(div, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); },
                      [](const at::Tensor& a, const at::Scalar& b) { return at::div(a, b); })));
  DEF(pow, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); },
                      [](const at::Tensor& a, const at::Scalar& b) { return at::pow(a, b); })));
  DEF(maximum, RET(at::maximum(T(info, 0), T(info, 1))));
  DEF(minimum, RET(at::minimum(T(info, 0), T(info, 1))));
  DEF(eq, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::eq(a, b); })));
  DEF(ne, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::ne(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::ne(a, b); })));
  DEF(lt, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::lt(a, b); })));
  DEF(le, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::le(a, b); })));
  DEF(gt, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::gt(a, b); })));
  DEF(ge, RET(binary(info, [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::ge(a, b); })));
  DEF(where, RET(at::where(T(info, 0), T(info, 1), T(info, 2))));
  DEF(neg, RET(at::neg(T(info, 0))));
  DEF(exp, RET(at::exp(T(info, 0))));
  DEF(log, RET(at::log(T(info, 0))));
  DEF(sigmoid, RET(at::sigmoid(T(info, 0))));
  DEF(tanh, RET(at::tanh(T(info, 0))));
  DEF(erf, RET(at::erf(T(info, 0))));
  DEF(sqrt, RET(at::sqrt(T(info, 0))));
  DEF(rsqrt, RET(at::rsqrt(T(info, 0))));
  DEF(abs, RET(at::abs(T(info, 0))));
  DEF(relu, RET(at::relu(T(info, 0))));
  DEF(gelu, RET(at::gelu(T(info, 0))));
  DEF(sin, RET(at::sin(T(info, 0))));
  DEF(cos, RET(at::cos(T(info, 0))));
  DEF(reciprocal, RET(at::reciprocal(T(info, 0))));
  DEF(logicalNot, RET(at::logical_not(T(info, 0))));
  DEF(isfinite, RET(at::isfinite(T(info, 0))));
  DEF(clamp, {
    c10::optional<at::Scalar> lo, hi;
    if (has(info, 1)) lo = SC(info, 1);
    if (has(info, 2)) hi = SC(info, 2);
    RET(at::clamp(T(info, 0), lo, hi));
  });

  // ---- reductions -------------------------------------------------------------------------------
  DEF(sum, {
    if (!has(info, 1)) RET(at::sum(T(info, 0)));
    RET(at::sum(T(info, 0), IL(info, 1), B(info, 2)));
  });
  DEF(mean, {
    if (!has(info, 1)) RET(at::mean(T(info, 0)));
    RET(at::mean(T(info, 0), IL(info, 1), B(info, 2)));
  });
  DEF(amax, RET(at::amax(T(info, 0), IL(info, 1), B(info, 2))));
  DEF(amin, RET(at::amin(T(info, 0), IL(info, 1), B(info, 2))));
  DEF(logsumexp, RET(at::logsumexp(T(info, 0), IL(info, 1), B(info, 2))));
  DEF(max, {
    auto r = at::max(T(info, 0), I(info, 1), B(info, 2));
    return pair(env, std::get<0>(r), std::get<1>(r));
  });
  DEF(argmax, RET(at::argmax(T(info, 0), I(info, 1), B(info, 2))));
  DEF(argmin, RET(at::argmin(T(info, 0), I(info, 1), B(info, 2))));
  DEF(topk, {
    auto r = at::topk(T(info, 0), I(info, 1), I(info, 2), B(info, 3, true), B(info, 4, true));
    return pair(env, std::get<0>(r), std::get<1>(r));
  });
  DEF(norm, {
    double p = D(info, 1);
    if (!has(info, 2)) RET(at::norm(T(info, 0), p));
    RET(at::norm(T(info, 0), p, IL(info, 2), B(info, 3)));
  });
  DEF(std, RET(at::std(T(info, 0), IL(info, 1), B(info, 2, true), B(info, 3))));
  DEF(cumsum, RET(at::cumsum(T(info, 0), I(info, 1))));

  // ---- shape and indexing -----------------------------------------------------------------------
  DEF(reshape, RET(at::reshape(T(info, 0), IL(info, 1))));
  DEF(view, RET(T(info, 0).view(IL(info, 1))));
  DEF(permute, RET(T(info, 0).permute(IL(info, 1))));
  DEF(transpose, RET(at::transpose(T(info, 0), I(info, 1), I(info, 2))));
  DEF(expand, RET(T(info, 0).expand(IL(info, 1))));
  DEF(squeeze, {
    if (!has(info, 1)) RET(at::squeeze(T(info, 0)));
    RET(at::squeeze(T(info, 0), I(info, 1)));
  });
  DEF(unsqueeze, RET(at::unsqueeze(T(info, 0), I(info, 1))));
  DEF(flatten, RET(at::flatten(T(info, 0), I(info, 1), I(info, 2))));
  DEF(cat, RET(at::cat(TL(info, 0), I(info, 1))));
  DEF(stack, RET(at::stack(TL(info, 0), I(info, 1))));
  DEF(narrow, RET(at::narrow(T(info, 0), I(info, 1), I(info, 2), I(info, 3))));
  DEF(slice, RET(at::slice(T(info, 0), I(info, 1), I(info, 2), I(info, 3), has(info, 4) ? I(info, 4) : 1)));
  DEF(select, RET(at::select(T(info, 0), I(info, 1), I(info, 2))));
  DEF(indexSelect, RET(at::index_select(T(info, 0), I(info, 1), T(info, 2))));
  DEF(gather, RET(at::gather(T(info, 0), I(info, 1), T(info, 2))));
  DEF(repeat, RET(T(info, 0).repeat(IL(info, 1))));
  DEF(chunk, return list(env, at::chunk(T(info, 0), I(info, 1), I(info, 2))););
  DEF(flip, RET(at::flip(T(info, 0), IL(info, 1))));
  DEF(triu, RET(at::triu(T(info, 0), has(info, 1) ? I(info, 1) : 0)));
  DEF(tril, RET(at::tril(T(info, 0), has(info, 1) ? I(info, 1) : 0)));
  DEF(maskedFill, RET(at::masked_fill(T(info, 0), T(info, 1), SC(info, 2))));
  DEF(oneHot, RET(at::one_hot(T(info, 0), I(info, 1))));

  // ---- neural-network ops -----------------------------------------------------------------------
  DEF(matmul, RET(at::matmul(T(info, 0), T(info, 1))));
  DEF(bmm, RET(at::bmm(T(info, 0), T(info, 1))));
  DEF(baddbmm, RET(at::baddbmm(T(info, 0), T(info, 1), T(info, 2), has(info, 3) ? D(info, 3) : 1.0,
                               has(info, 4) ? D(info, 4) : 1.0)));
  DEF(linear, RET(at::linear(T(info, 0), T(info, 1), OT(info, 2))));
  DEF(conv2d, {
    auto stride = has(info, 3) ? IL(info, 3) : std::vector<int64_t>{1, 1};
    auto padding = has(info, 4) ? IL(info, 4) : std::vector<int64_t>{0, 0};
    RET(at::conv2d(T(info, 0), T(info, 1), OT(info, 2), stride, padding));
  });
  DEF(layerNorm, RET(at::layer_norm(T(info, 0), IL(info, 1), OT(info, 2), OT(info, 3), has(info, 4) ? D(info, 4) : 1e-5)));
  // (x, dim, dtype?): with a dtype the input is converted first (mixed precision: softmax in float32)
  DEF(softmax, {
    if (has(info, 2)) RET(at::softmax(T(info, 0), I(info, 1), dtypeFrom(S(info, 2))));
    RET(at::softmax(T(info, 0), I(info, 1)));
  });
  DEF(logSoftmax, {
    if (has(info, 2)) RET(at::log_softmax(T(info, 0), I(info, 1), dtypeFrom(S(info, 2))));
    RET(at::log_softmax(T(info, 0), I(info, 1)));
  });
  // (q, k, v, mask?, isCausal, scale?) over [..., L, E]; only where hasSdpa()
  DEF(sdpa, {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    c10::optional<double> scale;
    if (has(info, 5)) scale = D(info, 5);
    RET(at::scaled_dot_product_attention(T(info, 0), T(info, 1), T(info, 2), OT(info, 3), 0.0, B(info, 4), scale));
#else
    throw std::invalid_argument("scaled_dot_product_attention needs libtorch >= 2.1 (this is " TORCH_VERSION ")");
#endif
  });
  DEF(crossEntropy, {
    auto red = has(info, 2) ? reductionFrom(S(info, 2)) : at::Reduction::Mean;
    double smoothing = has(info, 3) ? D(info, 3) : 0.0;
    RET(at::cross_entropy_loss(T(info, 0), T(info, 1), c10::nullopt, red, -100, smoothing));
  });
  DEF(klDiv, {
    auto red = has(info, 2) ? reductionFrom(S(info, 2)) : at::Reduction::Mean;
    RET(at::kl_div(T(info, 0), T(info, 1), red, B(info, 3)));
  });
  DEF(l1Loss, RET(at::l1_loss(T(info, 0), T(info, 1), has(info, 2) ? reductionFrom(S(info, 2)) : at::Reduction::Mean)));
  DEF(mseLoss, RET(at::mse_loss(T(info, 0), T(info, 1), has(info, 2) ? reductionFrom(S(info, 2)) : at::Reduction::Mean)));

  // ---- in-place updates (optimisers, buffers) ---------------------------------------------------
  DEF(add_, {
    at::Scalar alpha = alphaOf(info, 2);
    if (isTensor(info[1])) T(info, 0).add_(T(info, 1), alpha);
    else T(info, 0).add_(SC(info, 1), alpha);
    return info[0];
  });
  DEF(mul_, {
    if (isTensor(info[1])) T(info, 0).mul_(T(info, 1));
    else T(info, 0).mul_(SC(info, 1));
    return info[0];
  });
  DEF(copy_, T(info, 0).copy_(T(info, 1)); return info[0];);
  DEF(zero_, T(info, 0).zero_(); return info[0];);
  DEF(sigmoid_, T(info, 0).sigmoid_(); return info[0];);
  DEF(fill_, T(info, 0).fill_(SC(info, 1)); return info[0];);

  // ---- precision helpers ------------------------------------------------------------------------
  // True when every element of every tensor is finite: one reduction per tensor, one host read in all.
  DEF(allFinite, {
    auto ts = TL(info, 0);
    if (ts.empty()) return Napi::Boolean::New(env, true);
    std::vector<at::Tensor> flags;
    flags.reserve(ts.size());
    for (const auto& t : ts) flags.push_back(at::isfinite(t.detach()).all());
    return Napi::Boolean::New(env, at::stack(flags).all().item<bool>());
  });
  // Dynamic loss scaling (torch.cuda.amp.GradScaler.unscale_): grads *= invScale in place; returns whether
  // any gradient holds inf/NaN. CUDA uses ATen's fused kernel; other devices the same arithmetic.
  DEF(ampUnscale_, {
    auto grads = TL(info, 0);
    double invScale = D(info, 1);
    if (grads.empty()) return Napi::Boolean::New(env, false);
    const at::Device dev = grads[0].device();
    if (dev.is_cuda()) {
      auto opts = at::TensorOptions().dtype(at::kFloat).device(dev);
      at::Tensor found = at::zeros({1}, opts);
      at::Tensor inv = at::full({1}, invScale, opts);
      at::_amp_foreach_non_finite_check_and_unscale_(grads, found, inv);
      return Napi::Boolean::New(env, found.item<float>() != 0.0f);
    }
    bool bad = false;
    for (auto& g : grads) {
      g.mul_(invScale);
      if (!at::isfinite(g).all().item<bool>()) bad = true;
    }
    return Napi::Boolean::New(env, bad);
  });

  return exports;
}

NODE_API_MODULE(mpl_torch, Init)
