#pragma once
#include <cstdint>
#include <cstring>
#include "cuda_runtime.h"
struct __half { uint16_t x; };
struct __half2 { __half a, b; };
inline float __half2float(__half h) {
  const uint32_t s = (h.x >> 15) & 1, e = (h.x >> 10) & 31, m = h.x & 1023;
  float v;
  if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(m | 1024), static_cast<int>(e) - 25);
  return s ? -v : v;
}
inline __half __float2half(float f) {  // round to nearest even (GCC's _Float16)
  const _Float16 h = static_cast<_Float16>(f);
  __half r;
  std::memcpy(&r.x, &h, 2);
  return r;
}
inline float2 __half22float2(__half2 h) { return {__half2float(h.a), __half2float(h.b)}; }
