// Turning C++ and torch failures into JavaScript exceptions. Every function JavaScript can
// call runs its body through js_call, so nothing thrown in C++ can abort the Node process.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

namespace lemur {

// The message of an exception as a user should read it: torch's C++ backtrace is dropped.
std::string describe_exception(const std::exception& e);
std::string describe_current_exception();

// An error whose message is already written for the user (bad argument, wrong shape...).
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Whether the exception in flight is a UserError (call inside a catch block).
bool current_exception_is_user_error();

// The JS Error for a native failure. A UserError's carries code 'LEMUR_USER_ERROR': its
// message is complete (the CLI prints it alone, without the "unexpected error" hint).
Napi::Error js_error(Napi::Env env, const std::string& message, bool user_error);

template <typename Body>
auto js_call(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw js_error(env, describe_current_exception(), current_exception_is_user_error());
  }
}

}  // namespace lemur
